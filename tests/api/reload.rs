//! Hot reload: atomic swaps under load, bad files rejected with every problem while the last
//! good table serves, cached answers dropped only for pairs that changed, file watching.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flexroute::Services;
use flexroute::config::{Config, Environment};
use flexroute::reload::ConfigSource;

use crate::support::{ADMIN_TOKEN, FIXTURE, Server, answer, json, metric};

/// The fixture with es-MX's greeting replaced.
fn with_greeting(greeting: &str) -> String {
    FIXTURE.replace("¡Hola!", greeting)
}

async fn start(path: &std::path::Path, watch_ms: u64) -> Server {
    let env = Environment::from_pairs([("FLEXROUTE_SERVER_CONFIG_WATCH_MS", watch_ms.to_string())]);
    let text = std::fs::read_to_string(path).unwrap();
    Config::from_toml_str(&text, &env).unwrap();
    let services = Services {
        admin_token: Some(ADMIN_TOKEN.into()),
        config_source: Some(ConfigSource {
            path: path.to_path_buf(),
            env: env.clone(),
        }),
        ..Services::default()
    };
    Server::start_full(&text, env, services).await
}

async fn reload(server: &Server) -> (u16, serde_json::Value) {
    let response = server
        .client
        .post(format!("http://{}/admin/reload", server.ops))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    answer(response).await
}

async fn greeting(server: &Server) -> String {
    let body = server.config_json("site=acme&lang=es-MX").await;
    body["appConfig"]["preEngagementConfig"]["description"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reloads_under_load_and_not_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flexroute.toml");
    std::fs::write(&path, with_greeting("v0")).unwrap();
    let server = Arc::new(start(&path, 0).await);
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, bad) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for worker in 0..4 {
        let (server, stop, sent, bad) = (server.clone(), stop.clone(), sent.clone(), bad.clone());
        load.push(tokio::spawn(async move {
            let query = [
                "site=acme&lang=es-MX",
                "site=acme&lang=de",
                "site=globex",
                "site=acme&lang=es",
            ][worker];
            while !stop.load(Ordering::Relaxed) {
                let response = server.config(query).send().await.unwrap();
                let ok = response.status() == 200;
                let body = json(response).await;
                let text = body["appConfig"]["preEngagementConfig"]["description"]
                    .as_str()
                    .unwrap_or("");
                let expected = !query.contains("es") || text.starts_with('v');
                sent.fetch_add(1, Ordering::Relaxed);
                if !(ok && expected) {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for round in 1..=20 {
        std::fs::write(&path, with_greeting(&format!("v{round}"))).unwrap();
        let (status, body) = reload(&server).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["report"]["changed"], 1, "only es-MX changed: {body}");
        assert_eq!(greeting(&server).await, format!("v{round}"));
        // Let the load run on each table for a moment too, not only across the swaps.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let (sent, bad) = (sent.load(Ordering::Relaxed), bad.load(Ordering::Relaxed));
    eprintln!("reload under load: {sent} requests, {bad} bad");
    assert!(sent > 100, "the load ran: {sent}");
    assert_eq!(
        bad, 0,
        "{bad} of {sent} requests got an error or a mixed answer"
    );
    let text = server.metrics().await;
    assert_eq!(
        metric(
            &text,
            r#"flexroute_config_reloads_total{outcome="success"}"#
        ),
        Some(20.0)
    );
}

#[tokio::test]
async fn a_bad_file_is_rejected_whole_and_the_last_good_table_serves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flexroute.toml");
    std::fs::write(&path, with_greeting("good")).unwrap();
    let server = start(&path, 0).await;
    let loaded_at = metric(
        &server.metrics().await,
        "flexroute_config_last_reload_success_timestamp_seconds",
    )
    .unwrap();
    let broken = with_greeting("broken")
        .replace("FO00000000000000000000000000000004", "FO-not-a-sid")
        .replace(
            "[[sites]]\nid = \"globex\"",
            "[[sites]]\nid = \"globex\"\ncolour = \"red\"",
        );
    std::fs::write(&path, broken).unwrap();
    let (status, body) = reload(&server).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["outcome"], "failure");
    let problems: Vec<String> = body["error"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`FO-not-a-sid` is not a valid SID")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("sites[1].colour: unknown key")),
        "{problems:?}"
    );
    assert_eq!(
        greeting(&server).await,
        "good",
        "the last good table keeps serving"
    );
    let text = server.metrics().await;
    assert_eq!(
        metric(
            &text,
            r#"flexroute_config_reloads_total{outcome="failure"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "flexroute_config_last_reload_success_timestamp_seconds"
        ),
        Some(loaded_at)
    );

    std::fs::write(&path, with_greeting("fixed")).unwrap();
    let (status, _) = reload(&server).await;
    assert_eq!(status, 200);
    assert_eq!(greeting(&server).await, "fixed");
    let text = server.metrics().await;
    assert!(
        metric(
            &text,
            "flexroute_config_last_reload_success_timestamp_seconds"
        )
        .unwrap()
            >= loaded_at
    );
    server.stop().await;
}

#[tokio::test]
async fn only_changed_pairs_lose_their_cached_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flexroute.toml");
    std::fs::write(&path, with_greeting("before")).unwrap();
    let server = start(&path, 0).await;
    assert_eq!(greeting(&server).await, "before");
    server.config("site=acme&lang=de-DE").send().await.unwrap();
    let misses = |text: &str| metric(text, "flexroute_cache_misses_total").unwrap();
    let hits = |text: &str| metric(text, "flexroute_cache_hits_total").unwrap();
    let before = server.metrics().await;

    // es-MX changes; it-IT goes away from initech; a new site appears.
    let next = with_greeting("after").replace("languages = [\"en-US\", \"it-IT\"]", "languages = [\"en-US\"]")
        .replace("[sites.language.\"it-IT\"]\nwidget = { preEngagementConfig = { description = \"Ciao!\" } }\n", "")
        + "\n[[sites]]\nid = \"newco\"\nhosts = [\"newco.example\"]\ndefault_language = \"fr\"\nlanguages = [\"fr\"]\n[sites.language.fr]\nflex_flow_sid = \"FO000000000000000000000000000000aa\"\n";
    std::fs::write(&path, next).unwrap();
    let (status, body) = reload(&server).await;
    assert_eq!(status, 200, "{body}");
    let report = &body["report"];
    assert_eq!(
        (
            report["changed"].as_u64(),
            report["added"].as_u64(),
            report["removed"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{report}"
    );

    server.config("site=acme&lang=de-DE").send().await.unwrap();
    let after_de = server.metrics().await;
    assert_eq!(hits(&after_de), hits(&before) + 1.0, "de-DE stayed warm");
    assert_eq!(misses(&after_de), misses(&before));
    assert_eq!(greeting(&server).await, "after");
    assert_eq!(
        misses(&server.metrics().await),
        misses(&before) + 1.0,
        "es-MX was rebuilt"
    );

    let newco = server.config_json("site=newco").await;
    assert_eq!(
        newco["address"]["sid"],
        "FO000000000000000000000000000000aa"
    );
    let gone = server.config_json("site=initech&lang=it-IT").await;
    assert_eq!(
        gone["language"], "en-US",
        "a removed language resolves to the default"
    );
    let text = server.metrics().await;
    assert_eq!(
        metric(&text, r#"flexroute_routes{state="ready"}"#),
        Some(10.0)
    );
    assert_eq!(
        metric(&text, r#"flexroute_routes{state="missing"}"#),
        Some(1.0)
    );
    server.stop().await;
}

#[tokio::test]
async fn a_changed_file_is_picked_up_without_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flexroute.toml");
    std::fs::write(&path, with_greeting("watched-1")).unwrap();
    let server = start(&path, 50).await;
    assert_eq!(greeting(&server).await, "watched-1");
    std::fs::write(&path, with_greeting("watched-2")).unwrap();
    let started = Instant::now();
    while greeting(&server).await != "watched-2" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the change was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // A bad edit is rejected once, not on every poll.
    std::fs::write(&path, "[[sites]]\nid = 1\n").unwrap();
    let started = Instant::now();
    loop {
        let text = server.metrics().await;
        if metric(
            &text,
            r#"flexroute_config_reloads_total{outcome="failure"}"#,
        ) == Some(1.0)
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the bad edit was not noticed"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = server.metrics().await;
    assert_eq!(
        metric(
            &text,
            r#"flexroute_config_reloads_total{outcome="failure"}"#
        ),
        Some(1.0)
    );
    assert_eq!(greeting(&server).await, "watched-2");
    server.stop().await;
}

/// A file that stops parsing on the line of a Redis password or of a webhook's credentials is
/// rejected with the line quoted, the credentials masked: in the 422 answer of
/// `POST /admin/reload` and in the ERROR log of the real process.
#[tokio::test]
async fn a_syntax_error_on_a_line_with_credentials_shows_them_nowhere() {
    use crate::support::{EXAMPLE, Running, client};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flexroute.toml");
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    std::fs::write(&path, &example).unwrap();
    let server = Running::spawn(
        &["serve", "--config", path.to_str().unwrap()],
        &[
            ("FLEXROUTE_SERVER_CONFIG_WATCH_MS", "0".to_string()),
            ("FLEXROUTE_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
            (
                "FLEXROUTE_PROVISIONING_STATE",
                format!("file:{}", dir.path().join("state").display()),
            ),
        ],
    )
    .await;
    let line_of = |start: &str| example.lines().find(|l| l.starts_with(start)).unwrap();
    let cases = [
        (
            line_of("state = "),
            "state = \"redis://:hunter2-reload@redis.internal:6379/0",
            "hunter2-reload",
            "state = \"redis://***@redis.internal:6379/0",
        ),
        (
            line_of("webhook_url = \"https://contact.globex.example/flex\""),
            "webhook_url = \"https://flexhook:pw-webhook-reload@contact.globex.example/flex\" x",
            "pw-webhook-reload",
            "webhook_url = \"https://***@contact.globex.example/flex\" x",
        ),
    ];
    for (old, new, secret, masked) in cases {
        std::fs::write(&path, example.replacen(old, new, 1)).unwrap();
        let response = client()
            .post(format!("http://{}/admin/reload", server.ops))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422);
        let body = response.text().await.unwrap();
        assert!(!body.contains(secret), "{secret} in the answer: {body}");
        let problems: serde_json::Value = serde_json::from_str(&body).unwrap();
        let problem = problems["error"]["problems"][0].as_str().unwrap();
        assert!(problem.contains("TOML parse error at line"), "{problem}");
        assert!(problem.contains(masked), "{masked:?} not in {problem}");
    }
    let log = server.stop().await.join("\n");
    assert_eq!(
        log.matches("configuration rejected").count(),
        2,
        "each rejection is logged: {log}"
    );
    assert!(log.contains("\"level\":\"ERROR\""), "{log}");
    for (_, _, secret, _) in cases {
        assert!(!log.contains(secret), "{secret} in the log");
    }
    assert!(log.contains("redis://***@redis.internal"), "{log}");
}

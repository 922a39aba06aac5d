//! `/admin/*` on the ops listener: bearer token (off without one, refused at start when weak,
//! its scheme in any case), refusals counted and logged at most once per interval, an address
//! that keeps sending wrong tokens blocked for a while; each pair's state, and plan/apply over
//! HTTP against the emulator. Nothing secret in any answer.

use std::net::IpAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flexroute::Services;
use flexroute::provision::store::MemoryStore;
use flexroute::twilio::Credentials;
use flexroute::twilio::types::{FlexFlow, Integration};

use flexroute::config::{Config, Environment};
use flexroute::http::AdminLockout;

use crate::support::{
    ACCOUNT, ADMIN_TOKEN, BIN, EXAMPLE, FIXTURE, Running, Server, TOKEN, client, emulator, json,
    metric, start_provisioning,
};

fn admin(server: &Server, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    server
        .client
        .request(method, format!("http://{}{path}", server.ops))
}

#[tokio::test]
async fn admin_needs_the_token_and_is_off_without_one() {
    let (_emulator, env) = emulator().await;
    let server = start_provisioning(FIXTURE, env.clone()).await;
    for request in [
        admin(&server, reqwest::Method::GET, "/admin/routes"),
        admin(&server, reqwest::Method::GET, "/admin/routes").bearer_auth("wrong-token-00000"),
        admin(&server, reqwest::Method::GET, "/admin/routes").header("Authorization", ADMIN_TOKEN),
        admin(&server, reqwest::Method::POST, "/admin/provision")
            .bearer_auth(&ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]),
        admin(&server, reqwest::Method::GET, "/admin/routes")
            .header("Authorization", format!("Basic {ADMIN_TOKEN}")),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body = json(response).await;
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(!body.to_string().contains(ADMIN_TOKEN));
    }
    server.stop().await;

    let without = Services {
        credentials: Some(Credentials::new(ACCOUNT, TOKEN)),
        store: Some(Arc::new(MemoryStore::default())),
        admin_token: None,
        config_source: None,
        ..Services::default()
    };
    let server = Server::start_full(FIXTURE, env, without).await;
    let response = admin(&server, reqwest::Method::GET, "/admin/routes")
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "admin is off without a token");
    server.stop().await;
}

#[tokio::test]
async fn routes_plan_and_apply_over_http() {
    let (emulator, env) = emulator().await;
    // The pinned acme es-MX address exists upstream, routed to another Studio flow.
    emulator.insert_flow(FlexFlow {
        sid: "FO00000000000000000000000000000002".into(),
        friendly_name: Some("hand-made es-MX".into()),
        chat_service_sid: Some("IS0123456789abcdef0123456789abcdef".into()),
        channel_type: Some("web".into()),
        enabled: Some(true),
        integration_type: Some("studio".into()),
        integration: Some(Integration {
            flow_sid: Some("FWffffffffffffffffffffffffffffffff".into()),
            ..Integration::default()
        }),
        ..FlexFlow::default()
    });
    let server = start_provisioning(FIXTURE, env).await;

    let routes = json(
        admin(&server, reqwest::Method::GET, "/admin/routes")
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let routes = routes["routes"].as_array().unwrap().clone();
    assert_eq!(routes.len(), 11);
    let find = |routes: &[serde_json::Value], site: &str, language: &str| {
        routes
            .iter()
            .find(|r| r["site"] == site && r["language"] == language)
            .unwrap()
            .clone()
    };
    let es = find(&routes, "acme", "es-MX");
    assert_eq!(
        (es["state"].as_str(), es["source"].as_str()),
        (Some("ready"), Some("pinned"))
    );
    assert_eq!(find(&routes, "hooli", "en-US")["state"], "missing");

    let plan = json(
        admin(
            &server,
            reqwest::Method::POST,
            "/admin/provision?dry_run=true",
        )
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(plan["dry_run"], true);
    let pairs = plan["pairs"].as_array().unwrap().clone();
    let item = |site: &str, language: &str| {
        pairs
            .iter()
            .find(|p| p["site"] == site && p["language"] == language)
            .unwrap()
            .clone()
    };
    assert_eq!(item("hooli", "en-US")["action"], "create");
    assert_eq!(item("initech", "it-IT")["action"], "create");
    let es = item("acme", "es-MX");
    assert_eq!(
        (es["status"].as_str(), es["action"].as_str()),
        (Some("differs"), Some("update"))
    );
    assert_eq!(es["differences"][0]["field"], "integration.flow_sid");
    // Pinned SIDs that Twilio does not know are flagged, never "fixed" by guessing.
    assert_eq!(item("acme", "en-US")["action"], "investigate");
    assert_eq!(emulator.flows().len(), 1, "a dry run changes nothing");

    let applied = json(
        admin(
            &server,
            reqwest::Method::POST,
            "/admin/provision?dry_run=false",
        )
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap(),
    )
    .await;
    let results: Vec<String> = applied["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["result"].as_str().map(String::from))
        .collect();
    assert!(
        results
            .iter()
            .any(|r| r == "updated FO00000000000000000000000000000002"),
        "{results:?}"
    );
    assert_eq!(
        results
            .iter()
            .filter(|r| r.starts_with("created FO"))
            .count(),
        2,
        "{results:?}"
    );
    let es_flow = emulator
        .flows()
        .into_iter()
        .find(|f| f.sid == "FO00000000000000000000000000000002")
        .unwrap();
    assert_eq!(
        es_flow.integration.unwrap().flow_sid.as_deref(),
        Some("FW0123456789abcdef0123456789abcdef")
    );
    assert_eq!(
        es_flow.friendly_name.as_deref(),
        Some("hand-made es-MX"),
        "a pinned flow keeps its name"
    );

    let again = json(
        admin(&server, reqwest::Method::POST, "/admin/provision")
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let pending: Vec<&serde_json::Value> = again["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["action"] != "none" && p["action"] != "investigate")
        .collect();
    assert!(pending.is_empty(), "{pending:?}");
    let routes = json(
        admin(&server, reqwest::Method::GET, "/admin/routes")
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        find(routes["routes"].as_array().unwrap(), "hooli", "en-US")["source"],
        "created"
    );

    let bad = admin(
        &server,
        reqwest::Method::POST,
        "/admin/provision?dry_run=maybe",
    )
    .bearer_auth(ADMIN_TOKEN)
    .send()
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    // No credential anywhere in what admin and metrics return.
    let everything = format!("{plan}{applied}{again}{routes}{}", server.metrics().await);
    for secret in [TOKEN, ADMIN_TOKEN] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    server.stop().await;
}

/// A webhook URL with credentials in it, configured or found at Twilio, is shown masked in the
/// plan's differences: over HTTP (`POST /admin/provision`) and by `flexroute plan`. When only the
/// credentials differ, the plan says so without showing either.
#[tokio::test]
async fn plan_differences_mask_webhook_credentials() {
    let (emulator, env) = emulator().await;
    let flow = |sid: &str, url: &str| FlexFlow {
        sid: sid.into(),
        friendly_name: Some(format!("hand-made {sid}")),
        chat_service_sid: Some("IS0123456789abcdef0123456789abcdef".into()),
        channel_type: Some("web".into()),
        enabled: Some(true),
        integration_type: Some("external".into()),
        integration: Some(Integration {
            url: Some(url.into()),
            ..Integration::default()
        }),
        ..FlexFlow::default()
    };
    emulator.insert_flow(flow(
        "FO00000000000000000000000000000001",
        "https://old:pw-found-7001@hooks.example/old",
    ));
    emulator.insert_flow(flow(
        "FO00000000000000000000000000000002",
        "https://hook:pw-found-7002@hooks.example/same",
    ));
    let table = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nshutdown_drain_ms = 0\n\
         [twilio]\naccount_sid = \"{ACCOUNT}\"\nchat_service_sid = \"IS0123456789abcdef0123456789abcdef\"\n\
         [defaults]\nintegration_type = \"external\"\n\
         [[sites]]\nid = \"shop\"\nhosts = [\"shop.example\"]\ndefault_language = \"en\"\nlanguages = [\"en\", \"de\"]\n\
         [sites.language.en]\nflex_flow_sid = \"FO00000000000000000000000000000001\"\nwebhook_url = \"https://hook:pw-wanted-8001@hooks.example/new\"\n\
         [sites.language.de]\nflex_flow_sid = \"FO00000000000000000000000000000002\"\nwebhook_url = \"https://hook:pw-wanted-8002@hooks.example/same\"\n"
    );
    let secrets = [
        "pw-found-7001",
        "pw-found-7002",
        "pw-wanted-8001",
        "pw-wanted-8002",
    ];

    let server = start_provisioning(&table, env.clone()).await;
    let answer = admin(
        &server,
        reqwest::Method::POST,
        "/admin/provision?dry_run=true",
    )
    .bearer_auth(ADMIN_TOKEN)
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    server.stop().await;
    for secret in secrets {
        assert!(!answer.contains(secret), "{secret} in {answer}");
    }
    let plan: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let difference = |language: &str| {
        let item = plan["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["language"] == language)
            .unwrap();
        assert_eq!(item["action"], "update", "{item}");
        let d = &item["differences"][0];
        assert_eq!(d["field"], "integration.url", "{item}");
        (
            d["wanted"].as_str().unwrap().to_string(),
            d["found"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        difference("en"),
        (
            "https://***@hooks.example/new".to_string(),
            "https://***@hooks.example/old".to_string()
        )
    );
    assert_eq!(
        difference("de"),
        (
            "https://***@hooks.example/same".to_string(),
            "https://***@hooks.example/same (the user-info differs)".to_string()
        )
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("table.toml");
    std::fs::write(&config, &table).unwrap();
    let output = tokio::process::Command::new(crate::support::BIN)
        .args(["plan", "--config", config.to_str().unwrap()])
        .env("TWILIO_ACCOUNT_SID", ACCOUNT)
        .env("TWILIO_AUTH_TOKEN", TOKEN)
        .env(
            "FLEXROUTE_TWILIO_FLEX_API_BASE",
            env.get("FLEXROUTE_TWILIO_FLEX_API_BASE").unwrap(),
        )
        .env(
            "FLEXROUTE_PROVISIONING_STATE",
            format!("file:{}", dir.path().join("state").display()),
        )
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains(
            "integration.url: wanted https://***@hooks.example/new, found https://***@hooks.example/old"
        ),
        "{text}"
    );
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

/// `flexroute serve` with `token` as `FLEXROUTE_ADMIN_TOKEN`, which must exit before listening:
/// its exit code and everything it printed.
fn serve_with_token(token: &str) -> (Option<i32>, String) {
    let state = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--config", EXAMPLE])
        .env("FLEXROUTE_ADMIN_TOKEN", token)
        .env("FLEXROUTE_SERVER_LISTEN", "127.0.0.1:0")
        .env("FLEXROUTE_SERVER_ADMIN_LISTEN", "127.0.0.1:0")
        .env(
            "FLEXROUTE_PROVISIONING_STATE",
            format!("file:{}", state.path().join("state").display()),
        )
        .env_remove("FLEXROUTE_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("flexroute started with the weak token {token:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), text)
}

/// A weak `FLEXROUTE_ADMIN_TOKEN` stops the real binary before it listens: exit code 1 and a
/// line naming the rule it breaks, never the token. The library refuses it too.
#[tokio::test]
async fn weak_admin_tokens_are_refused_at_start() {
    for (token, rule) in [
        ("Qx7", "it has 3 characters, at least 24 are needed"),
        (
            "admin-token-test-77",
            "it has 19 characters, at least 24 are needed",
        ),
        (
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            "it uses 1 different character, at least 8 are needed",
        ),
        (
            "changeme-changeme-changeme",
            "it is one string of 9 characters written again and again",
        ),
        (
            "correct horse battery staple",
            "character 8 is not visible ASCII",
        ),
    ] {
        let (code, out) = serve_with_token(token);
        assert_eq!(code, Some(1), "{token:?}: {out}");
        assert!(
            out.contains(&format!("FLEXROUTE_ADMIN_TOKEN is too weak: {rule}"))
                || out.contains(&format!("FLEXROUTE_ADMIN_TOKEN is refused: {rule}")),
            "{token:?}: {out}"
        );
        assert!(out.contains("openssl rand -hex 32"), "{out}");
        assert!(!out.contains(token), "the token was printed: {out}");
        assert!(!out.contains("flexroute listening"), "{out}");
    }

    let config = Config::from_toml_str(FIXTURE, &Environment::default())
        .unwrap()
        .config;
    let services = Services {
        store: Some(Arc::new(MemoryStore::default())),
        admin_token: Some("admin-token-test-77".into()),
        ..Services::default()
    };
    let error = flexroute::state(&config, services).await.err().unwrap();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("too weak"), "{error}");
}

/// RFC 9110 §11.1: the auth scheme is case-insensitive.
#[tokio::test]
async fn the_bearer_scheme_is_accepted_in_any_case() {
    let server = admin_server(AdminLockout::default()).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let response = admin(&server, reqwest::Method::GET, "/admin/routes")
            .header("Authorization", format!("{scheme} {ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
    server.stop().await;
}

/// A server with the admin token and `lockout`, no upstream.
async fn admin_server(lockout: AdminLockout) -> Server {
    let services = Services {
        admin_token: Some(ADMIN_TOKEN.into()),
        admin_lockout: lockout,
        ..Services::default()
    };
    Server::start_full(FIXTURE, Environment::default(), services).await
}

/// `GET /admin/routes` from `client` with `token` (none: no `Authorization`): the status and
/// `Retry-After`.
async fn routes_from(
    server: &Server,
    client: &reqwest::Client,
    token: Option<&str>,
) -> (u16, Option<u64>) {
    let mut request = client.get(format!("http://{}/admin/routes", server.ops));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (response.status().as_u16(), retry_after)
}

fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// An address that sends `max_failures` wrong tokens within the window is answered `429` with
/// `Retry-After` for the block's duration, the right token included, while another address is
/// not; requests without a token never block; once the block is over (after exactly
/// `Retry-After`), the right token is let in at once and a wrong one starts a fresh count.
/// Every refusal is counted by reason.
#[tokio::test]
async fn an_address_that_keeps_sending_wrong_tokens_is_blocked_for_a_while() {
    let lockout = AdminLockout {
        max_failures: 3,
        window: Duration::from_secs(60),
        block: Duration::from_secs(2),
        ..AdminLockout::default()
    };
    let server = admin_server(lockout).await;
    // Loopback is all of 127.0.0.0/8: two clients, two peer addresses.
    let (first, other) = (client_from("127.0.0.1"), client_from("127.0.0.2"));

    // Requests without a bearer token cannot be guesses: counted, never blocked.
    for _ in 0..5 {
        assert_eq!(routes_from(&server, &first, None).await, (401, None));
    }
    // Two wrong tokens, then the right one: allowed, and it clears the count.
    for _ in 0..2 {
        assert_eq!(
            routes_from(&server, &first, Some("wrong-token-1")).await,
            (401, None)
        );
    }
    assert_eq!(
        routes_from(&server, &first, Some(ADMIN_TOKEN)).await,
        (200, None)
    );
    for _ in 0..2 {
        assert_eq!(
            routes_from(&server, &first, Some("wrong-token-2")).await,
            (401, None)
        );
    }
    assert_eq!(
        routes_from(&server, &first, Some(ADMIN_TOKEN)).await,
        (200, None)
    );

    // Three wrong tokens in a row: the third is refused (401) and starts the block.
    for _ in 0..3 {
        assert_eq!(
            routes_from(&server, &first, Some("wrong-token-3")).await,
            (401, None)
        );
    }
    let (status, retry_after) = routes_from(&server, &first, Some(ADMIN_TOKEN)).await;
    let answered = Instant::now();
    assert_eq!(status, 429, "blocked, the right token included");
    let retry_after = retry_after.expect("a 429 says when to come back");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let response = first
        .get(format!("http://{}/admin/routes", server.ops))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(json(response).await["error"]["code"], "rate_limited");
    // Another address is not blocked; the rest of the ops listener is not either.
    assert_eq!(
        routes_from(&server, &other, Some(ADMIN_TOKEN)).await,
        (200, None)
    );
    let metrics = first
        .get(format!("http://{}/metrics", server.ops))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);

    // Waiting `Retry-After` from that answer is enough: the right token is let in at once.
    tokio::time::sleep_until((answered + Duration::from_secs(retry_after)).into()).await;
    assert_eq!(
        routes_from(&server, &first, Some(ADMIN_TOKEN)).await,
        (200, None)
    );
    // And a wrong token after the block starts a fresh count (no 429).
    assert_eq!(
        routes_from(&server, &first, Some("wrong-token-4")).await,
        (401, None)
    );
    assert_eq!(
        routes_from(&server, &first, Some("wrong-token-4")).await,
        (401, None)
    );
    assert_eq!(
        routes_from(&server, &first, Some(ADMIN_TOKEN)).await,
        (200, None)
    );

    let metrics = server.metrics().await;
    for (reason, count) in [("missing", 5.0), ("wrong", 9.0), ("blocked", 2.0)] {
        let series = format!(r#"flexroute_admin_auth_failures_total{{reason="{reason}"}}"#);
        assert_eq!(metric(&metrics, &series), Some(count), "{series}");
    }
    for secret in [ADMIN_TOKEN, "wrong-token"] {
        assert!(!metrics.contains(secret), "{secret} in the metrics");
    }
    server.stop().await;
}

/// The real binary logs refusals at most once per 10 s, with how many there were since the last
/// line and the peer address, and a block once; never a token, right or wrong.
#[tokio::test]
async fn refusals_are_logged_at_most_once_per_interval_with_a_count_and_the_peer() {
    const GUESS: &str = "guess-5e0b7c1d";
    let state = tempfile::tempdir().unwrap();
    let server = Running::spawn(
        &["serve", "--config", EXAMPLE],
        &[
            ("FLEXROUTE_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
            (
                "FLEXROUTE_PROVISIONING_STATE",
                format!("file:{}", state.path().join("state").display()),
            ),
        ],
    )
    .await;
    let client = client();
    let started = Instant::now();
    let routes = format!("http://{}/admin/routes", server.ops);
    for _ in 0..5 {
        let response = client.get(&routes).send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
    // The default lockout: the 10th wrong token blocks.
    let mut statuses = Vec::new();
    for i in 0..30 {
        let response = client
            .get(&routes)
            .bearer_auth(format!("{GUESS}-{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[..10], [401; 10]);
    assert_eq!(statuses[10..], [429; 20]);
    let metrics = server.metrics().await;
    let elapsed = started.elapsed();
    for (reason, count) in [("missing", 5.0), ("wrong", 10.0), ("blocked", 20.0)] {
        let series = format!(r#"flexroute_admin_auth_failures_total{{reason="{reason}"}}"#);
        assert_eq!(metric(&metrics, &series), Some(count), "{series}");
    }
    let log = server.stop().await;
    let events: Vec<serde_json::Value> = log
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let refusals: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("admin API: refused"))
        })
        .collect();
    let blocks: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("admin API: address blocked"))
        })
        .collect();
    let all = log.join("\n");
    assert_eq!(refusals[0]["level"], "WARN", "{all}");
    assert_eq!(refusals[0]["peer"], "127.0.0.1", "{all}");
    assert_eq!(refusals[0]["refused"], 1, "{all}");
    assert_eq!(blocks.len(), 1, "{all}");
    assert_eq!(blocks[0]["peer"], "127.0.0.1", "{all}");
    if elapsed < Duration::from_secs(10) {
        assert_eq!(refusals.len(), 1, "one line per 10 s: {all}");
    } else {
        println!("slow machine ({elapsed:?}): not counting the lines");
    }
    assert!(
        !all.contains(ADMIN_TOKEN) && !all.contains(GUESS),
        "a token in the log: {all}"
    );
}

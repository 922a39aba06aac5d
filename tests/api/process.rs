//! Real `flexroute` processes: the sandbox a newcomer starts, `plan`/`apply` against the
//! emulator, and `kill -9` in the middle of a provisioning burst.

use std::time::{Duration, Instant};

use flexroute::twilio::emulator::Op;
use tokio::process::Command;

use crate::support::{
    ACCOUNT, ADMIN_TOKEN, BIN, EXAMPLE, Rng, Running, TOKEN, client, emulator, json, upstream_env,
};

/// The README's run command: a visitor's first request creates the address in the built-in
/// emulator, the next ones are served from the cache.
#[tokio::test]
async fn sandbox_provisions_on_first_request_then_serves_from_cache() {
    let server = Running::spawn(&["serve", "--config", EXAMPLE, "--sandbox"], &[]).await;
    let first = server.config_json("site=acme&lang=fr-CA").await;
    assert!(first.get("degraded").is_none(), "{first}");
    let sid = first["address"]["sid"].as_str().unwrap().to_string();
    assert!(sid.starts_with("FO") && sid.len() == 34, "{sid}");
    for _ in 0..3 {
        let again = server.config_json("site=acme&lang=fr").await;
        assert_eq!(again["address"]["sid"], sid.as_str());
    }
    let metrics = server.metrics().await;
    let value = |series: &str| crate::support::metric(&metrics, series);
    assert_eq!(
        value(r#"flexroute_provision_total{outcome="created"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(r#"flexroute_upstream_requests_total{op="create",status="2xx"}"#),
        Some(1.0)
    );
    assert_eq!(value("flexroute_cache_hits_total"), Some(3.0));
    let log = server.stop().await.join("\n");
    assert!(log.contains("address ready"), "{log}");
}

#[tokio::test]
async fn plan_and_apply_from_the_command_line() {
    let (emulator, env) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("table.toml");
    std::fs::write(
        &config,
        "[twilio]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nchat_service_sid = \"IS0123456789abcdef0123456789abcdef\"\n\
         [defaults]\nstudio_flow_sid = \"FW0123456789abcdef0123456789abcdef\"\n\
         [[sites]]\nid = \"shop\"\nhosts = [\"shop.example\"]\ndefault_language = \"en\"\nlanguages = [\"en\", \"de\"]\n",
    )
    .unwrap();
    let base = env
        .get("FLEXROUTE_TWILIO_FLEX_API_BASE")
        .unwrap()
        .to_string();
    let state = format!("file:{}", dir.path().join("state").display());
    let run = async |command: &str| {
        let output = Command::new(BIN)
            .args([command, "--config", config.to_str().unwrap()])
            .env("TWILIO_ACCOUNT_SID", ACCOUNT)
            .env("TWILIO_AUTH_TOKEN", TOKEN)
            .env("FLEXROUTE_TWILIO_FLEX_API_BASE", &base)
            .env("FLEXROUTE_PROVISIONING_STATE", &state)
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{command}: {text}");
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
        text
    };
    let plan = run("plan").await;
    assert!(
        plan.contains("shop/en") && plan.contains("create"),
        "{plan}"
    );
    assert!(plan.contains("2 pair(s), 2 with something to do"), "{plan}");
    assert_eq!(emulator.calls(Op::Create), 0, "plan changes nothing");
    let apply = run("apply").await;
    assert_eq!(apply.matches("created FO").count(), 2, "{apply}");
    assert_eq!(emulator.flows().len(), 2);
    let again = run("plan").await;
    assert!(
        again.contains("2 pair(s), 0 with something to do"),
        "{again}"
    );
    assert!(
        again.contains("stored"),
        "apply recorded what it made: {again}"
    );
}

/// 40 missing pairs provisioned in a burst; the process is killed with SIGKILL at a random
/// moment of the burst and restarted with the same file store, ten times in a row. The store
/// opens every time, nothing is created twice, and every pair ends up served with its own
/// address. The moments come from `FLEXROUTE_KILL_SEED`, else the clock; the seed is printed.
#[tokio::test]
async fn kill_9_mid_burst_loses_nothing_and_duplicates_nothing() {
    const LANGUAGES: [&str; 40] = [
        "en", "de", "fr", "es", "it", "nl", "pt", "sv", "da", "fi", "nb", "pl", "cs", "sk", "hu",
        "ro", "bg", "el", "tr", "ru", "uk", "ja", "ko", "zh", "ar", "he", "hi", "th", "vi", "id",
        "ms", "lt", "lv", "et", "sl", "hr", "sr", "ca", "eu", "gl",
    ];
    const KILLS: usize = 10;
    let seed = std::env::var("FLEXROUTE_KILL_SEED").map_or_else(
        |_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        },
        |s| s.parse().expect("FLEXROUTE_KILL_SEED is a u64"),
    );
    println!("kill -9 seed={seed} (replay with FLEXROUTE_KILL_SEED={seed})");
    let mut rng = Rng::new(seed);
    let (emulator, env) = emulator().await;
    // A create stays in flight for a while after it has taken effect: a kill then leaves a
    // flow upstream that the store never heard of.
    emulator.switches().set_latency(Duration::from_millis(40));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("table.toml");
    let languages: Vec<String> = LANGUAGES.iter().map(|l| format!("\"{l}\"")).collect();
    std::fs::write(
        &config,
        format!(
            "[twilio]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nchat_service_sid = \"IS0123456789abcdef0123456789abcdef\"\n\
             [provisioning]\nmax_concurrent_calls = 2\nwait_ms = 10000\n\
             [defaults]\nstudio_flow_sid = \"FW0123456789abcdef0123456789abcdef\"\n\
             [[sites]]\nid = \"burst\"\nhosts = [\"burst.example\"]\ndefault_language = \"en\"\nlanguages = [{}]\n",
            languages.join(", ")
        ),
    )
    .unwrap();
    let process_env = upstream_env(&env, &dir.path().join("state/log"));
    let args = ["serve", "--config", config.to_str().unwrap()];
    let client = client();
    let started = Instant::now();
    let (mut mid_call, mut moments) = (0, Vec::new());
    for kill in 0..KILLS {
        let server = Running::spawn(&args, &process_env).await;
        for language in LANGUAGES {
            let url = server.config_url(&format!("site=burst&lang={language}"));
            let client = client.clone();
            tokio::spawn(async move { client.get(url).send().await });
        }
        // At a random moment of the burst: it takes about 40 ms per pair still missing (a
        // lookup, then a create; two calls at a time, 40 ms per call), lookups first.
        let missing = LANGUAGES.len() - emulator.flows().len();
        let burst = Duration::from_millis(40 * missing.max(1) as u64);
        let mut moment = rng.between(Duration::ZERO, burst);
        // The first half of a burst is lookups only: should every earlier kill have landed
        // there (one run in a thousand), the last one comes after the first flow exists (and
        // its record had time to be written), so that what the store kept is always tested.
        if kill == KILLS - 1 && emulator.flows().is_empty() {
            let waiting = Instant::now();
            while emulator.flows().is_empty() && waiting.elapsed() < Duration::from_secs(10) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let after = rng.between(Duration::from_millis(100), Duration::from_millis(200));
            tokio::time::sleep(after).await;
            moment = waiting.elapsed();
        } else {
            tokio::time::sleep(moment).await;
        }
        mid_call += usize::from(emulator.in_flight() > 0);
        moments.push(moment.as_millis());
        server.kill9().await;
    }
    let creates_killed = emulator.calls(Op::Create);
    let lists_before = emulator.calls(Op::List);
    // The store opens after ten kills: the process starts and is ready.
    let server = Running::spawn(&args, &process_env).await;
    let ready = client
        .get(format!("http://{}/readyz", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "ready after ten kills");
    for language in LANGUAGES {
        let response = client
            .get(server.config_url(&format!("site=burst&lang={language}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{language}");
        let body = json(response).await;
        assert!(body.get("degraded").is_none(), "{language}: {body}");
        let flows: Vec<_> = emulator
            .flows()
            .into_iter()
            .filter(|f| f.friendly_name == Some(format!("WebChat burst {language}")))
            .collect();
        assert_eq!(flows.len(), 1, "one flow for {language}: {flows:?}");
        assert_eq!(body["address"]["sid"], flows[0].sid.as_str(), "{language}");
    }
    assert_eq!(emulator.flows().len(), LANGUAGES.len(), "no other flow");
    let creates = emulator.calls(Op::Create);
    assert_eq!(creates, LANGUAGES.len() as u64, "one create per pair, ever");
    // What the killed processes recorded was kept: the last one looked up only the others.
    let metrics = server.metrics().await;
    let outcome = |outcome: &str| {
        crate::support::metric(
            &metrics,
            &format!(r#"flexroute_provision_total{{outcome="{outcome}"}}"#),
        )
        .unwrap_or(0.0) as u64
    };
    let (stored, adopted) = (outcome("stored"), outcome("adopted"));
    println!(
        "kill9 kills={KILLS} moments_ms={moments:?} with_a_call_in_flight={mid_call} pairs={} \
         creates={creates} (by the killed processes {creates_killed}) flows={} stored={stored} \
         adopted_after={adopted} created_after={} took={:.1}s seed={seed}",
        LANGUAGES.len(),
        emulator.flows().len(),
        outcome("created"),
        started.elapsed().as_secs_f64()
    );
    assert!(stored > 0, "records survived the kills");
    assert_eq!(
        emulator.calls(Op::List) - lists_before,
        LANGUAGES.len() as u64 - stored
    );
    server.stop().await;
}

/// Credentials and the admin token, in a process whose upstream calls fail (the emulator
/// refuses the API key): they appear in no log line at any level, no error, metric or admin
/// answer.
#[tokio::test]
async fn secrets_appear_nowhere() {
    const API_SECRET: &str = "api-secret-9c1e77d2";
    let (_emulator, env) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Running::spawn(
        &["serve", "--config", EXAMPLE],
        &[
            ("FLEXROUTE_LOG", "trace".to_string()),
            // Beside the auth token: an API key, which wins and which the emulator refuses.
            (
                "TWILIO_API_KEY",
                "SK0123456789abcdef0123456789abcdef".to_string(),
            ),
            ("TWILIO_API_SECRET", API_SECRET.to_string()),
            ("FLEXROUTE_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
            ("FLEXROUTE_PROVISIONING_WAIT_MS", "3000".to_string()),
        ]
        .into_iter()
        .chain(upstream_env(&env, &dir.path().join("state")))
        .collect::<Vec<_>>(),
    )
    .await;
    let client = client();
    let mut seen = String::new();
    let degraded = json(
        client
            .get(server.config_url("site=acme&lang=fr-CA"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        degraded["degraded"], true,
        "the API key is refused upstream: {degraded}"
    );
    seen.push_str(&degraded.to_string());
    for path in ["/admin/routes", "/metrics"] {
        let response = client
            .get(format!("http://{}{path}", server.ops))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        seen.push_str(&response.text().await.unwrap());
    }
    let plan = client
        .post(format!("http://{}/admin/provision", server.ops))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(plan.status(), 502, "upstream refused the credentials");
    seen.push_str(&plan.text().await.unwrap());
    assert!(
        seen.contains("rejected the credentials"),
        "the failure is explained: {seen}"
    );
    let log = server.stop().await.join("\n");
    assert!(log.contains("provisioning failed"), "{log}");
    assert!(
        !log.contains("Basic "),
        "an Authorization header in the log"
    );
    for secret in [TOKEN, API_SECRET, ADMIN_TOKEN] {
        assert!(!log.contains(secret), "{secret} in the log");
        assert!(!seen.contains(secret), "{secret} in an answer");
    }
}

/// The embedded store across a real restart: pairs provisioned by the first process cost the
/// second one no upstream call at all.
#[tokio::test]
async fn restart_with_the_file_store_makes_zero_upstream_calls() {
    let (emulator, env) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let process_env = upstream_env(&env, &dir.path().join("state"));
    let args = ["serve", "--config", EXAMPLE];
    let first = Running::spawn(&args, &process_env).await;
    let sid = first.config_json("site=acme&lang=fr-CA").await["address"]["sid"].clone();
    assert!(sid.is_string());
    first.stop().await;
    let calls = [Op::List, Op::Fetch, Op::Create, Op::Update].map(|op| emulator.calls(op));

    let second = Running::spawn(&args, &process_env).await;
    for _ in 0..3 {
        let body = second.config_json("site=acme&lang=fr-CA").await;
        assert_eq!(body["address"]["sid"], sid);
    }
    let metrics = second.metrics().await;
    assert_eq!(
        crate::support::metric(&metrics, r#"flexroute_provision_total{outcome="stored"}"#),
        Some(1.0)
    );
    second.stop().await;
    assert_eq!(
        [Op::List, Op::Fetch, Op::Create, Op::Update].map(|op| emulator.calls(op)),
        calls
    );
}

/// SIGHUP reloads (file watching off), and `flexroute healthcheck` tells a live server from a
/// dead one.
#[tokio::test]
async fn sighup_reloads_and_healthcheck_answers() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("flexroute.toml");
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    std::fs::write(&config, &example).unwrap();
    let env = [
        ("FLEXROUTE_SERVER_CONFIG_WATCH_MS", "0".to_string()),
        (
            "FLEXROUTE_PROVISIONING_STATE",
            format!("file:{}", dir.path().join("state").display()),
        ),
    ];
    let server = Running::spawn(&["serve", "--config", config.to_str().unwrap()], &env).await;
    let greeting = async || {
        let body = server.config_json("site=acme&lang=es-MX").await;
        body["appConfig"]["preEngagementConfig"]["description"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(greeting().await, "¡Hola! ¿Cómo te llamas?");
    std::fs::write(
        &config,
        example.replace("¡Hola! ¿Cómo te llamas?", "¡Buenas!"),
    )
    .unwrap();
    let pid = server.child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    let started = std::time::Instant::now();
    while greeting().await != "¡Buenas!" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "SIGHUP did not reload"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let healthcheck = |url: String| {
        Command::new(BIN)
            .args(["healthcheck", "--url", &url])
            .output()
    };
    let healthy = healthcheck(format!("http://{}/healthz", server.public))
        .await
        .unwrap();
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stdout)
    );
    let log = server.stop().await.join("\n");
    assert!(log.contains("\"trigger\":\"sighup\""), "{log}");
    let dead = healthcheck("http://127.0.0.1:9/healthz".to_string())
        .await
        .unwrap();
    assert!(!dead.status.success());
    assert!(String::from_utf8_lossy(&dead.stdout).contains("unhealthy"));
}

/// SIGTERM: readiness turns 503 while requests are still answered during the drain delay, a
/// request in flight (waiting on a slow Twilio) finishes with its new address, and the process
/// exits 0.
#[tokio::test]
async fn sigterm_drains_then_finishes_in_flight_work_and_exits_0() {
    let (emulator, env) = emulator().await;
    // Lookup + create take 2 s: longer than the drain, so the request is still in flight
    // when the listeners close.
    emulator.switches().set_latency(Duration::from_millis(1000));
    let dir = tempfile::tempdir().unwrap();
    let server = Running::spawn(
        &["serve", "--config", EXAMPLE],
        &[
            ("FLEXROUTE_SERVER_SHUTDOWN_DRAIN_MS", "1500".to_string()),
            ("FLEXROUTE_SERVER_SHUTDOWN_TIMEOUT_MS", "10000".to_string()),
            ("FLEXROUTE_PROVISIONING_WAIT_MS", "8000".to_string()),
        ]
        .into_iter()
        .chain(upstream_env(&env, &dir.path().join("state")))
        .collect::<Vec<_>>(),
    )
    .await;
    let client = client();
    let ready = format!("http://{}/readyz", server.public);
    assert_eq!(client.get(&ready).send().await.unwrap().status(), 200);
    let slow = tokio::spawn({
        let (client, url) = (client.clone(), server.config_url("site=acme&lang=fr-CA"));
        async move { client.get(url).send().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = server.child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let status = client.get(&ready).send().await.unwrap().status();
        if status == 503 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "readiness never turned 503"
        );
    }
    // Still answering during the drain.
    let during = client
        .get(server.config_url("site=acme&lang=es-MX"))
        .send()
        .await
        .unwrap();
    assert_eq!(during.status(), 200);
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.status(), 200);
    let body = json(slow).await;
    assert!(
        body.get("degraded").is_none(),
        "finished with its own address: {body}"
    );
    let log = server.stop().await.join("\n"); // asserts exit status 0
    assert!(log.contains("readiness off"), "{log}");
    assert!(log.contains("\"message\":\"stopped\""), "{log}");
}

/// Two real processes on one state file, the second through a symlink (they once both
/// started, the lock being keyed by the path string, and duplicated flows): the second is
/// refused at start with its path named, and never listens. A store of another name
/// (`state.v2` beside `state.v1`) is another lock and starts.
#[tokio::test]
async fn a_second_process_on_the_same_file_through_a_symlink_is_refused() {
    let (_emulator, env) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("state.v1");
    let link = dir.path().join("link-to-state");
    let args = ["serve", "--config", EXAMPLE];
    let first = Running::spawn(&args, &upstream_env(&env, &real)).await;
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let mut second = Command::new(BIN);
    second
        .args(args)
        .env("FLEXROUTE_SERVER_LISTEN", "127.0.0.1:0")
        .env("FLEXROUTE_SERVER_ADMIN_LISTEN", "127.0.0.1:0")
        .env_remove("FLEXROUTE_LOG")
        .kill_on_drop(true);
    for (key, value) in upstream_env(&env, &link) {
        second.env(key, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(30), second.output())
        .await
        .expect("the second process stops by itself")
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains(&link.display().to_string()) && text.contains("in use by another flexroute"),
        "{text}"
    );
    assert!(!text.contains("flexroute listening"), "{text}");
    let other = Running::spawn(&args, &upstream_env(&env, &dir.path().join("state.v2"))).await;
    other.stop().await;
    first.stop().await;
}

/// A state file written by an earlier version (the checksummed log, written here by hand with
/// a torn tail, a line whose checksum fails and a 32 MB garbage line) is migrated when the
/// new version starts on it: its pair is served from the store with no call to Twilio, one
/// log line gives the counts, and the old log is kept beside the database.
#[tokio::test]
async fn an_old_state_log_is_migrated_at_start_and_served_without_a_call() {
    let (emulator, env) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("flexroute-state");
    let sid = "FO0123456789abcdef0123456789abcd01";
    let line = |site: &str, language: &str, sid: &str| {
        let json = format!(
            r#"{{"site":"{site}","language":"{language}","sid":"{sid}","friendly_name":"WebChat {site} {language}","source":"created","recorded_at":1}}"#
        );
        let sum = xxhash_rust::xxh3::xxh3_64(json.as_bytes());
        format!("{json}\t{sum:016x}\n").into_bytes()
    };
    let mut log = line("acme", "fr-CA", "FO0123456789abcdef0123456789abcd00");
    let mut bad = line("initech", "it-IT", "FO0123456789abcdef0123456789abcd02");
    let at = bad.len() - 2;
    bad[at] = if bad[at] == b'a' { b'b' } else { b'a' };
    log.extend(bad);
    log.extend(vec![b'#'; 32 << 20]);
    log.push(b'\n');
    log.extend(line("acme", "fr-CA", sid)); // the latest
    log.extend(&line("acme", "de-DE", "FO0123456789abcdef0123456789abcd03")[..30]);
    std::fs::write(&state, &log).unwrap();

    let server = Running::spawn(&["serve", "--config", EXAMPLE], &upstream_env(&env, &state)).await;
    let migrated = server
        .early()
        .iter()
        .find(|l| l.contains("migrated the state log"))
        .expect("one line says what was migrated")
        .clone();
    let event: serde_json::Value = serde_json::from_str(&migrated).unwrap();
    assert_eq!(event["records"], 1, "{migrated}");
    assert_eq!(event["lines"], 2, "{migrated}");
    assert_eq!(event["damaged"], 1, "{migrated}");
    assert_eq!(event["oversized"], 1, "{migrated}");
    assert_eq!(event["torn_tail"], true, "{migrated}");
    let body = server.config_json("site=acme&lang=fr-CA").await;
    assert_eq!(body["address"]["sid"], sid, "{body}");
    server.stop().await;
    assert_eq!(
        [Op::List, Op::Fetch, Op::Create, Op::Update].map(|op| emulator.calls(op)),
        [0; 4]
    );
    let kept = dir.path().join("flexroute-state.log-migrated");
    assert_eq!(std::fs::metadata(&kept).unwrap().len(), log.len() as u64);
    assert!(std::fs::read(&state).unwrap().starts_with(b"redb"));
}

/// A real full disk, as far as the state file can tell: the process's file-size limit is
/// lowered below the database's size while it runs (writes to it fail with `EFBIG`, as they
/// would with `ENOSPC`), then raised again. The new address is served at once, marked
/// `"persisted": false` and counted while the writes fail, written by the retry once they work
/// (redb refuses everything after an I/O error until reopened: the store reopens it), and a
/// restart then finds it in the store without a call to Twilio.
#[tokio::test]
async fn with_the_disk_full_an_address_is_served_marked_and_persisted_once_it_has_room() {
    let (emulator, env) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut process_env = upstream_env(&env, &state);
    process_env.push(("FLEXROUTE_ADMIN_TOKEN", ADMIN_TOKEN.to_string()));
    let mut command = Command::new("sh");
    // SIGXFSZ ignored, so that a write over the limit fails instead of killing the process.
    command.args([
        "-c",
        &format!("trap '' XFSZ; exec {BIN} --log-format json serve --config {EXAMPLE}"),
    ]);
    let server = Running::spawn_command(command, &process_env).await;
    let pid = server.child.id().unwrap() as i32;
    let fsize = |limit: u64| {
        rlimit::prlimit(
            pid,
            rlimit::Resource::FSIZE,
            Some((limit, rlimit::INFINITY)),
            None,
        )
        .unwrap()
    };
    let client = client();
    let pair = async || -> serde_json::Value {
        let body = json(
            client
                .get(format!("http://{}/admin/routes", server.ops))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await;
        body["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["site"] == "acme" && r["language"] == "fr-CA")
            .unwrap()
            .clone()
    };
    let gauge =
        async || crate::support::metric(&server.metrics().await, "flexroute_unpersisted_addresses");

    fsize(4096); // the database is 72 KiB: no page past its first 4 KiB can be written
    let body = server.config_json("site=acme&lang=fr-CA").await;
    let sid = body["address"]["sid"].as_str().expect("served").to_string();
    let marked = pair().await;
    assert_eq!(
        (&marked["state"], &marked["persisted"]),
        (&"ready".into(), &false.into()),
        "{marked}"
    );
    assert_eq!(gauge().await, Some(1.0));
    tokio::time::sleep(Duration::from_millis(2500)).await; // a retry fails too
    assert_eq!(pair().await["persisted"], false);

    fsize(rlimit::INFINITY);
    let started = Instant::now();
    while pair().await["persisted"] != true {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never persisted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(gauge().await, Some(0.0));
    eprintln!(
        "disk full: persisted {:?} after the limit was raised",
        started.elapsed()
    );
    server.stop().await;

    let calls = [Op::List, Op::Fetch, Op::Create, Op::Update].map(|op| emulator.calls(op));
    let again = Running::spawn(&["serve", "--config", EXAMPLE], &process_env).await;
    let body = again.config_json("site=acme&lang=fr-CA").await;
    assert_eq!(body["address"]["sid"], sid.as_str());
    again.stop().await;
    assert_eq!(
        [Op::List, Op::Fetch, Op::Create, Op::Update].map(|op| emulator.calls(op)),
        calls,
        "found in the store"
    );
    assert_eq!(emulator.calls(Op::Create), 1);
}

//! Provisioning when Twilio misbehaves (emulator switches, real HTTP): retries that never
//! duplicate, back-off that does not hammer, degraded answers within `wait_ms`, convergence.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flexroute::config::Environment;
use flexroute::twilio::emulator::Op;

use crate::support::{
    ADMIN_TOKEN, FIXTURE, Server, emulator, eventually, flows_named, json, metric,
    start_provisioning,
};

/// `env` plus overrides.
fn with(env: &Environment, extra: &[(&str, &str)]) -> Environment {
    let mut pairs: Vec<(String, String)> = ["FLEXROUTE_TWILIO_FLEX_API_BASE"]
        .iter()
        .map(|k| (k.to_string(), env.get(k).unwrap().to_string()))
        .collect();
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Environment::from_pairs(pairs)
}

async fn start(env: Environment) -> Server {
    start_provisioning(FIXTURE, env).await
}

async fn routes(server: &Server) -> serde_json::Value {
    let response = server
        .client
        .get(format!("http://{}/admin/routes", server.ops))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    json(response).await
}

async fn state_of(server: &Server, site: &str, language: &str) -> String {
    let routes = routes(server).await;
    routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["site"] == site && r["language"] == language)
        .map(|r| r["state"].as_str().unwrap().to_string())
        .unwrap()
}

#[tokio::test]
async fn a_create_that_failed_after_applying_is_found_not_repeated() {
    let (emulator, env) = emulator().await;
    emulator.switches().fail_next_creates_after_applying(1);
    let server = start(env).await;
    let response = server.config("site=hooli").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = json(response).await;
    assert_eq!(
        flows_named(&emulator, "hooli", "en-US").len(),
        1,
        "no duplicate"
    );
    assert_eq!(emulator.calls(Op::Create), 1, "no blind retry");
    assert_eq!(emulator.calls(Op::List), 2, "looked up again after the 500");
    assert_eq!(body["address"]["sid"], emulator.flows()[0].sid.as_str());
    let text = server.metrics().await;
    assert_eq!(
        metric(
            &text,
            r#"flexroute_upstream_requests_total{op="create",status="500"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, r#"flexroute_provision_total{outcome="created"}"#),
        Some(1.0)
    );
    server.stop().await;
}

#[tokio::test]
async fn throttling_is_retried_after_the_time_twilio_asks() {
    let (emulator, env) = emulator().await;
    emulator.switches().fail_next(2, 429);
    emulator.switches().set_retry_after(Some(1));
    let server = start(env).await;
    let started = Instant::now();
    let body = server.config_json("site=hooli").await;
    assert!(body["address"]["sid"].is_string(), "{body}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited Retry-After twice"
    );
    assert_eq!(emulator.calls(Op::List), 3);
    assert_eq!(emulator.calls(Op::Create), 1);
    let text = server.metrics().await;
    assert_eq!(
        metric(
            &text,
            r#"flexroute_upstream_requests_total{op="list",status="429"}"#
        ),
        Some(2.0)
    );
    server.stop().await;
}

#[tokio::test]
async fn failures_are_remembered_and_not_hammered() {
    let (emulator, env) = emulator().await;
    emulator.switches().fail_next(1000, 500);
    let env = with(
        &env,
        &[
            ("FLEXROUTE_PROVISIONING_FAILURE_BACKOFF_MS", "60000"),
            ("FLEXROUTE_PROVISIONING_WAIT_MS", "5000"),
        ],
    );
    let server = start(env).await;
    // initech it-IT: the default (en-US) has an address, so the answer is degraded, not 503.
    let body = server.config_json("site=initech&lang=it-IT").await;
    assert_eq!(body["degraded"], true, "{body}");
    assert_eq!(state_of(&server, "initech", "it-IT").await, "failing");
    let calls = emulator.calls(Op::List);
    assert_eq!(calls, 4, "one attempt: four tries with back-off");
    for _ in 0..20 {
        let body = server.config_json("site=initech&lang=it-IT").await;
        assert_eq!(body["degraded"], true);
    }
    assert_eq!(
        emulator.calls(Op::List),
        calls,
        "resting after the failure: no new calls"
    );
    let routes = routes(&server).await;
    let it = routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["language"] == "it-IT")
        .unwrap()
        .clone();
    assert_eq!(it["failed_attempts"], 1);
    assert!(it["last_error"].as_str().unwrap().contains("500"), "{it}");
    let text = server.metrics().await;
    assert_eq!(
        metric(&text, r#"flexroute_provision_total{outcome="failed"}"#),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, r#"flexroute_routes{state="failing"}"#),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            r#"flexroute_upstream_requests_total{op="list",status="500"}"#
        ),
        Some(4.0)
    );
    server.stop().await;
}

/// After an outage the first answer Twilio gives ends the other failed pairs' rest: they are
/// provisioned on their next request instead of after their back-off (a minute here).
#[tokio::test]
async fn the_first_answer_after_an_outage_ends_the_other_pairs_rest() {
    let (emulator, env) = emulator().await;
    emulator.switches().fail_next(1000, 500);
    let env = with(
        &env,
        &[
            ("FLEXROUTE_PROVISIONING_FAILURE_BACKOFF_MS", "60000"),
            ("FLEXROUTE_PROVISIONING_WAIT_MS", "5000"),
        ],
    );
    let server = start(env).await;
    let it = async || server.config_json("site=initech&lang=it-IT").await;
    assert_eq!(it().await["degraded"], true);
    assert_eq!(state_of(&server, "initech", "it-IT").await, "failing");
    emulator.switches().clear_failures();
    // Twilio is back, but nothing has told flexroute yet: it-IT rests, no call.
    let lists = emulator.calls(Op::List);
    assert_eq!(it().await["degraded"], true);
    assert_eq!(emulator.calls(Op::List), lists, "still resting");
    // A pair never tried before is created: Twilio answered.
    let hooli = server.config("site=hooli").send().await.unwrap();
    assert_eq!(hooli.status(), 200);
    // it-IT is tried on its next request, 59 s before its back-off would have ended.
    let body = it().await;
    assert!(body.get("degraded").is_none(), "{body}");
    assert_eq!(state_of(&server, "initech", "it-IT").await, "ready");
    assert_eq!(flows_named(&emulator, "initech", "it-IT").len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn twilio_down_then_back_converges_with_one_flow() {
    let (emulator, env) = emulator().await;
    emulator.switches().set_down(true);
    emulator.switches().wait_listening(false).await;
    let env = with(
        &env,
        &[
            ("FLEXROUTE_PROVISIONING_FAILURE_BACKOFF_MS", "100"),
            ("FLEXROUTE_PROVISIONING_WAIT_MS", "300"),
        ],
    );
    let server = start(env).await;
    let (mut sent, mut degraded) = (0, 0);
    for _ in 0..5 {
        let response = server
            .config("site=initech&lang=it-IT")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        sent += 1;
        degraded += usize::from(json(response).await["degraded"] == true);
        // hooli has no address at all: 503 with Retry-After, never a 500.
        let response = server.config("site=hooli").send().await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "5");
        // Known pairs are served throughout.
        assert_eq!(
            server
                .config("site=acme&lang=de")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(degraded, sent);
    emulator.switches().set_down(false);
    emulator.switches().wait_listening(true).await;
    eventually(Duration::from_secs(30), "converged", async || {
        let a = server.config_json("site=initech&lang=it-IT").await;
        let b = server.config("site=hooli").send().await.unwrap().status();
        a.get("degraded").is_none() && b == 200
    })
    .await;
    assert_eq!(flows_named(&emulator, "initech", "it-IT").len(), 1);
    assert_eq!(flows_named(&emulator, "hooli", "en-US").len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn slow_twilio_gets_a_degraded_answer_in_time_and_finishes_in_the_background() {
    let (emulator, env) = emulator().await;
    emulator.switches().set_latency(Duration::from_millis(700));
    let env = with(&env, &[("FLEXROUTE_PROVISIONING_WAIT_MS", "100")]);
    let server = start(env).await;
    let body = server.config_json("site=initech&lang=it-IT").await;
    assert_eq!(body["degraded"], true, "answered before Twilio did");
    eventually(
        Duration::from_secs(20),
        "finished in the background",
        async || {
            let body = server.config_json("site=initech&lang=it-IT").await;
            body.get("degraded").is_none()
        },
    )
    .await;
    assert_eq!(emulator.calls(Op::Create), 1);
    server.stop().await;
}

#[tokio::test]
async fn upstream_calls_are_capped_across_pairs() {
    let (emulator, env) = emulator().await;
    emulator.switches().set_latency(Duration::from_millis(60));
    let languages = [
        "en", "de", "fr", "es", "it", "nl", "pt", "sv", "da", "fi", "pl", "cs",
    ];
    let quoted: Vec<String> = languages.iter().map(|l| format!("\"{l}\"")).collect();
    let toml = format!(
        "[twilio]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nchat_service_sid = \"IS0123456789abcdef0123456789abcdef\"\n\
         [provisioning]\nmax_concurrent_calls = 3\nwait_ms = 20000\n\
         [defaults]\nstudio_flow_sid = \"FW0123456789abcdef0123456789abcdef\"\n\
         [[sites]]\nid = \"many\"\ndefault_language = \"en\"\nlanguages = [{}]\n",
        quoted.join(", ")
    );
    let server = Arc::new(start_provisioning(&toml, with(&env, &[])).await);
    let mut tasks = Vec::new();
    for language in languages {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            server
                .config(&format!("site=many&lang={language}"))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(emulator.calls(Op::Create), 12);
    let most = emulator.max_in_flight();
    assert!(
        (2..=3).contains(&most),
        "at most 3 calls at once, saw {most}"
    );
}

//! The faults a test can switch on: injected 429/500 (the next N, for a while, at random),
//! `Retry-After`, latency, and a real outage (the port closed, then bound again with the same
//! flows).

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use flexroute::twilio::emulator::Op;
use flexroute::twilio::types::FlexFlowPage;
use reqwest::StatusCode;

use super::{CHAT_SERVICE, Upstream, parse, twilio_error};

/// A guard against a hang, never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn fail_next_answers_429_then_recovers() {
    let upstream = Upstream::start().await;
    upstream.emulator.switches().fail_next(2, 429);
    for _ in 0..2 {
        let response = upstream.get("/v1/FlexFlows").send().await.unwrap();
        // Twilio promises no Retry-After: none unless a test asks for one.
        assert!(response.headers().get("retry-after").is_none());
        assert_eq!(
            twilio_error(response, 429, 20429).await,
            "Too Many Requests"
        );
    }
    let (status, _): (_, FlexFlowPage) =
        parse(upstream.get("/v1/FlexFlows").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upstream.emulator.calls(Op::List), 3);
    upstream.stop().await;
}

#[tokio::test]
async fn a_failed_create_creates_nothing() {
    let upstream = Upstream::start().await;
    upstream.emulator.switches().fail_next(1, 500);
    let form = [
        ("FriendlyName", "acme en"),
        ("ChatServiceSid", CHAT_SERVICE),
        ("ChannelType", "web"),
    ];
    let response = upstream.post("/v1/FlexFlows", &form).send().await.unwrap();
    assert_eq!(
        twilio_error(response, 500, 20500).await,
        "Internal Server Error"
    );
    assert!(upstream.emulator.flows().is_empty());
    upstream.create("acme en").await;
    assert_eq!(upstream.emulator.flows().len(), 1);
    assert_eq!(upstream.emulator.calls(Op::Create), 2);
    upstream.stop().await;
}

#[tokio::test]
async fn fail_for_throttles_until_it_is_lifted() {
    let upstream = Upstream::start().await;
    let switches = upstream.emulator.switches();
    switches.set_retry_after(Some(60));
    switches.fail_for(Duration::from_secs(3600), 429);
    for _ in 0..5 {
        let response = upstream.get("/v1/FlexFlows").send().await.unwrap();
        assert_eq!(response.headers()["retry-after"], "60");
        twilio_error(response, 429, 20429).await;
    }
    let form = [
        ("FriendlyName", "acme en"),
        ("ChatServiceSid", CHAT_SERVICE),
        ("ChannelType", "web"),
    ];
    let response = upstream.post("/v1/FlexFlows", &form).send().await.unwrap();
    twilio_error(response, 429, 20429).await;
    assert!(upstream.emulator.flows().is_empty(), "429: not processed");
    switches.fail_for(Duration::ZERO, 429);
    upstream.create("acme en").await;
    assert_eq!(switches.injected_failures(), 6);
    upstream.stop().await;
}

/// Creates failed at random with 500: about the share asked for, and some of them took effect
/// (listed afterwards) although the client saw a 500.
#[tokio::test]
async fn random_500s_fail_a_share_and_some_creates_apply() {
    let upstream = Upstream::start().await;
    let switches = upstream.emulator.switches();
    switches.fail_at_random(0.5, 500, 2024);
    let mut failed = Vec::new();
    for i in 0..200 {
        let name = format!("flow {i}");
        let form = [
            ("FriendlyName", name.as_str()),
            ("ChatServiceSid", CHAT_SERVICE),
            ("ChannelType", "web"),
        ];
        let response = upstream.post("/v1/FlexFlows", &form).send().await.unwrap();
        if response.status() == StatusCode::INTERNAL_SERVER_ERROR {
            twilio_error(response, 500, 20500).await;
            failed.push(name);
        } else {
            assert_eq!(response.status(), StatusCode::CREATED);
        }
    }
    switches.clear_failures();
    // Expected 100, standard deviation ~7: a bound 7 sigma wide, against a hang of the PRNG.
    assert!(
        (50..=150).contains(&failed.len()),
        "{} failed",
        failed.len()
    );
    let stored = upstream.emulator.flows();
    let applied = failed
        .iter()
        .filter(|name| {
            stored
                .iter()
                .any(|f| f.friendly_name.as_deref() == Some(name))
        })
        .count();
    assert!(
        applied > 0 && applied < failed.len(),
        "{applied} of {} failed creates applied",
        failed.len()
    );
    assert_eq!(stored.len(), 200 - failed.len() + applied);
    assert_eq!(switches.injected_failures(), failed.len() as u64);
    upstream.stop().await;
}

#[tokio::test]
async fn retry_after_is_sent_when_set() {
    let upstream = Upstream::start().await;
    let switches = upstream.emulator.switches();
    switches.set_retry_after(Some(3));
    switches.fail_next(1, 429);
    let response = upstream.get("/v1/FlexFlows").send().await.unwrap();
    assert_eq!(response.headers()["retry-after"], "3");
    twilio_error(response, 429, 20429).await;
    upstream.stop().await;
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let upstream = Upstream::start().await;
    let latency = Duration::from_millis(300);
    upstream.emulator.switches().set_latency(latency);
    for request in [
        upstream.get("/v1/FlexFlows"),
        upstream.client.get(upstream.url("/v1/FlexFlows")), // a 401 too
    ] {
        let started = Instant::now();
        request.send().await.unwrap();
        assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
    }
    upstream.stop().await;
}

#[tokio::test]
async fn a_create_that_times_out_has_still_happened() {
    let upstream = Upstream::start().await;
    upstream
        .emulator
        .switches()
        .set_latency(Duration::from_secs(2));
    let form = [
        ("FriendlyName", "acme en"),
        ("ChatServiceSid", CHAT_SERVICE),
        ("ChannelType", "web"),
    ];
    let request = upstream.post("/v1/FlexFlows", &form);
    let error = request
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    // The latency is on the way back: the flow exists although the client saw no answer,
    // which is why flexroute looks a flow up by name after a create that timed out.
    let names: Vec<_> = upstream
        .emulator
        .flows()
        .into_iter()
        .map(|f| f.friendly_name)
        .collect();
    assert_eq!(names, [Some("acme en".to_string())]);
    upstream.stop().await;
}

#[tokio::test]
async fn down_refuses_connections_and_comes_back_on_the_same_port() {
    let upstream = Upstream::start().await;
    let flow = upstream.create("acme en").await;
    let switches = upstream.emulator.switches();
    // `upstream.client` now holds an idle keep-alive connection: the outage must cut it too.
    switches.set_down(true);
    assert!(switches.is_down());
    tokio::time::timeout(PATIENCE, switches.wait_listening(false))
        .await
        .unwrap();
    let refused = tokio::net::TcpStream::connect(upstream.addr)
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    let error = upstream.get("/v1/FlexFlows").send().await.unwrap_err();
    assert!(error.is_connect() || error.is_request(), "{error:?}");
    let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
    let error = fresh
        .get(upstream.url("/v1/FlexFlows"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");

    switches.set_down(false);
    tokio::time::timeout(PATIENCE, switches.wait_listening(true))
        .await
        .unwrap();
    let (status, page): (_, FlexFlowPage) =
        parse(upstream.get("/v1/FlexFlows").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.flex_flows, vec![flow]);
    upstream.stop().await;
}

#[tokio::test]
async fn shutdown_while_down_ends_serve() {
    let upstream = Upstream::start().await;
    upstream.emulator.switches().set_down(true);
    tokio::time::timeout(PATIENCE, upstream.emulator.switches().wait_listening(false))
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, upstream.stop())
        .await
        .unwrap();
}

//! The session backend under upstream faults (as `scenarios` does for the config route): while
//! Twilio is slow, down, throttling or failing at random, a `conversations` pair that has its
//! address keeps its config answer every time; its visitors' chats either start or get a
//! clear `502 upstream_error` / `503 address_unavailable` in bounded time, never another 5xx;
//! a pair first asked for during the fault gets 503 and its address once Twilio is back,
//! exactly one per address value. Each fault prints one `scenario=` line of figures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flexroute::twilio::emulator::Op;
use serde_json::json;
use tokio::sync::Mutex;

use crate::support::conversations::{emulator, start, table};
use crate::support::{Server, eventually};

const FAULT: Duration = Duration::from_secs(2);
/// `wait_ms` (5 s in `sessions::start`) plus a guard against a hang on a busy machine.
const BOUND: Duration = Duration::from_secs(8);

#[derive(Clone, Copy, Debug)]
enum Fault {
    Slow,
    Down,
    Throttling,
    RandomFailures,
}

fn init(server: &Server, language: &str) -> reqwest::RequestBuilder {
    server
        .client
        .post(server.url(&format!("/v1/webchat/shop/{language}/initWebchat")))
        .header("Origin", "https://shop.example")
        .header("Content-Type", "application/json")
        .body(json!({"formData": {"friendlyName": "Ana"}}).to_string())
        .timeout(BOUND)
}

async fn run(fault: Fault) {
    let (emulator, base) = emulator().await;
    let server = Arc::new(start(&table(""), &base).await);
    // en has its address and a chat before the fault.
    assert_eq!(init(&server, "en").send().await.unwrap().status(), 200);
    let switches = emulator.switches();
    match fault {
        Fault::Slow => switches.set_latency(Duration::from_millis(1500)),
        Fault::Down => switches.set_down(true),
        Fault::Throttling => switches.fail_for(FAULT, 429),
        Fault::RandomFailures => switches.fail_at_random(0.3, 500, 7),
    }
    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let mut clients = Vec::new();
    for client in 0..3 {
        let (server, stop, statuses, slowest) = (
            server.clone(),
            stop.clone(),
            statuses.clone(),
            slowest.clone(),
        );
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // Two clients read the known pair's config; one starts chats.
                let (what, request) = if client < 2 {
                    ("config", server.config("site=shop&lang=en").timeout(BOUND))
                } else {
                    ("chat", init(&server, "en"))
                };
                let started = Instant::now();
                let status = match request.send().await {
                    Ok(response) => response.status().as_u16().to_string(),
                    Err(e) => format!("error {e}"),
                };
                let took = started.elapsed();
                let mut slowest = slowest.lock().await;
                *slowest = (*slowest).max(took);
                *statuses
                    .lock()
                    .await
                    .entry(format!("{what} {status}"))
                    .or_default() += 1;
            }
        }));
    }
    // fr is first asked for during the fault: no address can be made, so no chat either.
    tokio::time::sleep(FAULT / 4).await;
    let asked = Instant::now();
    let fr = init(&server, "fr").send().await.unwrap().status().as_u16();
    let fr_took = asked.elapsed();
    tokio::time::sleep(FAULT.saturating_sub(asked.elapsed() + FAULT / 4)).await;
    match fault {
        Fault::Slow => switches.set_latency(Duration::ZERO),
        Fault::Down => switches.set_down(false),
        Fault::Throttling | Fault::RandomFailures => switches.clear_failures(),
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    // Once Twilio is back, fr's visitors get their chat (its back-off is cut short by the
    // first answer Twilio gives).
    {
        let server = server.clone();
        eventually(
            Duration::from_secs(15),
            "fr chats start after the fault",
            async || {
                init(&server, "fr")
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            },
        )
        .await;
    }
    let statuses = statuses.lock().await.clone();
    let slowest = *slowest.lock().await;
    let addresses = emulator.addresses();
    eprintln!(
        "scenario=session-{fault:?} statuses={statuses:?} slowest={:.3}s fr_during={fr} fr_took={:.3}s address_creates={} addresses={}",
        slowest.as_secs_f64(),
        fr_took.as_secs_f64(),
        emulator.calls(Op::AddressCreate),
        addresses.len(),
    );
    for (what, count) in &statuses {
        let allowed = match what.split_once(' ').unwrap() {
            // The known pair's config answer never needs Twilio.
            ("config", status) => status == "200",
            ("chat", status) => matches!(status, "200" | "502" | "503"),
            _ => false,
        };
        assert!(allowed, "{fault:?}: {count} × {what}");
    }
    assert!(
        statuses.keys().any(|k| k.starts_with("config")),
        "{fault:?}: no load ran"
    );
    // Its address could not be had (503), or it was and the chat itself failed (502), or both
    // worked between failures.
    assert!(
        matches!(fr, 200 | 502 | 503),
        "{fault:?}: fr during the fault answered {fr}"
    );
    assert!(slowest < BOUND, "{fault:?}: an answer took {slowest:?}");
    // One chat address per address value, whatever the fault did to the creates.
    let mut values: Vec<_> = addresses.iter().filter_map(|a| a.address.clone()).collect();
    values.sort();
    assert_eq!(
        values,
        ["flexroute-shop-en", "flexroute-shop-fr"],
        "{fault:?}"
    );
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_with_twilio_slow() {
    run(Fault::Slow).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_with_twilio_down() {
    run(Fault::Down).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_with_twilio_throttling() {
    run(Fault::Throttling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_with_twilio_failing_at_random() {
    run(Fault::RandomFailures).await;
}

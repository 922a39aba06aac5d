//! Upstream fault scenarios (issue 6, part 1): a real server on loopback, the emulator as
//! Twilio, and one fault at a time: slow, down, throttled, random 500s, flapping. Throughout the
//! fault, concurrent clients ask for pairs known before it and must get their own address every
//! time; pairs not yet known get the contract's degraded answer or 503 within `wait_ms`; once
//! Twilio recovers every pair converges, with exactly one flow per friendly name upstream.
//!
//! Short by default (a few seconds of fault each). `FLEXROUTE_FAULT_SCALE=full` runs them at
//! full length (5 s per call, a minute of 429s, …): `scripts/faults.sh`. Random choices (which
//! requests fail, when the link flaps) come from `FLEXROUTE_FAULT_SEED`, else from the clock;
//! the seed is printed so that a failure can be replayed. Each scenario prints one line of
//! figures starting with `scenario=`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flexroute::config::Environment;
use flexroute::twilio::emulator::Op;

use crate::support::{Rng, Server, emulator, flows_named, json, start_provisioning};

/// (site, language) pairs provisioned before the fault.
const KNOWN: [(&str, &str); 4] = [
    ("shop", "en"),
    ("shop", "de"),
    ("shop", "fr"),
    ("shop", "es"),
];
/// Pairs first asked for during the fault, one after the other across it: shop's get shop/en's
/// address, degraded; blog has no address at all, so its pairs get 503 (or, once blog/en
/// exists, degraded).
const UNKNOWN: [(&str, &str); 10] = [
    ("blog", "de"),
    ("shop", "it"),
    ("shop", "nl"),
    ("shop", "pt"),
    ("blog", "en"),
    ("shop", "sv"),
    ("shop", "da"),
    ("shop", "fi"),
    ("shop", "pl"),
    ("shop", "cs"),
];
/// Pinned in the config: known without Twilio, and served throughout too.
const PINNED: (&str, &str, &str) = ("shop", "ja", "FO00000000000000000000000000000042");
/// Concurrent clients asking for the known pairs.
const CLIENTS: usize = 4;
/// Added to `wait_ms` for the bound on an answer: a guard against a hang on a busy machine,
/// not a timing claim.
const MARGIN: Duration = Duration::from_secs(3);

const TABLE: &str = r#"
[server]
shutdown_drain_ms = 0

[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
chat_service_sid = "IS0123456789abcdef0123456789abcdef"

[defaults]
studio_flow_sid = "FW0123456789abcdef0123456789abcdef"

[[sites]]
id = "shop"
hosts = ["shop.example"]
default_language = "en"
languages = ["en", "de", "fr", "es", "it", "nl", "pt", "sv", "da", "fi", "pl", "cs", "ja"]
[sites.language."ja"]
flex_flow_sid = "FO00000000000000000000000000000042"

[[sites]]
id = "blog"
hosts = ["blog.example"]
default_language = "en"
languages = ["en", "de"]
"#;

/// How long things last: CI-short by default, full with `FLEXROUTE_FAULT_SCALE=full`.
#[derive(Clone, Copy, Debug)]
struct Scale {
    full: bool,
    /// How long each fault lasts.
    fault: Duration,
    /// Emulator latency while slow.
    slow_call: Duration,
    /// `Retry-After` on the 429s.
    retry_after_secs: u64,
    /// Bounds of one up or down phase while flapping.
    flap: (Duration, Duration),
    wait_ms: u64,
    failure_backoff_ms: u64,
    /// How long every pair may take to converge once the fault is lifted (the back-off after
    /// a long outage doubles up to 5 minutes).
    converge_within: Duration,
}

impl Scale {
    fn from_env() -> Scale {
        let full = std::env::var("FLEXROUTE_FAULT_SCALE").is_ok_and(|s| s == "full");
        if full {
            Scale {
                full,
                fault: Duration::from_secs(60),
                slow_call: Duration::from_secs(5),
                retry_after_secs: 5,
                flap: (Duration::from_millis(500), Duration::from_secs(4)),
                // The shipped defaults.
                wait_ms: 3000,
                failure_backoff_ms: 5000,
                converge_within: Duration::from_secs(420),
            }
        } else {
            Scale {
                full,
                fault: Duration::from_secs(4),
                slow_call: Duration::from_millis(1000),
                retry_after_secs: 1,
                flap: (Duration::from_millis(150), Duration::from_millis(600)),
                wait_ms: 400,
                failure_backoff_ms: 100,
                converge_within: Duration::from_secs(60),
            }
        }
    }
}

fn seed() -> u64 {
    match std::env::var("FLEXROUTE_FAULT_SEED") {
        Ok(seed) => seed.parse().expect("FLEXROUTE_FAULT_SEED is a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Every call takes `slow_call` (5 s at full scale).
    Slow,
    /// The port is closed: connection refused.
    Down,
    /// Every call answers 429 (with `Retry-After`) for the fault's duration.
    Throttled,
    /// 30 % of calls answer 500; a create so failed took effect half of the time.
    Random500,
    /// Down and up again at random moments.
    Flapping,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Slow => "slow",
            Fault::Down => "down",
            Fault::Throttled => "throttled-429",
            Fault::Random500 => "random-500",
            Fault::Flapping => "flapping",
        }
    }

    /// Whether Twilio cannot possibly answer within `wait_ms` during the fault, so that the
    /// first answer for an unknown pair cannot be its own address.
    fn blocks_everything(self, scale: &Scale) -> bool {
        match self {
            Fault::Slow => scale.slow_call > Duration::from_millis(scale.wait_ms),
            Fault::Down | Fault::Throttled => true,
            Fault::Random500 | Fault::Flapping => false,
        }
    }
}

/// One answer for a pair not known before the fault.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// Its own address (provisioned during the fault).
    Ready(String),
    /// The site default's address, marked degraded.
    Degraded(String),
    /// `503 address_unavailable` with `Retry-After`.
    Unavailable,
}

async fn answer(response: reqwest::Response) -> Result<Answer, String> {
    let status = response.status();
    let retry_after = response.headers().get("retry-after").cloned();
    let body = json(response).await;
    match status.as_u16() {
        200 => {
            let sid = body["address"]["sid"]
                .as_str()
                .ok_or_else(|| format!("no address: {body}"))?
                .to_string();
            if body["degraded"] == true {
                Ok(Answer::Degraded(sid))
            } else if body.get("degraded").is_none() {
                Ok(Answer::Ready(sid))
            } else {
                Err(format!("odd degraded flag: {body}"))
            }
        }
        503 if body["error"]["code"] == "address_unavailable" && retry_after.is_some() => {
            Ok(Answer::Unavailable)
        }
        other => Err(format!("{other}: {body}")),
    }
}

/// The known pairs' clients: counts and the first failure.
#[derive(Default)]
struct Load {
    sent: AtomicU64,
    failed: AtomicU64,
    slowest_micros: AtomicU64,
    first_failure: std::sync::Mutex<Option<String>>,
}

impl Load {
    fn fail(&self, what: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.first_failure.lock().unwrap().get_or_insert(what);
    }
}

/// Asks for the known pairs (`expected`: query → sid) in turn until `stop`, and checks every
/// answer is the pair's own address.
async fn known_client(
    server: Arc<Server>,
    client: reqwest::Client,
    expected: Arc<Vec<(String, String)>>,
    offset: usize,
    load: Arc<Load>,
    stop: Arc<AtomicBool>,
) {
    let mut i = offset;
    while !stop.load(Ordering::Relaxed) {
        let (query, sid) = &expected[i % expected.len()];
        i += 1;
        let started = Instant::now();
        let result = client
            .get(server.url(&format!("/v1/webchat/config?{query}")))
            .send()
            .await;
        load.sent.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(response) => match answer(response).await {
                Ok(Answer::Ready(got)) if got == *sid => {}
                other => load.fail(format!("{query}: {other:?}, wanted {sid}")),
            },
            Err(e) => load.fail(format!("{query}: {e}")),
        }
        let micros = started.elapsed().as_micros() as u64;
        load.slowest_micros.fetch_max(micros, Ordering::Relaxed);
        // Be a steady load, not a benchmark: the machine is shared.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn query(site: &str, language: &str) -> String {
    format!("site={site}&lang={language}")
}

async fn run(fault: Fault) {
    let scale = Scale::from_env();
    let seed = seed();
    println!(
        "scenario={} seed={seed} (replay with FLEXROUTE_FAULT_SEED={seed})",
        fault.name()
    );
    let (emulator, base_env) = emulator().await;
    let env = Environment::from_pairs([
        (
            "FLEXROUTE_TWILIO_FLEX_API_BASE".to_string(),
            base_env
                .get("FLEXROUTE_TWILIO_FLEX_API_BASE")
                .unwrap()
                .to_string(),
        ),
        (
            "FLEXROUTE_PROVISIONING_WAIT_MS".to_string(),
            scale.wait_ms.to_string(),
        ),
        (
            "FLEXROUTE_PROVISIONING_FAILURE_BACKOFF_MS".to_string(),
            scale.failure_backoff_ms.to_string(),
        ),
    ]);
    let server = Arc::new(start_provisioning(TABLE, env).await);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // Before the fault: the known pairs are provisioned.
    let mut expected = vec![(query(PINNED.0, PINNED.1), PINNED.2.to_string())];
    for (site, language) in KNOWN {
        let response = client
            .get(server.url(&format!("/v1/webchat/config?{}", query(site, language))))
            .send()
            .await
            .unwrap();
        match answer(response).await {
            Ok(Answer::Ready(sid)) => expected.push((query(site, language), sid)),
            other => panic!("{site}/{language} before the fault: {other:?}"),
        }
    }
    let shop_default = expected[1].1.clone();
    let creates_before = emulator.calls(Op::Create);
    let expected = Arc::new(expected);

    let load = Arc::new(Load::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            tokio::spawn(known_client(
                server.clone(),
                client.clone(),
                expected.clone(),
                i,
                load.clone(),
                stop.clone(),
            ))
        })
        .collect();

    // The fault.
    let started = Instant::now();
    let switches = emulator.switches();
    let mut flaps = 0u32;
    let flapping = match fault {
        Fault::Slow => {
            switches.set_latency(scale.slow_call);
            None
        }
        Fault::Down => {
            switches.set_down(true);
            switches.wait_listening(false).await;
            None
        }
        Fault::Throttled => {
            switches.set_retry_after(Some(scale.retry_after_secs));
            switches.fail_for(scale.fault, 429);
            None
        }
        Fault::Random500 => {
            switches.fail_at_random(0.3, 500, seed);
            None
        }
        Fault::Flapping => {
            let emulator = emulator.clone();
            let mut rng = Rng::new(seed);
            let until = started + scale.fault;
            Some(tokio::spawn(async move {
                let switches = emulator.switches();
                let mut flaps = 0u32;
                while Instant::now() < until {
                    let down = !switches.is_down();
                    switches.set_down(down);
                    switches.wait_listening(!down).await;
                    flaps += u32::from(down);
                    tokio::time::sleep(rng.between(scale.flap.0, scale.flap.1)).await;
                }
                switches.set_down(false);
                switches.wait_listening(true).await;
                flaps
            }))
        }
    };

    // During the fault: the unknown pairs, each asked for again and again.
    let bound = Duration::from_millis(scale.wait_ms) + MARGIN;
    let probes: Vec<_> = UNKNOWN
        .iter()
        .enumerate()
        .map(|(i, &(site, language))| {
            let (server, client) = (server.clone(), client.clone());
            let until = started + scale.fault;
            // First asked for at staggered moments over the first 60 % of the fault, so that
            // even the last has a first answer well before the fault ends.
            let first = started + scale.fault.mul_f64(0.6 * i as f64 / UNKNOWN.len() as f64);
            tokio::spawn(async move {
                tokio::time::sleep_until(first.into()).await;
                let mut answers = Vec::new();
                let mut slowest = Duration::ZERO;
                while Instant::now() < until {
                    let asked = Instant::now();
                    let response = client
                        .get(server.url(&format!("/v1/webchat/config?{}", query(site, language))))
                        .send()
                        .await
                        .unwrap();
                    let took = asked.elapsed();
                    slowest = slowest.max(took);
                    let answer = answer(response)
                        .await
                        .unwrap_or_else(|e| panic!("{site}/{language} during the fault: {e}"));
                    answers.push(answer);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                ((site, language), answers, slowest)
            })
        })
        .collect();
    let mut unknown_answers = Vec::new();
    let mut slowest_unknown = Duration::ZERO;
    for probe in probes {
        let (pair, answers, slowest) = probe.await.unwrap();
        slowest_unknown = slowest_unknown.max(slowest);
        unknown_answers.push((pair, answers));
    }
    if let Some(flapping) = flapping {
        flaps = flapping.await.unwrap();
    }
    // Lift it (429s lift themselves once their time is up).
    switches.set_latency(Duration::ZERO);
    switches.clear_failures();
    switches.set_down(false);
    switches.wait_listening(true).await;
    let fault_lasted = started.elapsed();
    let injected = switches.injected_failures();

    // Every pair converges: its own address, no longer degraded.
    let lifted = Instant::now();
    let mut served: BTreeMap<(&str, &str), String> = BTreeMap::new();
    while served.len() < UNKNOWN.len() {
        assert!(
            lifted.elapsed() < scale.converge_within,
            "{}: not converged {:?} after the fault: {:?} of {UNKNOWN:?} ready",
            fault.name(),
            scale.converge_within,
            served.keys().collect::<Vec<_>>()
        );
        for (site, language) in UNKNOWN {
            if served.contains_key(&(site, language)) {
                continue;
            }
            let response = client
                .get(server.url(&format!("/v1/webchat/config?{}", query(site, language))))
                .send()
                .await
                .unwrap();
            if let Answer::Ready(sid) = answer(response).await.unwrap() {
                served.insert((site, language), sid);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let converged_after = lifted.elapsed();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }

    // Exactly one flow per friendly name, and it is the one served.
    for (site, language) in KNOWN.iter().chain(UNKNOWN.iter()) {
        let flows = flows_named(&emulator, site, language);
        assert_eq!(flows.len(), 1, "{site}/{language}: {flows:?}");
        if let Some(sid) = served.get(&(site, language)) {
            assert_eq!(&flows[0], sid, "{site}/{language} serves its flow");
        }
    }
    assert_eq!(
        emulator.flows().len(),
        KNOWN.len() + UNKNOWN.len(),
        "no other flow"
    );
    // What the unknown pairs got during the fault: the contract's answers, with the right
    // addresses; never a pair's own address before Twilio could have answered.
    let (mut degraded, mut unavailable, mut ready) = (0, 0, 0);
    for ((site, language), answers) in &unknown_answers {
        assert!(!answers.is_empty(), "{site}/{language} was asked for");
        // (A site's default language is provisioned as soon as another language needs to
        // lend its address: blog/en may be ready by the time it is first asked for.)
        if fault.blocks_everything(&scale) && *language != "en" {
            assert_ne!(
                answers[0],
                Answer::Ready(served[&(*site, *language)].clone()),
                "{site}/{language}: Twilio could not have answered yet"
            );
        }
        for answer in answers {
            match answer {
                Answer::Ready(sid) => {
                    ready += 1;
                    assert_eq!(sid, &served[&(*site, *language)], "{site}/{language}");
                }
                Answer::Degraded(sid) => {
                    degraded += 1;
                    let default = if *site == "shop" {
                        &shop_default
                    } else {
                        &served[&("blog", "en")]
                    };
                    assert_eq!(sid, default, "{site}/{language} lent its default's address");
                }
                Answer::Unavailable => {
                    unavailable += 1;
                    assert_eq!(*site, "blog", "shop has a default address to lend");
                }
            }
        }
    }
    let (sent, failed) = (
        load.sent.load(Ordering::Relaxed),
        load.failed.load(Ordering::Relaxed),
    );
    let creates = emulator.calls(Op::Create);
    println!(
        "scenario={} scale={} duration={:.1}s requests={sent} failed={failed} \
         slowest_known={:.3}s unknown_answers={} (degraded={degraded} unavailable={unavailable} \
         ready={ready}) slowest_unknown={:.3}s wait_ms={} creates={} (before fault {creates_before}) \
         flows={} lists={} injected_failures={injected} flaps={flaps} converged_after={:.1}s seed={seed}",
        fault.name(),
        if scale.full { "full" } else { "short" },
        fault_lasted.as_secs_f64(),
        Duration::from_micros(load.slowest_micros.load(Ordering::Relaxed)).as_secs_f64(),
        degraded + unavailable + ready,
        slowest_unknown.as_secs_f64(),
        scale.wait_ms,
        creates,
        emulator.flows().len(),
        emulator.calls(Op::List),
        converged_after.as_secs_f64(),
    );
    assert_eq!(
        failed,
        0,
        "known pairs failed: first {:?}",
        load.first_failure.lock().unwrap()
    );
    assert!(sent > 0);
    assert!(
        slowest_unknown < bound,
        "an unknown pair waited {slowest_unknown:?}, more than wait_ms + {MARGIN:?}"
    );
    match Arc::try_unwrap(server) {
        Ok(server) => server.stop().await,
        Err(_) => panic!("the server is still shared"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_twilio() {
    run(Fault::Slow).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_down() {
    run(Fault::Down).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_throttling_for_a_while() {
    run(Fault::Throttled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_failing_at_random() {
    run(Fault::Random500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_flapping() {
    run(Fault::Flapping).await;
}

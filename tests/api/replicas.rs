//! Several replicas, one truth (issue 7): three real `flexroute serve` processes against one
//! emulator and one real `redis-server`. Exactly one create per pair in a burst spread over
//! the three; a lease holder killed mid-create is taken over and its flow adopted; Redis killed
//! and restarted under load costs known pairs nothing; a replica learns addresses another one
//! provisioned without a restart. Lease TTLs and waits are short, so the file runs in seconds.
//! The figures the tests print (`--no-capture`) are measurements, never asserted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flexroute::config::Environment;
use flexroute::twilio::emulator::Op;

use crate::support::{
    ACCOUNT, ADMIN_TOKEN, Fleet, RedisServer, Running, answer, client, emulator, eventually,
    flows_named, json, metric, replica_env, sid,
};

const MISSING: [&str; 5] = ["de", "fr", "es", "it", "nl"];
const PINNED_EN: &str = "FO11111111111111111111111111111111";

/// One site, `en` pinned (so a pair without an address gets the degraded answer), five
/// languages to provision.
fn table() -> String {
    format!(
        "[twilio]\naccount_sid = \"{ACCOUNT}\"\nchat_service_sid = \"IS0123456789abcdef0123456789abcdef\"\n\
         [defaults]\nstudio_flow_sid = \"FW0123456789abcdef0123456789abcdef\"\n\
         [[sites]]\nid = \"multi\"\nhosts = [\"multi.example\"]\ndefault_language = \"en\"\n\
         languages = [\"en\", \"de\", \"fr\", \"es\", \"it\", \"nl\"]\n\
         [sites.language.en]\nflex_flow_sid = \"{PINNED_EN}\"\n"
    )
}

/// The timings of these replicas, over [`replica_env`]'s.
const TIMINGS: &[(&str, &str)] = &[
    ("FLEXROUTE_PROVISIONING_WAIT_MS", "10000"),
    ("FLEXROUTE_PROVISIONING_REDIS_COMMAND_TIMEOUT_MS", "300"),
    ("FLEXROUTE_PROVISIONING_REDIS_CONNECT_TIMEOUT_MS", "300"),
    ("FLEXROUTE_PROVISIONING_REDIS_RESYNC_MS", "1000"),
];

/// `n` replicas sharing `redis`, each with its own overrides (`extra[i]`, if any).
async fn start(
    n: usize,
    env: &Environment,
    redis: &RedisServer,
    extra: &[&[(&str, &str)]],
) -> Fleet {
    start_at(n, env, &redis.url(), extra).await
}

/// `n` replicas with the store at `state`, each with its own overrides (`extra[i]`, if any).
async fn start_at(n: usize, env: &Environment, state: &str, extra: &[&[(&str, &str)]]) -> Fleet {
    let twilio = env.get("FLEXROUTE_TWILIO_FLEX_API_BASE").unwrap();
    let envs = (0..n).map(|i| {
        let overrides = [TIMINGS, extra.get(i).copied().unwrap_or(&[])].concat();
        replica_env(state, twilio, &overrides)
    });
    Fleet::start(&table(), envs).await
}

async fn value(replica: &Running, series: &str) -> f64 {
    metric(&replica.metrics().await, series).unwrap_or(0.0)
}

/// 300 concurrent first requests for five missing pairs, spread over three replicas: one
/// create per pair, every request answered with the pair's own address, the same everywhere.
#[tokio::test]
async fn a_burst_over_three_replicas_creates_each_pair_once() {
    let redis = RedisServer::start().await;
    let (emulator, env) = emulator().await;
    emulator.switches().set_latency(Duration::from_millis(200));
    let cluster = start(3, &env, &redis, &[]).await;
    let client = client();
    let replicas: Vec<Arc<String>> = cluster
        .replicas
        .iter()
        .map(|r| Arc::new(r.public.clone()))
        .collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let language = MISSING[i % MISSING.len()];
        let public = replicas[(i / MISSING.len()) % replicas.len()].clone();
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let url = format!("http://{public}/v1/webchat/config?site=multi&lang={language}");
            let response = client.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            (language, status, json(response).await, sent.elapsed())
        }));
    }
    let mut sids: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for task in tasks {
        let (language, status, body, took) = task.await.unwrap();
        assert_eq!(status, 200, "{language}: {body}");
        assert!(body.get("degraded").is_none(), "{language}: {body}");
        sids.entry(language).or_default().insert(sid(&body));
        slowest = slowest.max(took);
    }
    let total = started.elapsed();
    for language in MISSING {
        assert_eq!(
            sids[language].len(),
            1,
            "{language}: one address everywhere"
        );
        assert_eq!(
            flows_named(&emulator, "multi", language).len(),
            1,
            "{language}: one flow"
        );
    }
    assert_eq!(
        emulator.calls(Op::Create),
        MISSING.len() as u64,
        "one create per pair"
    );
    let mut busy = 0.0;
    for replica in &cluster.replicas {
        busy += value(
            replica,
            r#"flexroute_provision_leases_total{outcome="busy"}"#,
        )
        .await;
    }
    println!(
        "burst: 300 requests, 5 pairs, 3 replicas, emulator 200 ms/call: creates per pair {:?}, \
         {busy} lease waits, slowest answer {slowest:?}, all answered in {total:?}",
        MISSING.map(|l| flows_named(&emulator, "multi", l).len())
    );
    for replica in cluster.replicas {
        replica.stop().await;
    }
}

/// The lease holder is killed with SIGKILL after its create reached Twilio but before it heard
/// back or recorded it. The lease expires, another replica takes it, finds the flow by name and
/// adopts it: still one flow, and every survivor serves it.
#[tokio::test]
async fn a_holder_killed_mid_create_is_taken_over_and_its_flow_adopted() {
    let redis = RedisServer::start().await;
    let (emulator, env) = emulator().await;
    // Applied at once, answered 1 s later: the holder dies with its create in flight.
    emulator.switches().set_latency(Duration::from_millis(1000));
    let slow: &[(&str, &str)] = &[
        ("FLEXROUTE_PROVISIONING_UPSTREAM_TIMEOUT_MS", "1500"),
        ("FLEXROUTE_PROVISIONING_REDIS_LEASE_TTL_MS", "3600"),
    ];
    let cluster = start(3, &env, &redis, &[slow, slow, slow]).await;
    let client = client();
    let mut requests = Vec::new();
    for replica in &cluster.replicas {
        let (client, url) = (client.clone(), replica.config_url("site=multi&lang=de"));
        requests.push(tokio::spawn(async move {
            let response = client.get(url).send().await;
            match response {
                Ok(response) => Some(answer(response).await),
                Err(_) => None, // the killed one
            }
        }));
    }
    // Who holds the lease: the replica whose metrics say it was granted one.
    let mut holder = None;
    eventually(Duration::from_secs(10), "a lease granted", async || {
        for (i, replica) in cluster.replicas.iter().enumerate() {
            if value(
                replica,
                r#"flexroute_provision_leases_total{outcome="granted"}"#,
            )
            .await
                > 0.0
            {
                holder = Some(i);
                return true;
            }
        }
        false
    })
    .await;
    let holder = holder.unwrap();
    eventually(Duration::from_secs(10), "the create applied", async || {
        emulator.calls(Op::Create) == 1
    })
    .await;
    let mut replicas = cluster.replicas;
    let killed_at = Instant::now();
    replicas.remove(holder).kill9().await;
    let mut answered = Vec::new();
    for (i, request) in requests.into_iter().enumerate() {
        let outcome = request.await.unwrap();
        if i == holder {
            continue;
        }
        let (status, body) = outcome.expect("a survivor answers");
        assert_eq!(status, 200, "{body}");
        assert!(body.get("degraded").is_none(), "{body}");
        answered.push(sid(&body));
    }
    let taken_over = killed_at.elapsed();
    let flows = emulator.flows();
    assert_eq!(
        flows_named(&emulator, "multi", "de").len(),
        1,
        "still one flow for the pair"
    );
    assert_eq!(
        emulator.calls(Op::Create),
        1,
        "the survivor adopted, did not create"
    );
    assert!(answered.iter().all(|s| *s == flows[0].sid), "{answered:?}");
    let mut adopted = 0.0;
    for replica in &replicas {
        adopted += value(replica, r#"flexroute_provision_total{outcome="adopted"}"#).await;
        let (_, body) = replica.ask("site=multi&lang=de").await;
        assert_eq!(sid(&body), flows[0].sid);
    }
    assert_eq!(adopted, 1.0, "one survivor adopted the dead holder's flow");
    println!(
        "kill -9 of the lease holder mid-create: survivors answered {taken_over:?} after the kill (lease TTL 3.6 s, emulator 1 s/call), 1 flow"
    );
    for replica in replicas {
        replica.stop().await;
    }
}

/// Redis is killed under load and started again, empty. Known pairs are answered throughout
/// (zero errors), a new pair is degraded while it is down (never created without a lease),
/// readiness follows `redis_unavailable`, and after the restart everything converges without
/// a restart of flexroute: the new pair gets one address, the lost records are written back.
#[tokio::test]
async fn redis_killed_and_restarted_under_load_costs_known_pairs_nothing() {
    let mut redis = RedisServer::start().await;
    let port = redis.port;
    let (emulator, env) = emulator().await;
    emulator.switches().set_latency(Duration::from_millis(20));
    let cluster = start(
        3,
        &env,
        &redis,
        &[
            &[],
            &[],
            &[("FLEXROUTE_PROVISIONING_REDIS_UNAVAILABLE", "not-ready")],
        ],
    )
    .await;
    let client = client();
    // `de` is provisioned (by the first) and known to all.
    let (_, body) = cluster.replicas[0].ask("site=multi&lang=de").await;
    let de = sid(&body);
    for replica in &cluster.replicas {
        let (_, body) = replica.ask("site=multi&lang=de").await;
        assert_eq!(sid(&body), de);
    }
    // Load on the known pairs, from four clients, until told to stop.
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut load = Vec::new();
    for worker in 0..4 {
        let urls: Vec<String> = cluster
            .replicas
            .iter()
            .flat_map(|r| {
                [
                    r.config_url("site=multi&lang=en"),
                    r.config_url("site=multi&lang=de"),
                ]
            })
            .collect();
        let (client, sent, failed, stop, de) = (
            client.clone(),
            sent.clone(),
            failed.clone(),
            stop.clone(),
            de.clone(),
        );
        load.push(tokio::spawn(async move {
            let stopped = stop.notified();
            tokio::pin!(stopped);
            let mut i = worker;
            loop {
                let url = &urls[i % urls.len()];
                i += 1;
                let request = client.get(url).send();
                let response = tokio::select! {
                    () = &mut stopped => return,
                    response = request => response,
                };
                sent.fetch_add(1, Ordering::Relaxed);
                let ok = match response {
                    Ok(r) if r.status() == 200 => {
                        let body = json(r).await;
                        body.get("degraded").is_none() && (url.ends_with("en") || sid(&body) == de)
                    }
                    _ => false,
                };
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.kill().await;
    let down_at = Instant::now();
    let (sent_before, failed_before) =
        (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let ready = |replica: &Running| format!("http://{}/readyz", replica.public);
    eventually(
        Duration::from_secs(10),
        "not-ready replica unready",
        async || {
            client
                .get(ready(&cluster.replicas[2]))
                .send()
                .await
                .unwrap()
                .status()
                == 503
        },
    )
    .await;
    assert_eq!(
        client
            .get(ready(&cluster.replicas[0]))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "serve-stale stays ready"
    );
    // A new pair while Redis is down: the degraded answer, quickly, and no create.
    let asked = Instant::now();
    for replica in &cluster.replicas {
        let (status, body) = replica.ask("site=multi&lang=fr").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["degraded"], true, "{body}");
        assert_eq!(sid(&body), PINNED_EN);
    }
    let degraded_in = asked.elapsed() / 3;
    assert_eq!(emulator.calls(Op::Create), 1, "no create without a lease");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let outage_sent = sent.load(Ordering::Relaxed) - sent_before;
    let outage_failed = failed.load(Ordering::Relaxed) - failed_before;
    let mut restarted = RedisServer::start_on(port).await;
    let outage = down_at.elapsed();
    // Converges without restarting flexroute: readiness back, `fr` provisioned once.
    eventually(Duration::from_secs(10), "ready again", async || {
        client
            .get(ready(&cluster.replicas[2]))
            .send()
            .await
            .unwrap()
            .status()
            == 200
    })
    .await;
    let mut fr = BTreeSet::new();
    for replica in &cluster.replicas {
        let mut body = serde_json::Value::Null;
        eventually(Duration::from_secs(10), "fr provisioned", async || {
            body = replica.ask("site=multi&lang=fr").await.1;
            body.get("degraded").is_none()
        })
        .await;
        fr.insert(sid(&body));
    }
    assert_eq!(fr.len(), 1, "{fr:?}");
    assert_eq!(flows_named(&emulator, "multi", "fr").len(), 1);
    assert_eq!(emulator.calls(Op::Create), 2, "de and fr, once each");
    // What Redis lost (de) was written back from the replicas' memory.
    let mut connection = restarted.connection().await.unwrap();
    let mut stored: Option<String> = None;
    eventually(Duration::from_secs(10), "de written back", async || {
        stored = redis::cmd("HGET")
            .arg("flexroute:addresses")
            .arg("multi/de")
            .query_async(&mut connection)
            .await
            .unwrap();
        stored.is_some()
    })
    .await;
    assert!(stored.unwrap().contains(&de));
    stop.notify_waiters();
    for task in load {
        task.await.unwrap();
    }
    let (total_sent, total_failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!(
        "Redis outage under load: {outage_sent} requests for known pairs during the ~{outage:?} outage, {outage_failed} failed; \
         {total_sent} in the whole test, {total_failed} failed; a new pair's degraded answer took {degraded_in:?} while Redis was down"
    );
    assert_eq!(total_failed, 0, "no error for known pairs");
    restarted.kill().await;
    for replica in cluster.replicas {
        replica.stop().await;
    }
}

/// A replica that cannot provision (provisioning off) answers a missing pair with the degraded
/// answer; when another replica provisions it, the first learns the address through Redis and
/// serves it at once, without a restart and without a call to Twilio.
#[tokio::test]
async fn a_replica_learns_an_address_another_provisioned_without_a_restart() {
    let redis = RedisServer::start().await;
    let (emulator, env) = emulator().await;
    let cluster = start(
        2,
        &env,
        &redis,
        &[&[("FLEXROUTE_PROVISIONING_ENABLED", "false")], &[]],
    )
    .await;
    let (learner, provisioner) = (&cluster.replicas[0], &cluster.replicas[1]);
    let (status, before) = learner.ask("site=multi&lang=nl").await;
    assert_eq!(status, 200);
    assert_eq!(before["degraded"], true, "{before}");
    let (_, made) = provisioner.ask("site=multi&lang=nl").await;
    assert!(made.get("degraded").is_none(), "{made}");
    let provisioned_at = Instant::now();
    let mut after = serde_json::Value::Null;
    eventually(
        Duration::from_secs(5),
        "the learner serves it",
        async || {
            after = learner.ask("site=multi&lang=nl").await.1;
            after.get("degraded").is_none()
        },
    )
    .await;
    let learned_in = provisioned_at.elapsed();
    assert_eq!(sid(&after), sid(&made));
    assert_eq!(emulator.calls(Op::Create), 1);
    let metrics = learner.metrics().await;
    assert_eq!(
        metric(&metrics, r#"flexroute_provision_total{outcome="stored"}"#),
        Some(1.0),
        "learned from the store"
    );
    assert!(
        !metrics.contains("flexroute_upstream_requests_total{"),
        "the learner never called Twilio"
    );
    println!("a replica served an address provisioned elsewhere {learned_in:?} after it was made");
    for replica in cluster.replicas {
        replica.stop().await;
    }
}

/// A replica started while Redis is down (serve-stale): it starts, is ready, serves pinned
/// addresses and the degraded answer, and catches up when Redis arrives, with no restart. The
/// Redis password in its URL appears in no log line, at any level.
#[tokio::test]
async fn a_replica_started_while_redis_is_down_catches_up_and_never_shows_the_password() {
    const PASSWORD: &str = "redis-pass-6be1c0d9";
    let port = RedisServer::free_port();
    let (emulator, env) = emulator().await;
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{port}/0");
    let cluster = start_at(1, &env, &url, &[&[("FLEXROUTE_LOG", "trace")]]).await;
    let replica = &cluster.replicas[0];
    let client = client();
    let ready = format!("http://{}/readyz", replica.public);
    assert_eq!(client.get(&ready).send().await.unwrap().status(), 200);
    let (status, body) = replica.ask("site=multi&lang=en").await;
    assert_eq!((status, sid(&body)), (200, PINNED_EN.to_string()));
    let (status, body) = replica.ask("site=multi&lang=de").await;
    assert_eq!(status, 200);
    assert_eq!(body["degraded"], true, "{body}");
    assert_eq!(emulator.calls(Op::Create), 0, "no create without a lease");
    let _redis = RedisServer::start_with(port, Some(PASSWORD)).await;
    eventually(Duration::from_secs(10), "de provisioned", async || {
        replica
            .ask("site=multi&lang=de")
            .await
            .1
            .get("degraded")
            .is_none()
    })
    .await;
    assert_eq!(emulator.calls(Op::Create), 1);
    let metrics = replica.metrics().await;
    assert_eq!(metric(&metrics, "flexroute_state_store_up"), Some(1.0));
    assert!(!metrics.contains(PASSWORD));
    let log = cluster
        .replicas
        .into_iter()
        .next()
        .unwrap()
        .stop()
        .await
        .join("\n");
    assert!(log.contains("redis://***@127.0.0.1"), "described, masked");
    assert!(log.contains("cannot be reached at start"), "{log}");
    assert!(!log.contains(PASSWORD), "the Redis password is in the log");
}

/// What a replica given `state` says about its Redis: waits until `/admin/routes` names
/// `reason`, checks the metric, provokes failures with requests for an unpinned pair, and
/// returns the log. The warning repeats while the failure lasts, at most once per interval.
async fn diagnosed(state: &str, reason: &str, secret: &str) {
    const EVERY_MS: u64 = 300;
    let (_emulator, env) = emulator().await;
    let every = EVERY_MS.to_string();
    let cluster = start_at(
        1,
        &env,
        state,
        &[&[
            ("FLEXROUTE_ADMIN_TOKEN", ADMIN_TOKEN),
            ("FLEXROUTE_PROVISIONING_REDIS_WARN_EVERY_MS", &every),
        ]],
    )
    .await;
    let replica = &cluster.replicas[0];
    let client = client();
    let started = Instant::now();
    let admin = format!("http://{}/admin/routes", replica.ops);
    let routes = async || {
        let response = client
            .get(&admin)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    };
    let mut named = false;
    while !named && started.elapsed() < Duration::from_secs(10) {
        let body: serde_json::Value = serde_json::from_str(&routes().await).unwrap();
        named = body["state_store"] == serde_json::json!({"up": false, "problem": reason});
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if !named {
        let body = routes().await;
        let log = cluster.replicas.into_iter().next().unwrap().stop().await;
        panic!("{reason} not named in 10 s: {body}\n{}", log.join("\n"));
    }
    // Failures keep coming (requests for a pair without an address, the follower's retries).
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        let (status, body) = replica.ask("site=multi&lang=de").await;
        assert_eq!((status, &body["degraded"]), (200, &serde_json::json!(true)));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = routes().await;
    assert!(
        body.contains(&format!("\"problem\":\"{reason}\"")),
        "{body}"
    );
    let metrics = replica.metrics().await;
    for other in ["auth", "unreachable", "tls", "other"] {
        let series = format!("flexroute_state_store_problem{{reason=\"{other}\"}}");
        let expected = if other == reason { 1.0 } else { 0.0 };
        assert_eq!(metric(&metrics, &series), Some(expected), "{series}");
    }
    assert_eq!(metric(&metrics, "flexroute_state_store_up"), Some(0.0));
    let elapsed = started.elapsed();
    let log = cluster.replicas.into_iter().next().unwrap().stop().await;
    let warning = format!("the shared state store fails ({reason})");
    let warnings = log.iter().filter(|line| line.contains(&warning)).count();
    let most = (elapsed.as_millis() as u64 / EVERY_MS + 1) as usize;
    println!("{reason}: {warnings} warnings in {elapsed:?} at one per {EVERY_MS} ms at most");
    assert!(
        warnings >= 2 && warnings <= most,
        "{warnings} warnings in {elapsed:?} (at most {most}): {log:#?}"
    );
    let log = log.join("\n");
    for text in [&log, &metrics, &body] {
        assert!(!text.contains(secret), "the secret leaked: {text}");
    }
}

/// A wrong Redis password is named as such (`auth`): in `/admin/routes`, in
/// `flexroute_state_store_problem`, and in a warning repeated while it lasts; the password
/// nowhere.
#[tokio::test]
async fn a_wrong_redis_password_is_reported_as_auth_without_the_password() {
    const WRONG: &str = "wrong-pass-3f9a1c";
    let redis = RedisServer::start_with(RedisServer::free_port(), Some("right-pass-81d2e7")).await;
    let url = format!("redis://:{WRONG}@127.0.0.1:{}/0", redis.port);
    diagnosed(&url, "auth", WRONG).await;
}

/// A Redis that needs a password given none is `auth` too (`NOAUTH`).
#[tokio::test]
async fn a_missing_redis_password_is_reported_as_auth() {
    let redis = RedisServer::start_with(RedisServer::free_port(), Some("right-pass-81d2e7")).await;
    let url = format!("redis://127.0.0.1:{}/0", redis.port);
    diagnosed(&url, "auth", "right-pass-81d2e7").await;
}

/// Nothing listening on the port (held, bound without listening, so that no other test's
/// server takes it meanwhile): connections refused, `unreachable`.
#[tokio::test]
async fn a_closed_redis_port_is_reported_as_unreachable() {
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = closed.local_addr().unwrap().port();
    let url = format!("redis://:pass-closed-5e7b@127.0.0.1:{port}/0");
    diagnosed(&url, "unreachable", "pass-closed-5e7b").await;
    drop(closed);
}

/// `rediss://` to a Redis that speaks plain TCP: `tls`.
#[tokio::test]
async fn rediss_to_a_plain_redis_is_reported_as_tls() {
    let redis = RedisServer::start().await;
    let url = format!("rediss://:pass-tls-0c4d@127.0.0.1:{}/0", redis.port);
    diagnosed(&url, "tls", "pass-tls-0c4d").await;
}

/// Provisioning latency of one new pair (lookup + create at an emulator without added latency,
/// then the record), with the embedded file store and with the Redis lease: printed, not
/// asserted.
#[tokio::test]
async fn provisioning_latency_with_the_lease_versus_the_file_store() {
    let redis = RedisServer::start().await;
    let (_emulator, env) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file_state = format!("file:{}", dir.path().join("state").display());
    let mut report = Vec::new();
    for (store, state) in [("file", file_state.as_str()), ("redis", &redis.url())] {
        let cluster = start(
            1,
            &env,
            &redis,
            &[&[("FLEXROUTE_PROVISIONING_STATE", state)]],
        )
        .await;
        let replica = &cluster.replicas[0];
        let mut times = Vec::new();
        for language in MISSING {
            let started = Instant::now();
            let (status, body) = replica.ask(&format!("site=multi&lang={language}")).await;
            times.push(started.elapsed());
            assert_eq!(status, 200);
            assert!(body.get("degraded").is_none(), "{body}");
        }
        times.sort();
        report.push(format!(
            "{store}: median {:?} (min {:?}, max {:?})",
            times[2], times[0], times[4]
        ));
        for replica in cluster.replicas {
            replica.stop().await;
        }
    }
    println!(
        "first request for a new pair, 5 pairs each: {}",
        report.join("; ")
    );
}

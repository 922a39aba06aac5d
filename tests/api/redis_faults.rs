//! Replicas under Redis faults (issue 14): three real `flexroute serve` processes, a real
//! `redis-server` and the emulator, with TCP proxies (`support::proxy`) between the replicas and
//! Twilio and between them and Redis. Redis restarted empty in the middle of a burst never
//! gives a pair a second flow nor moves a served SID; a duplicate already at Twilio never makes
//! the fleet switch after a data loss, and a `FLUSHALL` is noticed at once; a lease granted to
//! a request that timed out does not hold its pair once Redis answers; stalls and resets of
//! the Redis connections cost known pairs nothing. Figures are printed (`--no-capture`), not
//! asserted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flexroute::twilio::emulator::Op;
use flexroute::twilio::types::FlexFlow;

use crate::support::{
    ACCOUNT, ADMIN_TOKEN, Fault, Fleet, Proxy, RedisServer, Running, client, emulator, eventually,
    flows_named, json, metric, replica_env, sid,
};

const LANGUAGES: [&str; 4] = ["de", "fr", "es", "it"];
const PINNED_EN: &str = "FO11111111111111111111111111111111";

/// `sites` sites `s0`, `s1`, …, each with `en` pinned and four languages to provision.
fn table(sites: usize) -> String {
    let mut toml = format!(
        "[twilio]\naccount_sid = \"{ACCOUNT}\"\nchat_service_sid = \"IS0123456789abcdef0123456789abcdef\"\n\
         [defaults]\nstudio_flow_sid = \"FW0123456789abcdef0123456789abcdef\"\n"
    );
    for i in 0..sites {
        toml.push_str(&format!(
            "[[sites]]\nid = \"s{i}\"\nhosts = [\"s{i}.example\"]\ndefault_language = \"en\"\n\
             languages = [\"en\", \"de\", \"fr\", \"es\", \"it\"]\n\
             [sites.language.en]\nflex_flow_sid = \"{PINNED_EN}\"\n"
        ));
    }
    toml
}

/// The timings of these replicas, over [`replica_env`]'s, and the admin token.
const TIMINGS: &[(&str, &str)] = &[
    ("FLEXROUTE_PROVISIONING_WAIT_MS", "300"),
    ("FLEXROUTE_PROVISIONING_REDIS_COMMAND_TIMEOUT_MS", "250"),
    ("FLEXROUTE_PROVISIONING_REDIS_CONNECT_TIMEOUT_MS", "250"),
    // The periodic re-read is far off: what is noticed here is noticed at once.
    ("FLEXROUTE_PROVISIONING_REDIS_RESYNC_MS", "60000"),
    ("FLEXROUTE_ADMIN_TOKEN", ADMIN_TOKEN),
];

/// The environment of a replica on `state` whose Twilio is at `twilio`, with `extra`.
fn replica_vars(state: &str, twilio: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    replica_env(state, twilio, &[TIMINGS, extra].concat())
}

/// `sites` sites' table served by one replica per entry of `twilio` (its Twilio base URL), all
/// on `state`.
async fn start(sites: usize, state: &str, twilio: &[String], extra: &[(&str, &str)]) -> Fleet {
    let envs = twilio.iter().map(|base| replica_vars(state, base, extra));
    Fleet::start(&table(sites), envs).await
}

/// The SID `replica` serves for the pair once it is provisioned (not degraded), within `limit`.
async fn served(replica: &Running, site: &str, language: &str, limit: Duration) -> String {
    let mut body = serde_json::Value::Null;
    eventually(
        limit,
        &format!("{site}/{language} provisioned"),
        async || {
            body = replica.ask(&format!("site={site}&lang={language}")).await.1;
            body.get("degraded").is_none() && body["address"]["sid"].is_string()
        },
    )
    .await;
    sid(&body)
}

async fn admin_routes(replica: &Running) -> serde_json::Value {
    let response = client()
        .get(format!("http://{}/admin/routes", replica.ops))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    json(response).await
}

/// Redis is restarted empty in the middle of a burst of first requests, ten times, over three
/// replicas whose roads to Twilio are 0, 300 and 600 ms long (a create sent by the slowest is
/// applied long after the others could have looked). Every pair ends with one flow, served
/// alike by every replica, and no SID served ever changes afterwards.
#[tokio::test]
async fn redis_restarted_empty_mid_burst_never_duplicates_nor_moves_a_sid() {
    const RUNS: usize = 10;
    let mut redis = RedisServer::start().await;
    let port = redis.port;
    let (emulator, env) = emulator().await;
    let twilio_port: u16 = env
        .get("FLEXROUTE_TWILIO_FLEX_API_BASE")
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut proxies = Vec::new();
    for delay in [0, 300, 600] {
        let proxy = Proxy::start(twilio_port).await;
        proxy.set(Fault::DelayRequests(Duration::from_millis(delay)));
        proxies.push(proxy);
    }
    let bases: Vec<String> = proxies.iter().map(Proxy::url).collect();
    let fleet = start(RUNS, &redis.url(), &bases, &[]).await;
    let mut served_sids: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut settle_times = Vec::new();
    for run in 0..RUNS {
        let site = format!("s{run}");
        let mut burst = Vec::new();
        for i in 0..48 {
            let language = LANGUAGES[i % LANGUAGES.len()];
            let url = fleet.replicas[(i / LANGUAGES.len()) % 3]
                .config_url(&format!("site={site}&lang={language}"));
            burst.push(tokio::spawn(async move {
                let response = client().get(url).send().await.unwrap();
                response.status().as_u16()
            }));
        }
        // Somewhere inside the creates: leases held, lookups and creates on their way.
        tokio::time::sleep(Duration::from_millis(80 + 70 * run as u64)).await;
        redis.kill().await;
        redis = RedisServer::start_on(port).await;
        let restarted = Instant::now();
        for request in burst {
            assert_eq!(request.await.unwrap(), 200, "every request is answered");
        }
        for language in LANGUAGES {
            let mut sids = BTreeSet::new();
            for replica in &fleet.replicas {
                sids.insert(served(replica, &site, language, Duration::from_secs(20)).await);
            }
            assert_eq!(
                sids.len(),
                1,
                "{site}/{language}: one address everywhere: {sids:?}"
            );
            let sid = sids.into_iter().next().unwrap();
            assert_eq!(
                flows_named(&emulator, &site, language),
                vec![sid.clone()],
                "{site}/{language}: one flow, the one served (run {run})"
            );
            served_sids.insert((site.clone(), language.to_string()), sid);
        }
        settle_times.push(restarted.elapsed());
    }
    // Nothing served before moved, on any replica, and Redis has every record back.
    for replica in &fleet.replicas {
        for ((site, language), sid) in &served_sids {
            let (status, body) = replica.ask(&format!("site={site}&lang={language}")).await;
            assert_eq!(
                (status, crate::support::sid(&body)),
                (200, sid.clone()),
                "{site}/{language}"
            );
        }
    }
    let mut connection = redis.connection().await.unwrap();
    let mut stored = 0usize;
    eventually(
        Duration::from_secs(10),
        "every record in Redis",
        async || {
            stored = redis::cmd("HLEN")
                .arg("flexroute:addresses")
                .query_async(&mut connection)
                .await
                .unwrap();
            stored == served_sids.len()
        },
    )
    .await;
    assert_eq!(
        emulator.calls(Op::Create) as usize,
        served_sids.len(),
        "one create per pair"
    );
    settle_times.sort();
    println!(
        "Redis restarted empty mid-burst, {RUNS} runs × 4 pairs over 3 replicas (Twilio 0/300/600 ms away): \
         1 flow per pair in every run; all pairs served {:?} (median; {:?}–{:?}) after the restart",
        settle_times[RUNS / 2],
        settle_times[0],
        settle_times[RUNS - 1]
    );
    fleet.stop().await;
}

/// Two flows carry a pair's name; the store records the newer, which the fleet serves. Redis
/// is flushed and a replica restarts at the same moment: the data loss is noticed within a
/// heartbeat (the periodic re-read is a minute away), the served flow is written back, the
/// restarted replica never takes the older one, and `plan` lists the older as an orphan,
/// which `apply --delete-orphans` deletes.
#[tokio::test]
async fn a_duplicate_at_twilio_never_moves_the_fleet_after_a_flush() {
    let redis = RedisServer::start().await;
    let (emulator, env) = emulator().await;
    let base = twilio_base(&env);
    let older = "FO000000000000000000000000000000a1";
    let newer = "FO000000000000000000000000000000b2";
    for sid in [older, newer] {
        emulator.insert_flow(FlexFlow {
            sid: sid.into(),
            friendly_name: Some("WebChat s0 de".into()),
            ..FlexFlow::default()
        });
    }
    let mut connection = redis.connection().await.unwrap();
    let record = format!(
        r#"{{"site":"s0","language":"de","sid":"{newer}","friendly_name":"WebChat s0 de","source":"created","recorded_at":1}}"#
    );
    let _: () = redis::cmd("HSET")
        .arg("flexroute:addresses")
        .arg("s0/de")
        .arg(&record)
        .query_async(&mut connection)
        .await
        .unwrap();
    let bases = vec![base.clone(), base.clone(), base.clone()];
    let mut fleet = start(1, &redis.url(), &bases, &[]).await;
    for replica in &fleet.replicas {
        assert_eq!(
            replica.ask("site=s0&lang=de").await.1["address"]["sid"],
            newer
        );
    }
    // The data loss, and a replica that remembers nothing starting into it.
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut connection)
        .await
        .unwrap();
    let flushed = Instant::now();
    fleet.replicas.remove(2).kill9().await;
    fleet.add(&replica_vars(&redis.url(), &base, &[])).await;
    let mut written_back = None;
    eventually(
        Duration::from_secs(10),
        "the record written back",
        async || {
            let stored: Option<String> = redis::cmd("HGET")
                .arg("flexroute:addresses")
                .arg("s0/de")
                .query_async(&mut connection)
                .await
                .unwrap();
            written_back = stored;
            written_back.is_some()
        },
    )
    .await;
    let noticed_in = flushed.elapsed();
    assert!(
        written_back.unwrap().contains(newer),
        "the served flow is written back"
    );
    for replica in &fleet.replicas {
        assert_eq!(
            served(replica, "s0", "de", Duration::from_secs(10)).await,
            newer,
            "no replica moves to the older flow"
        );
    }
    assert_eq!(emulator.calls(Op::Create), 0);
    // Reported: `plan` lists the older as an orphan; apply deletes it on request.
    let table = fleet.table();
    let vars = replica_vars(&redis.url(), &base, &[]);
    // Not `std::process`: the emulator answers on this test's runtime, which must keep running.
    let run = async |args: &[&str]| {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_flexroute"))
            .args(args)
            .args(["--config", table.to_str().unwrap()])
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let plan = run(&["plan"]).await;
    assert!(
        plan.lines()
            .any(|l| l.contains("orphans") && l.contains(older) && !l.contains(newer)),
        "{plan}"
    );
    let applied = run(&["apply", "--delete-orphans"]).await;
    assert!(
        applied.contains(&format!("deleted orphan {older}")),
        "{applied}"
    );
    assert_eq!(flows_named(&emulator, "s0", "de"), vec![newer.to_string()]);
    println!(
        "FLUSHALL noticed and the served record written back {noticed_in:?} after it (resync every 60 s)"
    );
    fleet.stop().await;
}

/// With the store empty and no replica remembering, two flows with a pair's name are never
/// chosen between: the pair stays degraded, `/admin/routes` and the metric say why.
#[tokio::test]
async fn two_flows_with_a_pairs_name_and_no_record_are_never_guessed_between() {
    let redis = RedisServer::start().await;
    let (emulator, env) = emulator().await;
    let base = twilio_base(&env);
    for sid in [
        "FO000000000000000000000000000000c3",
        "FO000000000000000000000000000000d4",
    ] {
        emulator.insert_flow(FlexFlow {
            sid: sid.into(),
            friendly_name: Some("WebChat s0 fr".into()),
            ..FlexFlow::default()
        });
    }
    let fleet = start(1, &redis.url(), &[base], &[]).await;
    let replica = &fleet.replicas[0];
    let mut routes = serde_json::Value::Null;
    eventually(Duration::from_secs(10), "the pair failing", async || {
        let (status, body) = replica.ask("site=s0&lang=fr").await;
        assert_eq!((status, &body["degraded"]), (200, &serde_json::json!(true)));
        routes = admin_routes(replica).await;
        routes["routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["language"] == "fr" && r["state"] == "failing")
    })
    .await;
    let fr = routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["language"] == "fr")
        .unwrap();
    assert_eq!(fr["duplicates"].as_array().unwrap().len(), 2, "{fr}");
    assert!(
        fr["last_error"]
            .as_str()
            .unwrap()
            .contains("will not guess"),
        "{fr}"
    );
    assert_eq!(
        metric(&replica.metrics().await, "flexroute_duplicate_addresses"),
        Some(2.0)
    );
    assert_eq!(emulator.calls(Op::Create), 0);
    fleet.stop().await;
}

/// Redis's answers reach a replica late (longer than its command timeout) while it asks for a
/// pair's lease: the lease is granted in Redis to a request the replica gave up on. Once
/// Redis answers in time again, the pair is provisioned in well under the lease TTL (20 s).
#[tokio::test]
async fn a_lease_granted_to_a_timed_out_request_does_not_hold_the_pair() {
    let redis = RedisServer::start().await;
    let proxy = Proxy::start(redis.port).await;
    let (emulator, env) = emulator().await;
    let base = twilio_base(&env);
    let state = format!("redis://127.0.0.1:{}/0", proxy.port);
    let fleet = start(
        1,
        &state,
        &[base],
        &[("FLEXROUTE_PROVISIONING_REDIS_LEASE_TTL_MS", "20000")],
    )
    .await;
    let replica = &fleet.replicas[0];
    // A first pair provisioned: the lease script is loaded in Redis (a first call would only
    // be told `NOSCRIPT`, and run nothing).
    served(replica, "s0", "fr", Duration::from_secs(5)).await;
    proxy.set(Fault::DelayAnswers(Duration::from_millis(700)));
    let (status, body) = replica.ask("site=s0&lang=de").await;
    assert_eq!((status, &body["degraded"]), (200, &serde_json::json!(true)));
    // The grant ran in Redis: a lease nobody holds.
    let mut connection = redis.connection().await.unwrap();
    let mut stray: Option<String> = None;
    eventually(
        Duration::from_secs(5),
        "the stray grant in Redis",
        async || {
            stray = redis::cmd("GET")
                .arg("flexroute:lease:s0/de")
                .query_async(&mut connection)
                .await
                .unwrap();
            stray.is_some()
        },
    )
    .await;
    proxy.set(Fault::Pass);
    let answering = Instant::now();
    let sid = served(replica, "s0", "de", Duration::from_secs(8)).await;
    let took = answering.elapsed();
    assert!(sid.starts_with("FO"), "{sid}");
    assert_eq!(flows_named(&emulator, "s0", "de"), vec![sid]);
    assert!(
        took < Duration::from_secs(8),
        "within seconds of Redis answering, not the lease TTL"
    );
    println!(
        "a stray lease (TTL 20 s) let its pair be provisioned {took:?} after Redis answered again"
    );
    fleet.stop().await;
}

/// Three replicas under load on known pairs while their Redis connections stall for 1.5 s and
/// are then reset: no error for a known pair, a new pair degraded (never created without a
/// lease) until Redis answers, then created once.
#[tokio::test]
async fn stalled_and_reset_redis_connections_cost_known_pairs_nothing() {
    let redis = RedisServer::start().await;
    let proxy = Proxy::start(redis.port).await;
    let (emulator, env) = emulator().await;
    let base = twilio_base(&env);
    let state = format!("redis://127.0.0.1:{}/0", proxy.port);
    let fleet = start(1, &state, &[base.clone(), base.clone(), base], &[]).await;
    let de = served(&fleet.replicas[0], "s0", "de", Duration::from_secs(5)).await;
    for replica in &fleet.replicas {
        assert_eq!(
            served(replica, "s0", "de", Duration::from_secs(5)).await,
            de
        );
    }
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut load = Vec::new();
    for replica in &fleet.replicas {
        let urls = [
            replica.config_url("site=s0&lang=en"),
            replica.config_url("site=s0&lang=de"),
        ];
        let (stop, de) = (stop.clone(), de.clone());
        load.push(tokio::spawn(async move {
            let (mut sent, mut failed) = (0u64, 0u64);
            let stopped = stop.notified();
            tokio::pin!(stopped);
            for i in 0.. {
                let request = client().get(&urls[i % 2]).send();
                let response = tokio::select! {
                    () = &mut stopped => break,
                    response = request => response,
                };
                sent += 1;
                let ok = match response {
                    Ok(r) if r.status() == 200 => {
                        let body = json(r).await;
                        let want = if i % 2 == 0 { PINNED_EN } else { de.as_str() };
                        body.get("degraded").is_none() && sid(&body) == want
                    }
                    _ => false,
                };
                failed += u64::from(!ok);
            }
            (sent, failed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.set(Fault::Stall);
    let (status, body) = fleet.replicas[1].ask("site=s0&lang=fr").await;
    assert_eq!((status, &body["degraded"]), (200, &serde_json::json!(true)));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.set(Fault::Reset);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(emulator.calls(Op::Create), 1, "no create without a lease");
    proxy.set(Fault::Pass);
    let mut fr = BTreeSet::new();
    for replica in &fleet.replicas {
        fr.insert(served(replica, "s0", "fr", Duration::from_secs(10)).await);
    }
    assert_eq!(fr.len(), 1, "{fr:?}");
    assert_eq!(emulator.calls(Op::Create), 2, "de and fr, once each");
    stop.notify_waiters();
    let (mut sent, mut failed) = (0, 0);
    for task in load {
        let (s, f) = task.await.unwrap();
        sent += s;
        failed += f;
    }
    println!(
        "Redis stalled 1.5 s then reset under load: {sent} requests for known pairs, {failed} failed"
    );
    assert_eq!(failed, 0, "no error for known pairs");
    fleet.stop().await;
}

/// The emulator's URL, as the environment `emulator()` returned gives it to flexroute.
fn twilio_base(env: &flexroute::config::Environment) -> String {
    env.get("FLEXROUTE_TWILIO_FLEX_API_BASE")
        .unwrap()
        .to_string()
}

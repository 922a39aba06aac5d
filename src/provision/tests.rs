//! The provisioner's state machine, without HTTP in front of it: single flight, settling,
//! the back-off after a failure and its early end, the rule for same-named addresses. Against
//! the emulator on loopback and the in-memory store.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::store::MemoryStore;
use super::*;
use crate::config::{Config, Environment};
use crate::twilio::Credentials;
use crate::twilio::emulator::{Emulator, Op};
use crate::twilio::types::FlexFlow;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "state-machine-token";

const TABLE: &str = r#"
[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
chat_service_sid = "IS0123456789abcdef0123456789abcdef"
[defaults]
studio_flow_sid = "FW0123456789abcdef0123456789abcdef"
[[sites]]
id = "shop"
hosts = ["shop.example"]
default_language = "en"
languages = ["en", "de"]
"#;

struct Bench {
    emulator: Emulator,
    provisioner: Arc<Provisioner>,
    table: RoutingTable,
}

impl Bench {
    async fn start(backoff: Duration) -> Bench {
        let emulator = Emulator::new(ACCOUNT, vec![Credentials::new(ACCOUNT, TOKEN)]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let serving = emulator.clone();
        tokio::spawn(async move { serving.serve(listener, std::future::pending()).await });
        let config: Config =
            Config::from_toml_str(TABLE, &Environment::from_pairs::<&str, &str>([]))
                .unwrap()
                .config;
        let table = RoutingTable::build(&config);
        let metrics = Metrics::new();
        let client = FlexApiClient::new(
            &base,
            Credentials::new(ACCOUNT, TOKEN),
            Duration::from_secs(5),
            metrics.clone(),
        )
        .unwrap();
        let settings = Settings {
            client: Some(client),
            chat_service_sid: config.twilio.chat_service_sid.clone(),
            conversations_service_sid: None,
            friendly_name: "WebChat {site} {language}".into(),
            chat_address: "flexroute-{site}-{language}".into(),
            wait: Duration::from_secs(5),
            max_concurrent_calls: 4,
            failure_backoff: backoff,
            unready_without_store: false,
            upstream_timeout: Duration::from_secs(5),
        };
        let provisioner =
            Provisioner::new(&table, settings, Arc::new(MemoryStore::default()), metrics)
                .await
                .unwrap();
        Bench {
            emulator,
            provisioner,
            table,
        }
    }

    fn pair(&self, language: &str) -> (&Site, &Pair) {
        let site = &self.table.sites[0];
        let index = site.languages.position(language).unwrap();
        (site, &site.pairs[index])
    }

    async fn address(&self, language: &str) -> Lookup {
        let (site, pair) = self.pair(language);
        self.provisioner.address(site, pair).await
    }
}

#[tokio::test]
async fn concurrent_requests_share_one_flight_and_one_create() {
    let bench = Arc::new(Bench::start(Duration::from_secs(1)).await);
    bench
        .emulator
        .switches()
        .set_latency(Duration::from_millis(50));
    let mut waiting = Vec::new();
    for _ in 0..40 {
        let bench = bench.clone();
        waiting.push(tokio::spawn(async move { bench.address("de").await }));
    }
    let mut sids = std::collections::BTreeSet::new();
    for request in waiting {
        match request.await.unwrap() {
            Lookup::Ready(address) => sids.insert(address.sid().to_string()),
            Lookup::Unavailable => panic!("every request gets the address"),
        };
    }
    assert_eq!(sids.len(), 1);
    assert_eq!(bench.emulator.calls(Op::Create), 1);
    let (site, pair) = bench.pair("de");
    let (address, source) = bench.provisioner.known(site, pair).unwrap();
    assert_eq!(
        (address.sid(), source),
        (sids.first().unwrap().as_str(), Source::Created)
    );
    assert!(
        !bench.provisioner.is_provisioning(site, pair),
        "the flight left"
    );
    assert!(bench.provisioner.wait_idle(Duration::from_secs(1)).await);
}

#[tokio::test]
async fn a_failure_rests_the_pair_and_the_next_success_elsewhere_ends_the_rest() {
    let bench = Bench::start(Duration::from_secs(60)).await;
    bench
        .emulator
        .switches()
        .fail_for(Duration::from_secs(60), 400);
    assert_eq!(bench.address("de").await, Lookup::Unavailable);
    let (site, pair) = bench.pair("de");
    let failure = bench
        .provisioner
        .failure(site, pair)
        .expect("settled as a failure");
    assert_eq!(failure.attempts, 1);
    assert!(
        matches!(failure.error, ProvisionError::Upstream(_)),
        "{:?}",
        failure.error
    );
    assert!(failure.retry_at > std::time::Instant::now() + Duration::from_secs(20));
    // Resting: no attempt, no call.
    let calls = bench.emulator.calls(Op::List);
    assert_eq!(bench.address("de").await, Lookup::Unavailable);
    assert_eq!(
        bench.emulator.calls(Op::List),
        calls,
        "a resting pair costs no call"
    );
    // Twilio answers for another pair: the rest ends, the attempt count stays.
    bench.emulator.switches().clear_failures();
    assert!(matches!(bench.address("en").await, Lookup::Ready(_)));
    let failure = bench.provisioner.failure(site, pair).unwrap();
    assert!(failure.retry_at <= std::time::Instant::now());
    assert_eq!(failure.attempts, 1);
    assert!(matches!(bench.address("de").await, Lookup::Ready(_)));
    assert!(
        bench.provisioner.failure(site, pair).is_none(),
        "settled: failure forgotten"
    );
}

#[tokio::test]
async fn two_addresses_with_the_pairs_name_are_never_chosen_between() {
    let bench = Bench::start(Duration::from_secs(60)).await;
    for sid in [
        "FO000000000000000000000000000000e1",
        "FO000000000000000000000000000000e2",
    ] {
        bench.emulator.insert_flow(FlexFlow {
            sid: sid.into(),
            friendly_name: Some("WebChat shop de".into()),
            ..FlexFlow::default()
        });
    }
    assert_eq!(bench.address("de").await, Lookup::Unavailable);
    let (site, pair) = bench.pair("de");
    let failure = bench.provisioner.failure(site, pair).unwrap();
    match &failure.error {
        ProvisionError::Ambiguous { sids, .. } => assert_eq!(sids.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(bench.provisioner.duplicates(&key(site, pair)).len(), 2);
    assert_eq!(bench.emulator.calls(Op::Create), 0);
    // An operator's adoption settles it; the other stays an orphan for `plan`.
    let sid = "FO000000000000000000000000000000e1".to_string();
    let adopted = bench
        .provisioner
        .adopt(site, pair, sid.clone(), Source::Adopted)
        .await;
    assert_eq!(adopted, Ok(sid.clone()));
    let other = bench
        .provisioner
        .adopt(
            site,
            pair,
            "FO000000000000000000000000000000e2".into(),
            Source::Adopted,
        )
        .await;
    assert_eq!(other, Err(ProvisionError::AlreadyHas(sid)));
}

#[tokio::test]
async fn an_operators_apply_ignores_the_rest_after_a_failure() {
    let bench = Bench::start(Duration::from_secs(60)).await;
    bench.emulator.switches().fail_next(1, 400);
    assert_eq!(bench.address("de").await, Lookup::Unavailable);
    let (site, pair) = bench.pair("de");
    assert_eq!(bench.address("de").await, Lookup::Unavailable, "resting");
    let sid = bench.provisioner.provision_now(site, pair).await.unwrap();
    assert!(sid.starts_with("FO"), "{sid}");
    assert_eq!(bench.emulator.calls(Op::Create), 1);
}

//! Lazy provisioning against the emulator on loopback: find by name or create
//! once per pair however many requests arrive, remember it, serve it.

use std::sync::Arc;
use std::time::Duration;

use flexroute::provision::store::{BoxFuture, MemoryStore, StateStore, StoredAddress};
use flexroute::twilio::emulator::Op;
use flexroute::twilio::types::FlexFlow;

use crate::support::{
    ADMIN_TOKEN, FIXTURE, Server, emulator, eventually, flows_named, json, metric, services,
    start_provisioning,
};

#[tokio::test]
async fn first_request_creates_once_then_serves_from_cache() {
    let (emulator, env) = emulator().await;
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    let server = Server::start_full(FIXTURE, env, services(store.clone())).await;

    let body = server.config_json("site=initech&lang=it-IT").await;
    assert!(body.get("degraded").is_none(), "{body}");
    let created = flows_named(&emulator, "initech", "it-IT");
    assert_eq!(created.len(), 1);
    let sid = created[0].clone();
    assert_eq!(body["address"]["sid"], sid.as_str());
    assert_eq!(body["appConfig"]["flexFlowSid"], sid.as_str());
    // Created with the pair's settings.
    let flows = emulator.flows();
    let flow = flows.iter().find(|f| f.sid == sid).unwrap();
    assert_eq!(flow.channel_type.as_deref(), Some("web"));
    assert_eq!(flow.integration_type.as_deref(), Some("studio"));
    assert_eq!(
        flow.chat_service_sid.as_deref(),
        Some("IS0123456789abcdef0123456789abcdef")
    );
    assert_eq!(
        flow.integration
            .as_ref()
            .and_then(|i| i.flow_sid.as_deref()),
        Some("FW0123456789abcdef0123456789abcdef")
    );

    for _ in 0..5 {
        let again = server.config_json("site=initech&lang=it").await;
        assert_eq!(again["address"]["sid"], sid.as_str());
    }
    assert_eq!(emulator.calls(Op::Create), 1);
    assert_eq!(
        emulator.calls(Op::List),
        1,
        "one lookup by name before the create"
    );

    let recorded = store.load().await.unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].sid, sid);
    assert_eq!(recorded[0].source.as_str(), "created");

    let text = server.metrics().await;
    assert_eq!(
        metric(&text, r#"flexroute_provision_total{outcome="created"}"#),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, r#"flexroute_provision_total{outcome="pinned"}"#),
        Some(9.0)
    );
    assert_eq!(
        metric(
            &text,
            r#"flexroute_upstream_requests_total{op="create",status="2xx"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            r#"flexroute_upstream_requests_total{op="list",status="2xx"}"#
        ),
        Some(1.0)
    );
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
async fn five_hundred_concurrent_first_requests_make_one_create() {
    let (emulator, env) = emulator().await;
    emulator.switches().set_latency(Duration::from_millis(300));
    let server = start_provisioning(FIXTURE, env).await;
    let server = Arc::new(server);
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move { server.ask("site=hooli").await }));
    }
    let mut sids = std::collections::BTreeSet::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        sids.insert(body["address"]["sid"].as_str().unwrap().to_string());
    }
    assert_eq!(sids.len(), 1);
    assert_eq!(emulator.calls(Op::Create), 1, "exactly one POST");
    assert_eq!(flows_named(&emulator, "hooli", "en-US").len(), 1);
}

#[tokio::test]
async fn an_existing_flow_is_adopted_not_duplicated() {
    let (emulator, env) = emulator().await;
    let existing = FlexFlow {
        sid: "FO0000000000000000000000000000abcd".into(),
        friendly_name: Some("WebChat initech it-IT".into()),
        ..FlexFlow::default()
    };
    emulator.insert_flow(existing);
    let server = start_provisioning(FIXTURE, env).await;
    let body = server.config_json("site=initech&lang=it-IT").await;
    assert_eq!(body["address"]["sid"], "FO0000000000000000000000000000abcd");
    assert_eq!(emulator.calls(Op::Create), 0);
    let text = server.metrics().await;
    assert_eq!(
        metric(&text, r#"flexroute_provision_total{outcome="adopted"}"#),
        Some(1.0)
    );
    server.stop().await;
}

#[tokio::test]
async fn restart_with_the_store_makes_no_upstream_call() {
    let (emulator, env) = emulator().await;
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    let first = Server::start_full(FIXTURE, env.clone(), services(store.clone())).await;
    let sid = first.config_json("site=hooli").await["address"]["sid"].clone();
    first.stop().await;
    let before = [Op::List, Op::Create, Op::Fetch].map(|op| emulator.calls(op));

    let second = Server::start_full(FIXTURE, env, services(store)).await;
    let body = second.config_json("site=hooli").await;
    assert_eq!(body["address"]["sid"], sid);
    assert_eq!(
        [Op::List, Op::Create, Op::Fetch].map(|op| emulator.calls(op)),
        before
    );
    let text = second.metrics().await;
    assert_eq!(
        metric(&text, r#"flexroute_provision_total{outcome="stored"}"#),
        Some(1.0)
    );
    second.stop().await;
}

/// A store whose writes fail while `failing` is set (a full disk, a read-only volume).
#[derive(Default)]
struct FailingWrites {
    inner: MemoryStore,
    failing: std::sync::atomic::AtomicBool,
    refused: std::sync::atomic::AtomicUsize,
}

impl StateStore for FailingWrites {
    fn load(&self) -> BoxFuture<'_, std::io::Result<Vec<StoredAddress>>> {
        self.inner.load()
    }

    fn record(&self, address: StoredAddress) -> BoxFuture<'_, std::io::Result<()>> {
        use std::sync::atomic::Ordering;
        if self.failing.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Box::pin(async {
                Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "No space left on device",
                ))
            });
        }
        self.inner.record(address)
    }

    fn describe(&self) -> String {
        "a store whose writes fail on demand".into()
    }
}

/// An address whose record cannot be written is served (chat must not go away) but marked:
/// `"persisted": false` in `/admin/routes`, counted by `flexroute_unpersisted_addresses`, and
/// written again until the store takes it; then it is persisted and the gauge is 0. The same
/// for a flow the operator's apply adopts. No second create meanwhile.
#[tokio::test]
async fn an_address_that_cannot_be_written_is_served_marked_counted_and_retried() {
    use std::sync::atomic::Ordering;
    let (emulator, env) = emulator().await;
    let store = Arc::new(FailingWrites::default());
    store.failing.store(true, Ordering::SeqCst);
    let server = Server::start_full(FIXTURE, env, services(store.clone())).await;
    let all_routes = async |server: &Server| -> Vec<serde_json::Value> {
        let body = json(
            server
                .client
                .get(format!("http://{}/admin/routes", server.ops))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await;
        body["routes"].as_array().unwrap().clone()
    };
    let routes = async |server: &Server| -> serde_json::Value {
        all_routes(server)
            .await
            .into_iter()
            .find(|r| r["site"] == "initech" && r["language"] == "it-IT")
            .unwrap()
    };
    let unpersisted =
        async |server: &Server| metric(&server.metrics().await, "flexroute_unpersisted_addresses");
    assert_eq!(unpersisted(&server).await, Some(0.0));

    let body = server.config_json("site=initech&lang=it-IT").await;
    assert!(body.get("degraded").is_none(), "served: {body}");
    let sid = body["address"]["sid"].as_str().unwrap().to_string();
    let pair = routes(&server).await;
    assert_eq!(pair["state"], "ready", "{pair}");
    assert_eq!(pair["sid"], sid.as_str());
    assert_eq!(pair["persisted"], false, "{pair}");
    assert_eq!(unpersisted(&server).await, Some(1.0));
    // Retried while the writes fail, the address served all along.
    eventually(Duration::from_secs(10), "a retry", async || {
        store.refused.load(Ordering::SeqCst) >= 2
    })
    .await;
    assert!(store.load().await.unwrap().is_empty());
    assert_eq!(unpersisted(&server).await, Some(1.0));
    let again = server.config_json("site=initech&lang=it").await;
    assert_eq!(again["address"]["sid"], sid.as_str());

    // The operator's apply adopts a flow found by name (`adopt`): marked the same way.
    emulator.insert_flow(FlexFlow {
        sid: "FO00000000000000000000000000000077".into(),
        friendly_name: Some("WebChat hooli en-US".into()),
        ..FlexFlow::default()
    });
    let applied = server
        .client
        .post(format!(
            "http://{}/admin/provision?dry_run=false",
            server.ops
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(applied.status(), 200);
    let all = all_routes(&server).await;
    let hooli = all
        .iter()
        .find(|r| r["site"] == "hooli" && r["language"] == "en-US")
        .unwrap();
    assert_eq!(
        (hooli["sid"].as_str(), &hooli["persisted"]),
        (Some("FO00000000000000000000000000000077"), &false.into()),
        "{hooli}"
    );
    let marked = all.iter().filter(|r| r["persisted"] == false).count();
    assert!(marked >= 2, "{all:?}");
    assert_eq!(unpersisted(&server).await, Some(marked as f64));

    store.failing.store(false, Ordering::SeqCst);
    eventually(Duration::from_secs(10), "persisted", async || {
        all_routes(&server)
            .await
            .iter()
            .all(|r| r["persisted"] == true)
    })
    .await;
    assert_eq!(unpersisted(&server).await, Some(0.0));
    let recorded = store.load().await.unwrap();
    assert_eq!(recorded.len(), marked);
    assert!(recorded.iter().any(|r| r.sid == sid));
    assert!(
        recorded
            .iter()
            .any(|r| r.sid == "FO00000000000000000000000000000077")
    );
    assert_eq!(
        emulator.calls(Op::Create) as usize,
        marked - 1,
        "retries write, never create"
    );
    server.stop().await;
}

//! `/admin/*` on the ops listener: bearer token (off without one), each pair's state, and
//! plan/apply over HTTP against the emulator. Nothing secret in any answer.

use std::sync::Arc;

use flexroute::Services;
use flexroute::provision::store::MemoryStore;
use flexroute::twilio::Credentials;
use flexroute::twilio::types::{FlexFlow, Integration};

use crate::common::{FIXTURE, Server, json};
use crate::provisioning::{ACCOUNT, TOKEN, emulator, start_provisioning};

const ADMIN: &str = "admin-token-test-77";

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
        admin(&server, reqwest::Method::GET, "/admin/routes").header("Authorization", ADMIN),
        admin(&server, reqwest::Method::POST, "/admin/provision").bearer_auth("admin-token-test-7"),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body = json(response).await;
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(!body.to_string().contains(ADMIN));
    }
    server.stop().await;

    let without = Services {
        credentials: Some(Credentials::new(ACCOUNT, TOKEN)),
        store: Some(Arc::new(MemoryStore::default())),
        admin_token: None,
        config_source: None,
    };
    let server = Server::start_full(FIXTURE, env, without).await;
    let response = admin(&server, reqwest::Method::GET, "/admin/routes")
        .bearer_auth(ADMIN)
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
            .bearer_auth(ADMIN)
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
        .bearer_auth(ADMIN)
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
        .bearer_auth(ADMIN)
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
            .bearer_auth(ADMIN)
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
            .bearer_auth(ADMIN)
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
    .bearer_auth(ADMIN)
    .send()
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    // No credential anywhere in what admin and metrics return.
    let everything = format!("{plan}{applied}{again}{routes}{}", server.metrics().await);
    for secret in [TOKEN, ADMIN] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    server.stop().await;
}

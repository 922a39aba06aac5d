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

/// A webhook URL with credentials in it, configured or found at Twilio, is shown masked in the
/// plan's differences: over HTTP (`POST /admin/provision`) and by `flexroute plan`. When only the
/// credentials differ, the plan says so without showing either.
#[tokio::test]
async fn plan_differences_mask_webhook_credentials() {
    let (emulator, env) = emulator().await;
    let flow = |sid: &str, url: &str| FlexFlow {
        sid: sid.into(),
        friendly_name: Some(format!("hand-made {sid}")),
        chat_service_sid: Some("IS0123456789abcdef0123456789abcdef".into()),
        channel_type: Some("web".into()),
        enabled: Some(true),
        integration_type: Some("external".into()),
        integration: Some(Integration {
            url: Some(url.into()),
            ..Integration::default()
        }),
        ..FlexFlow::default()
    };
    emulator.insert_flow(flow(
        "FO00000000000000000000000000000001",
        "https://old:pw-found-7001@hooks.example/old",
    ));
    emulator.insert_flow(flow(
        "FO00000000000000000000000000000002",
        "https://hook:pw-found-7002@hooks.example/same",
    ));
    let table = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nshutdown_drain_ms = 0\n\
         [twilio]\naccount_sid = \"{ACCOUNT}\"\nchat_service_sid = \"IS0123456789abcdef0123456789abcdef\"\n\
         [defaults]\nintegration_type = \"external\"\n\
         [[sites]]\nid = \"shop\"\nhosts = [\"shop.example\"]\ndefault_language = \"en\"\nlanguages = [\"en\", \"de\"]\n\
         [sites.language.en]\nflex_flow_sid = \"FO00000000000000000000000000000001\"\nwebhook_url = \"https://hook:pw-wanted-8001@hooks.example/new\"\n\
         [sites.language.de]\nflex_flow_sid = \"FO00000000000000000000000000000002\"\nwebhook_url = \"https://hook:pw-wanted-8002@hooks.example/same\"\n"
    );
    let secrets = [
        "pw-found-7001",
        "pw-found-7002",
        "pw-wanted-8001",
        "pw-wanted-8002",
    ];

    let server = start_provisioning(&table, env.clone()).await;
    let answer = admin(
        &server,
        reqwest::Method::POST,
        "/admin/provision?dry_run=true",
    )
    .bearer_auth(ADMIN)
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    server.stop().await;
    for secret in secrets {
        assert!(!answer.contains(secret), "{secret} in {answer}");
    }
    let plan: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let difference = |language: &str| {
        let item = plan["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["language"] == language)
            .unwrap();
        assert_eq!(item["action"], "update", "{item}");
        let d = &item["differences"][0];
        assert_eq!(d["field"], "integration.url", "{item}");
        (
            d["wanted"].as_str().unwrap().to_string(),
            d["found"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        difference("en"),
        (
            "https://***@hooks.example/new".to_string(),
            "https://***@hooks.example/old".to_string()
        )
    );
    assert_eq!(
        difference("de"),
        (
            "https://***@hooks.example/same".to_string(),
            "https://***@hooks.example/same (the user-info differs)".to_string()
        )
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("table.toml");
    std::fs::write(&config, &table).unwrap();
    let output = tokio::process::Command::new(crate::running::BIN)
        .args(["plan", "--config", config.to_str().unwrap()])
        .env("TWILIO_ACCOUNT_SID", ACCOUNT)
        .env("TWILIO_AUTH_TOKEN", TOKEN)
        .env(
            "FLEXROUTE_TWILIO_FLEX_API_BASE",
            env.get("FLEXROUTE_TWILIO_FLEX_API_BASE").unwrap(),
        )
        .env(
            "FLEXROUTE_PROVISIONING_STATE",
            format!("file:{}", dir.path().join("state").display()),
        )
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains(
            "integration.url: wanted https://***@hooks.example/new, found https://***@hooks.example/old"
        ),
        "{text}"
    );
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

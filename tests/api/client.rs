//! The Flex API client against the emulator on loopback, and against Twilio's own example
//! bodies: paging, typed errors, both credential kinds, tolerance of old and new fields.

use std::time::Duration;

use flexroute::metrics::Metrics;
use flexroute::twilio::Credentials;
use flexroute::twilio::client::{FlexApiClient, TwilioError};
use flexroute::twilio::emulator::{Emulator, Op};
use flexroute::twilio::types::{ErrorBody, FlexFlow, FlexFlowPage, FlexFlowParams};
use tokio::net::TcpListener;

use crate::support::ACCOUNT;

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/reference/twilio-oai/examples"
);

async fn emulator(credentials: Vec<Credentials>) -> (Emulator, String) {
    let emulator = Emulator::new(ACCOUNT, credentials);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serving = emulator.clone();
    tokio::spawn(async move { serving.serve(listener, std::future::pending()).await });
    (emulator, base)
}

fn client(base: &str, credentials: Credentials) -> FlexApiClient {
    FlexApiClient::new(base, credentials, Duration::from_secs(5), Metrics::new()).unwrap()
}

fn params(name: &str) -> FlexFlowParams {
    FlexFlowParams {
        friendly_name: Some(name.into()),
        chat_service_sid: Some("IS0123456789abcdef0123456789abcdef".into()),
        channel_type: Some("web".into()),
        enabled: Some(true),
        integration_type: Some("studio".into()),
        integration_flow_sid: Some("FW0123456789abcdef0123456789abcdef".into()),
        janitor_enabled: Some(false),
        ..FlexFlowParams::default()
    }
}

#[tokio::test]
async fn crud_paging_and_both_credential_kinds() {
    let api_key = Credentials::new("SK0123456789abcdef0123456789abcdef", "api-secret-1");
    let (emulator, base) = emulator(vec![
        Credentials::new(ACCOUNT, "auth-token-1"),
        api_key.clone(),
    ])
    .await;
    let with_token = client(&base, Credentials::new(ACCOUNT, "auth-token-1")).with_page_size(2);
    let with_key = client(&base, api_key);
    for i in 0..5 {
        let created = with_token
            .create(&params(&format!("WebChat s{i} en")))
            .await
            .unwrap();
        assert!(created.sid.starts_with("FO"));
        assert_eq!(created.janitor_enabled, Some(false));
        assert_eq!(created.enabled, Some(true));
    }
    let all = with_token.list(None).await.unwrap();
    assert_eq!(all.len(), 5, "followed next_page_url over 3 pages");
    assert_eq!(emulator.calls(Op::List), 3);
    let named = with_key.list(Some("WebChat s3 en")).await.unwrap();
    assert_eq!(named.len(), 1);
    let sid = named[0].sid.clone();
    let fetched = with_key.fetch(&sid).await.unwrap();
    assert_eq!(fetched.friendly_name.as_deref(), Some("WebChat s3 en"));
    let update = FlexFlowParams {
        janitor_enabled: Some(true),
        ..FlexFlowParams::default()
    };
    assert_eq!(
        with_key
            .update(&sid, &update)
            .await
            .unwrap()
            .janitor_enabled,
        Some(true)
    );
    with_key.delete(&sid).await.unwrap();
    assert!(matches!(
        with_key.fetch(&sid).await,
        Err(TwilioError::NotFound { .. })
    ));
}

#[tokio::test]
async fn errors_are_typed() {
    let (emulator, base) = emulator(vec![Credentials::new(ACCOUNT, "auth-token-1")]).await;
    let wrong = client(&base, Credentials::new(ACCOUNT, "not-the-token"));
    let error = wrong.list(None).await.unwrap_err();
    assert!(
        matches!(error, TwilioError::Unauthorized { code: Some(20003) }),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?}").contains("not-the-token"));
    assert!(
        !format!("{wrong:?}").contains("not-the-token"),
        "Debug redacts the secret"
    );

    let good = client(&base, Credentials::new(ACCOUNT, "auth-token-1"));
    let mut missing = params("x");
    missing.chat_service_sid = None;
    match good.create(&missing).await.unwrap_err() {
        TwilioError::Rejected {
            status: 400,
            code: Some(20001),
            message,
        } => {
            assert!(message.contains("ChatServiceSid"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    emulator.switches().fail_next(1, 429);
    let throttled = good.list(None).await.unwrap_err();
    assert!(matches!(
        throttled,
        TwilioError::RateLimited {
            code: Some(20429),
            ..
        }
    ));
    assert!(throttled.is_transient() && !throttled.may_have_applied());
    emulator.switches().fail_next(1, 500);
    let failed = good.create(&params("y")).await.unwrap_err();
    assert!(
        failed.is_transient() && failed.may_have_applied(),
        "{failed:?}"
    );

    emulator.switches().set_down(true);
    emulator.switches().wait_listening(false).await;
    let down = good.list(None).await.unwrap_err();
    assert!(matches!(down, TwilioError::Transport(_)), "{down:?}");
    emulator.switches().set_down(false);
    emulator.switches().wait_listening(true).await;

    let slow = FlexApiClient::new(
        &base,
        Credentials::new(ACCOUNT, "auth-token-1"),
        Duration::from_millis(100),
        Metrics::new(),
    )
    .unwrap();
    emulator.switches().set_latency(Duration::from_millis(400));
    assert!(matches!(slow.list(None).await, Err(TwilioError::Timeout)));
}

/// Every Flex Flow and error example Twilio publishes parses, and so does the older shape
/// without `janitor_enabled` and `integration.retry_count`, and a body with fields we do not
/// know yet.
#[test]
fn parses_every_published_example() {
    let read = |name: &str| std::fs::read_to_string(format!("{EXAMPLES}/{name}")).unwrap();
    for name in ["flex_flow_fetch.json", "flex_flow_create_201.json"] {
        let flow: FlexFlow = serde_json::from_str(&read(name)).unwrap();
        assert_eq!(flow.sid, "FOaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_eq!(flow.integration.unwrap().retry_count, Some(1));
    }
    let page: FlexFlowPage = serde_json::from_str(&read("flex_flow_list_page.json")).unwrap();
    assert_eq!(page.flex_flows.len(), 1);
    assert_eq!(page.meta.key.as_deref(), Some("flex_flows"));
    assert_eq!(page.meta.next_page_url, None);
    let empty: FlexFlowPage = serde_json::from_str(&read("flex_flow_list_empty.json")).unwrap();
    assert!(empty.flex_flows.is_empty());
    let error: ErrorBody = serde_json::from_str(&read("error_400_twilio_go_test.json")).unwrap();
    assert_eq!(error.code, Some(20001));
    assert_eq!(error.status, Some(400));

    let mut old: serde_json::Value = serde_json::from_str(&read("flex_flow_fetch.json")).unwrap();
    old.as_object_mut().unwrap().remove("janitor_enabled");
    old["integration"]
        .as_object_mut()
        .unwrap()
        .remove("retry_count");
    old["chat_service_sid"] = "SIaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into();
    old["brand_new_field"] = serde_json::json!({"nested": [1, 2]});
    let flow: FlexFlow = serde_json::from_value(old).unwrap();
    assert_eq!(flow.janitor_enabled, None);
}

#[test]
fn credentials_from_the_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    };
    let token = Credentials::from_env(env(&[
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_AUTH_TOKEN", "t"),
    ]))
    .unwrap();
    assert_eq!((token.username.as_str(), token.secret()), (ACCOUNT, "t"));
    let key = Credentials::from_env(env(&[
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_AUTH_TOKEN", "t"),
        ("TWILIO_API_KEY", "SKx"),
        ("TWILIO_API_SECRET", "s"),
    ]))
    .unwrap();
    assert_eq!(
        (key.username.as_str(), key.secret()),
        ("SKx", "s"),
        "API keys win"
    );
    assert!(Credentials::from_env(env(&[("TWILIO_AUTH_TOKEN", "t")])).is_none());
    assert!(format!("{key:?}").contains("<redacted>") && !format!("{key:?}").contains("\"s\""));
}

/// A page whose `next_page_url` points at another origin (or carries userinfo) is refused:
/// the credentials go only where they were configured to go.
#[tokio::test]
async fn paging_never_leaves_the_configured_origin() {
    use axum::routing::get;
    for next in [
        "http://127.0.0.2:9/v1/FlexFlows?PageToken=x",
        "http://user@HOST/v1/FlexFlows?PageToken=x",
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let next = next.replace("HOST", &host);
        let page = serde_json::json!({
            "meta": {"page": 0, "page_size": 1, "key": "flex_flows", "next_page_url": next},
            "flex_flows": [{"sid": "FOaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}]
        });
        let app = axum::Router::new().route(
            "/v1/FlexFlows",
            get(move || async move { axum::Json(page) }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = client(
            &format!("http://{host}"),
            Credentials::new(ACCOUNT, "auth-token-1"),
        );
        match client.list(None).await {
            Err(TwilioError::Decode(message)) => {
                assert!(message.contains("next_page_url"), "{message}")
            }
            other => panic!("followed {next}: {other:?}"),
        }
    }
}

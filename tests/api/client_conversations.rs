//! The Twilio client's Flex Conversations calls against the emulator on loopback: address
//! configurations (paging followed, by SID and by address), web chats, messages; typed errors;
//! the `op` labels of `flexroute_upstream_requests_total`; Twilio's example bodies.

use std::time::Duration;

use flexroute::metrics::Metrics;
use flexroute::twilio::Credentials;
use flexroute::twilio::client::{FlexApiClient, TwilioError};
use flexroute::twilio::conversations::{
    AddressConfiguration, AddressConfigurationPage, AddressParams, Message, WebChat, WebChatParams,
};
use flexroute::twilio::emulator::Op;
use tokio::net::TcpListener;

use crate::support::conversations::{KEY, SECRET, emulator};
use crate::support::{ACCOUNT, TOKEN, metric};

const FLOW: &str = "FW0123456789abcdef0123456789abcdef";
const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/reference/twilio-oai/examples"
);

fn client(base: &str, user: &str, secret: &str, metrics: &Metrics) -> FlexApiClient {
    let credentials = Credentials::new(user, secret);
    FlexApiClient::new(base, credentials, Duration::from_secs(5), metrics.clone()).unwrap()
}

fn chat(address: &str) -> AddressParams {
    AddressParams {
        address_type: Some("chat".into()),
        address: Some(address.into()),
        friendly_name: Some(format!("web chat {address}")),
        auto_creation_enabled: Some(true),
        auto_creation_type: Some("studio".into()),
        auto_creation_studio_flow_sid: Some(FLOW.into()),
        ..AddressParams::default()
    }
}

fn requests(metrics: &Metrics, op: &str, status: &str) -> f64 {
    let text = String::from_utf8(metrics.render()).unwrap();
    let series = format!("flexroute_upstream_requests_total{{op=\"{op}\",status=\"{status}\"}}");
    metric(&text, &series).unwrap_or(0.0)
}

#[tokio::test]
async fn addresses_web_chats_and_messages_round_trip() {
    let (emulator, base) = emulator().await;
    let metrics = Metrics::new();
    // The emulator serves both APIs: by default the Conversations calls go to the Flex base.
    let by_token = client(&base, ACCOUNT, TOKEN, &metrics).with_page_size(2);
    assert_eq!(by_token.conversations_base(), base);
    let by_key = client(&base, KEY, SECRET, &metrics)
        .with_conversations_base(&base)
        .unwrap();
    let mut created = Vec::new();
    for n in 0..5 {
        let address = by_token
            .create_address(&chat(&format!("site-{n}")))
            .await
            .unwrap();
        assert!(address.sid.starts_with("IG"));
        assert_eq!(address.auto_creation.clone().unwrap().enabled, Some(true));
        created.push(address);
    }
    let phone = AddressParams {
        address_type: Some("sms".into()),
        address: Some("+1 555 0100".into()),
        ..AddressParams::default()
    };
    let phone = by_key.create_address(&phone).await.unwrap();

    let listed = by_token.list_chat_addresses().await.unwrap();
    assert_eq!(
        listed, created,
        "followed next_page_url over 3 pages, chat only"
    );
    assert_eq!(emulator.calls(Op::AddressList), 3);
    // Twilio's largest address page is 50, whatever the client's flow page size.
    let many = client(&base, ACCOUNT, TOKEN, &metrics);
    assert_eq!(many.list_chat_addresses().await.unwrap().len(), 5);
    assert_eq!(emulator.calls(Op::AddressList), 4);

    // By SID and by address (a space and a `+` in a path segment).
    let by_sid = by_key.fetch_address(&created[3].sid).await.unwrap();
    assert_eq!(by_sid, created[3]);
    assert_eq!(by_key.fetch_address("+1 555 0100").await.unwrap(), phone);
    let change = AddressParams {
        friendly_name: Some("renamed".into()),
        auto_creation_enabled: Some(false),
        ..AddressParams::default()
    };
    let updated = by_key.update_address("site-3", &change).await.unwrap();
    assert_eq!(updated.friendly_name.as_deref(), Some("renamed"));
    assert_eq!(updated.auto_creation.unwrap().enabled, Some(false));
    by_key.delete_address("+1 555 0100").await.unwrap();
    by_key.delete_address(&created[4].sid).await.unwrap();
    assert!(matches!(
        by_key.fetch_address(&created[4].sid).await,
        Err(TwilioError::NotFound { .. })
    ));
    assert_eq!(emulator.addresses().len(), 4);

    let params = WebChatParams {
        address_sid: created[0].sid.clone(),
        chat_friendly_name: Some("chat".into()),
        customer_friendly_name: Some("Larry".into()),
        pre_engagement_data: Some(r#"{"email":"larry@example.com"}"#.into()),
        identity: Some("guest-7".into()),
    };
    let chat = by_key
        .create_web_chat(&params, Some("3.2.0"))
        .await
        .unwrap();
    assert!(chat.conversation_sid.starts_with("CH"));
    assert_eq!(chat.identity.as_deref(), Some("guest-7"));
    let recorded = emulator.web_chats().remove(0);
    assert_eq!(recorded.ui_version.as_deref(), Some("3.2.0"));
    assert_eq!(
        recorded.pre_engagement_data,
        Some(serde_json::json!({"email": "larry@example.com"}))
    );
    let anonymous = WebChatParams {
        address_sid: created[1].sid.clone(),
        ..WebChatParams::default()
    };
    let other = by_token.create_web_chat(&anonymous, None).await.unwrap();
    assert!(other.identity.is_some_and(|i| !i.is_empty()));
    assert_eq!(emulator.web_chats()[1].ui_version, None);

    let message = by_key
        .post_message(&chat.conversation_sid, "guest-7", "Bonjour")
        .await
        .unwrap();
    assert_eq!(
        (
            message.index,
            message.author.as_deref(),
            message.body.as_deref()
        ),
        (Some(0), Some("guest-7"), Some("Bonjour"))
    );
    assert!(message.sid.starts_with("IM"));
    let recorded = emulator.messages().remove(0);
    assert!(recorded.webhook_enabled, "post_message asks for webhooks");
    assert_eq!(recorded.message, message);

    for (op, count) in [
        ("address_create", 6.0),
        ("address_list", 4.0),
        ("address_fetch", 2.0),
        ("address_update", 1.0),
        ("address_delete", 2.0),
        ("webchat_create", 2.0),
        ("message_create", 1.0),
    ] {
        assert_eq!(requests(&metrics, op, "2xx"), count, "{op}");
    }
    assert_eq!(requests(&metrics, "address_fetch", "404"), 1.0);
}

#[tokio::test]
async fn conversations_errors_are_typed() {
    let (emulator, base) = emulator().await;
    let metrics = Metrics::new();
    let good = client(&base, ACCOUNT, TOKEN, &metrics);
    let address = good.create_address(&chat("acme")).await.unwrap();

    match good.create_address(&chat("acme")).await.unwrap_err() {
        TwilioError::Rejected {
            status: 409,
            code: Some(20409),
            message,
        } => assert!(message.contains(&address.sid), "{message}"),
        other => panic!("{other:?}"),
    }
    let big = WebChatParams {
        address_sid: address.sid.clone(),
        pre_engagement_data: Some(format!("\"{}\"", "x".repeat(16 * 1024))),
        ..WebChatParams::default()
    };
    let error = good.create_web_chat(&big, None).await.unwrap_err();
    assert!(
        matches!(
            error,
            TwilioError::Rejected {
                status: 400,
                code: Some(45731),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_transient() && !error.may_have_applied());
    let unknown = WebChatParams {
        address_sid: "IG0123456789abcdef0123456789abcdef".into(),
        ..WebChatParams::default()
    };
    let error = good.create_web_chat(&unknown, None).await.unwrap_err();
    assert!(
        matches!(
            error,
            TwilioError::Rejected {
                code: Some(45765),
                ..
            }
        ),
        "{error:?}"
    );
    let error = good
        .post_message("CH0123456789abcdef0123456789abcdef", "a", "b")
        .await
        .unwrap_err();
    assert!(matches!(error, TwilioError::NotFound { .. }), "{error:?}");
    assert!(matches!(
        good.fetch_address("..").await,
        Err(TwilioError::NotFound { .. })
    ));

    let wrong = client(&base, KEY, "not-the-secret", &metrics);
    let error = wrong.list_chat_addresses().await.unwrap_err();
    assert!(
        matches!(error, TwilioError::Unauthorized { code: Some(20003) }),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?} {wrong:?}").contains("not-the-secret"));

    emulator.switches().fail_next(1, 429);
    let throttled = good.list_chat_addresses().await.unwrap_err();
    assert!(matches!(
        throttled,
        TwilioError::RateLimited {
            code: Some(20429),
            ..
        }
    ));
    emulator.switches().fail_next(1, 500);
    let failed = good.create_address(&chat("other")).await.unwrap_err();
    assert!(failed.may_have_applied(), "{failed:?}");
    assert_eq!(requests(&metrics, "address_create", "409"), 1.0);
    assert_eq!(requests(&metrics, "address_create", "500"), 1.0);
    assert_eq!(requests(&metrics, "webchat_create", "400"), 2.0);
    assert_eq!(requests(&metrics, "message_create", "404"), 1.0);
    assert_eq!(requests(&metrics, "address_list", "401"), 1.0);
    assert_eq!(requests(&metrics, "address_list", "429"), 1.0);
}

/// The client reads Twilio's own example bodies, and tolerates fields it does not know.
#[test]
fn parses_the_published_conversations_examples() {
    let read = |name: &str| std::fs::read_to_string(format!("{EXAMPLES}/{name}")).unwrap();
    let chat: AddressConfiguration = serde_json::from_str(&read(
        "conversations_address_configuration_create_chat_201.json",
    ))
    .unwrap();
    assert_eq!(chat.r#type.as_deref(), Some("chat"));
    let auto = chat.auto_creation.unwrap();
    assert_eq!(auto.webhook_method.as_deref(), Some("POST"));
    assert_eq!(auto.webhook_filters.unwrap().len(), 2);
    let page: AddressConfigurationPage =
        serde_json::from_str(&read("conversations_address_configuration_list.json")).unwrap();
    assert_eq!(page.address_configurations.len(), 3);
    assert_eq!(page.meta.key.as_deref(), Some("address_configurations"));
    let studio = page.address_configurations[1]
        .auto_creation
        .clone()
        .unwrap();
    assert_eq!(studio.studio_retry_count, Some(3));
    let web_chat: WebChat =
        serde_json::from_str(&read("flex_v2_webchats_create_201.json")).unwrap();
    assert_eq!(web_chat.identity.as_deref(), Some("seinfeld"));
    let message: Message = serde_json::from_value(serde_json::json!({
        "sid": "IMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "index": 3,
        "delivery": {"total": 2},
        "brand_new_field": [1, 2],
    }))
    .unwrap();
    assert_eq!(message.index, Some(3));
}

/// A page of address configurations whose `next_page_url` leaves the Conversations API's
/// origin is refused: the credentials go only where they were configured to go.
#[tokio::test]
async fn address_paging_never_leaves_the_configured_origin() {
    use axum::routing::get;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let page = serde_json::json!({
        "meta": {"page": 0, "page_size": 1, "key": "address_configurations",
                 "next_page_url": "http://127.0.0.2:9/v1/Configuration/Addresses?PageToken=x"},
        "address_configurations": [{"sid": "IGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}]
    });
    let app = axum::Router::new().route(
        "/v1/Configuration/Addresses",
        get(move || async move { axum::Json(page) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = client("http://127.0.0.1:9", ACCOUNT, TOKEN, &Metrics::new())
        .with_conversations_base(&format!("http://{host}"))
        .unwrap();
    match client.list_chat_addresses().await {
        Err(TwilioError::Decode(message)) => {
            assert!(message.contains("next_page_url"), "{message}")
        }
        other => panic!("followed the foreign page: {other:?}"),
    }
}

//! Flex v2 web chats and Conversations messages: the 201 shapes, what the emulator records,
//! identities echoed or made up, the address checks Flex makes, the 16 KB pre-engagement limit,
//! and messages with and without webhooks.

use flexroute::twilio::conversations::{AddressConfiguration, AutoCreation, Message, WebChat};
use flexroute::twilio::emulator::{MAX_PRE_ENGAGEMENT_BYTES, Op, is_sid};
use reqwest::StatusCode;
use serde_json::json;

use super::shape::Shape;
use super::{ADDRESSES, Upstream, parse, twilio_error};

#[tokio::test]
async fn a_web_chat_opens_a_conversation_and_is_recorded() {
    let upstream = Upstream::start().await;
    let address = upstream.create_chat_address("acme-fr-CA").await;
    let data = json!({"friendly_name": "Larry", "email": "larry@example.com", "topic": "billing"});
    let data_text = data.to_string();
    let form = [
        ("AddressSid", address.sid.as_str()),
        ("ChatFriendlyName", "LoquaciousLarry"),
        ("CustomerFriendlyName", "LarryDavid"),
        ("PreEngagementData", data_text.as_str()),
        ("Identity", "seinfeld"),
    ];
    let request = upstream
        .post("/v2/WebChats", &form)
        .header("Ui-Version", "3.2.0");
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let text = response.text().await.unwrap();
    // Twilio's example: exactly these two keys, in this order.
    let example = Shape::of(reference!("examples/flex_v2_webchats_create_201.json"));
    assert_eq!(Shape::of(&text).keys(), example.keys());
    let chat: WebChat = serde_json::from_str(&text).unwrap();
    assert!(is_sid(&chat.conversation_sid, "CH"), "{text}");
    assert_eq!(chat.identity.as_deref(), Some("seinfeld"));

    let recorded = upstream.emulator.web_chats();
    assert_eq!(recorded.len(), 1);
    let recorded = &recorded[0];
    assert_eq!(recorded.conversation_sid, chat.conversation_sid);
    assert_eq!(recorded.address_sid, address.sid);
    assert!(is_sid(&recorded.participant_sid, "MB"));
    assert_eq!(recorded.identity, "seinfeld");
    assert_eq!(
        recorded.chat_friendly_name.as_deref(),
        Some("LoquaciousLarry")
    );
    assert_eq!(
        recorded.customer_friendly_name.as_deref(),
        Some("LarryDavid")
    );
    assert_eq!(recorded.pre_engagement_data, Some(data));
    assert_eq!(recorded.ui_version.as_deref(), Some("3.2.0"));
    assert_eq!(upstream.emulator.calls(Op::WebChatCreate), 1);
    upstream.stop().await;
}

#[tokio::test]
async fn an_identity_is_made_up_when_none_is_given() {
    let upstream = Upstream::start().await;
    let address = upstream.create_chat_address("acme-en").await;
    let mut identities = Vec::new();
    for identity in [None, Some(""), None] {
        let mut form = vec![("AddressSid", address.sid.as_str())];
        form.extend(identity.map(|i| ("Identity", i)));
        let (status, chat): (_, WebChat) =
            parse(upstream.post("/v2/WebChats", &form).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::CREATED);
        let identity = chat.identity.unwrap();
        let groups: Vec<usize> = identity.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{identity}");
        identities.push(identity);
    }
    identities.sort();
    identities.dedup();
    assert_eq!(identities.len(), 3);
    let recorded = upstream.emulator.web_chats();
    assert_eq!(
        (
            recorded[0].pre_engagement_data.clone(),
            recorded[0].ui_version.clone()
        ),
        (None, None)
    );
    upstream.stop().await;
}

/// An address Flex cannot open a web chat on is refused with the code Flex documents for it,
/// and nothing is opened.
#[tokio::test]
async fn the_address_must_be_a_chat_address_that_auto_creates() {
    let upstream = Upstream::start().await;
    let bare = upstream
        .post(ADDRESSES, &[("Type", "chat"), ("Address", "bare")])
        .send()
        .await
        .unwrap();
    let (_, bare): (_, AddressConfiguration) = parse(bare).await;
    let mut disabled = super::chat_address("disabled");
    disabled.auto_creation_enabled = Some(false);
    let disabled = upstream.create_address(&disabled).await;
    let mut no_flow = super::chat_address("no-flow");
    no_flow.auto_creation_studio_flow_sid = None;
    let no_flow = upstream.create_address(&no_flow).await;
    let mut no_url = super::chat_address("no-url");
    no_url.auto_creation_type = Some("webhook".into());
    let no_url = upstream.create_address(&no_url).await;
    let mut sms = super::chat_address("+15550100");
    sms.address_type = Some("sms".into());
    let sms = upstream.create_address(&sms).await;
    // What the API never stores, but the Console or an older account might have.
    let untyped = AddressConfiguration {
        sid: "IG00000000000000000000000000000009".into(),
        r#type: Some("chat".into()),
        address: Some("untyped".into()),
        auto_creation: Some(AutoCreation {
            enabled: Some(true),
            ..AutoCreation::default()
        }),
        ..AddressConfiguration::default()
    };
    upstream.emulator.insert_address(untyped.clone());

    let missing = upstream
        .post("/v2/WebChats", &[("Identity", "x")])
        .send()
        .await
        .unwrap();
    let message = twilio_error(missing, 400, 20001).await;
    assert!(message.contains("AddressSid"), "{message}");
    for (sid, code) in [
        ("IG0123456789abcdef0123456789abcdef", 45765),
        ("not-a-sid", 45765),
        (sms.sid.as_str(), 45765),
        (bare.sid.as_str(), 45760),
        (disabled.sid.as_str(), 45761),
        (untyped.sid.as_str(), 45762),
        (no_flow.sid.as_str(), 45763),
        (no_url.sid.as_str(), 45764),
    ] {
        let response = upstream
            .post("/v2/WebChats", &[("AddressSid", sid)])
            .send()
            .await
            .unwrap();
        twilio_error(response, 400, code).await;
    }
    assert!(upstream.emulator.web_chats().is_empty());
    upstream.stop().await;
}

#[tokio::test]
async fn pre_engagement_data_is_json_of_at_most_16_kb() {
    let upstream = Upstream::start().await;
    let address = upstream.create_chat_address("acme-en").await;
    let sized = |bytes: usize| json!({ "note": "x".repeat(bytes - 11) }).to_string();
    assert_eq!(
        sized(MAX_PRE_ENGAGEMENT_BYTES).len(),
        MAX_PRE_ENGAGEMENT_BYTES
    );
    let at_limit = sized(MAX_PRE_ENGAGEMENT_BYTES);
    let form = [
        ("AddressSid", address.sid.as_str()),
        ("PreEngagementData", at_limit.as_str()),
    ];
    let (status, _): (_, WebChat) =
        parse(upstream.post("/v2/WebChats", &form).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    let over = sized(MAX_PRE_ENGAGEMENT_BYTES + 1);
    let form = [
        ("AddressSid", address.sid.as_str()),
        ("PreEngagementData", over.as_str()),
    ];
    let response = upstream.post("/v2/WebChats", &form).send().await.unwrap();
    let message = twilio_error(response, 400, 45731).await;
    assert_eq!(
        message,
        "Failed to create webchat conversation. Pre-engagement data too large."
    );
    let form = [
        ("AddressSid", address.sid.as_str()),
        ("PreEngagementData", "{not json"),
    ];
    let response = upstream.post("/v2/WebChats", &form).send().await.unwrap();
    let message = twilio_error(response, 400, 20001).await;
    assert!(message.contains("PreEngagementData"), "{message}");
    let recorded = upstream.emulator.web_chats();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].pre_engagement_data,
        Some(serde_json::from_str(&at_limit).unwrap())
    );
    upstream.stop().await;
}

#[tokio::test]
async fn messages_are_posted_in_order_and_recorded_with_the_webhook_flag() {
    let upstream = Upstream::start().await;
    let address = upstream.create_chat_address("acme-en").await;
    let chat = upstream.open_web_chat(&address.sid, "guest-1").await;
    let other = upstream.open_web_chat(&address.sid, "guest-2").await;
    let path = format!("/v1/Conversations/{}/Messages", chat.conversation_sid);
    let request = upstream
        .post(&path, &[("Author", "guest-1"), ("Body", "Bonjour")])
        .header("X-Twilio-Webhook-Enabled", "true");
    let (status, first): (_, Message) = parse(request.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(is_sid(&first.sid, "IM"), "{}", first.sid);
    assert_eq!(
        first.conversation_sid.as_deref(),
        Some(chat.conversation_sid.as_str())
    );
    assert_eq!(
        (first.author.as_deref(), first.body.as_deref(), first.index),
        (Some("guest-1"), Some("Bonjour"), Some(0))
    );
    let recorded_chat = upstream.emulator.web_chats()[0].clone();
    assert_eq!(
        first.participant_sid.as_deref(),
        Some(recorded_chat.participant_sid.as_str())
    );
    assert_eq!(first.attributes.as_deref(), Some("{}"));
    assert_eq!(
        first.url,
        Some(upstream.url(&format!("{path}/{}", first.sid)))
    );
    let links = first.links.clone().unwrap();
    assert_eq!(
        links.delivery_receipts,
        Some(format!("{}/Receipts", first.url.clone().unwrap()))
    );

    // No header: no webhooks; no author: `system`, who is no participant.
    let (_, second): (_, Message) = parse(
        upstream
            .post(&path, &[("Body", "Un agent arrive")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (
            second.index,
            second.author.as_deref(),
            second.participant_sid
        ),
        (Some(1), Some("system"), None)
    );
    // Each conversation counts its own messages.
    let elsewhere = format!("/v1/Conversations/{}/Messages", other.conversation_sid);
    let request = upstream
        .post(&elsewhere, &[("Author", "bot"), ("Body", "Hi")])
        .header("X-Twilio-Webhook-Enabled", "TRUE");
    let (_, third): (_, Message) = parse(request.send().await.unwrap()).await;
    assert_eq!(third.index, Some(0));

    let recorded = upstream.emulator.messages();
    let flags: Vec<_> = recorded
        .iter()
        .map(|m| (m.message.body.clone().unwrap(), m.webhook_enabled))
        .collect();
    assert_eq!(
        flags,
        [
            ("Bonjour".to_string(), true),
            ("Un agent arrive".to_string(), false),
            ("Hi".to_string(), true)
        ]
    );
    assert_eq!(recorded[0].message, first);
    assert_eq!(upstream.emulator.calls(Op::MessageCreate), 3);
    upstream.stop().await;
}

#[tokio::test]
async fn messages_need_a_known_conversation_and_a_body() {
    let upstream = Upstream::start().await;
    let address = upstream.create_chat_address("acme-en").await;
    let chat = upstream.open_web_chat(&address.sid, "guest").await;
    let unknown = "/v1/Conversations/CH00000000000000000000000000000000/Messages";
    let response = upstream
        .post(unknown, &[("Body", "hello")])
        .send()
        .await
        .unwrap();
    let message = twilio_error(response, 404, 20404).await;
    assert_eq!(
        message,
        format!("The requested resource {unknown} was not found")
    );
    let path = format!("/v1/Conversations/{}/Messages", chat.conversation_sid);
    let long = "x".repeat(1601);
    for (form, header, named) in [
        (vec![("Author", "guest")], None, "Body"),
        (vec![("Body", long.as_str())], None, "Body"),
        (vec![("Body", "x"), ("Attributes", "{")], None, "Attributes"),
        (vec![("Body", "x")], Some("yes"), "X-Twilio-Webhook-Enabled"),
    ] {
        let mut request = upstream.post(&path, &form);
        if let Some(value) = header {
            request = request.header("X-Twilio-Webhook-Enabled", value);
        }
        let message = twilio_error(request.send().await.unwrap(), 400, 20001).await;
        assert!(message.contains(named), "{message}");
    }
    assert!(upstream.emulator.messages().is_empty());
    upstream.stop().await;
}

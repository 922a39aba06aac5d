//! Every body the emulator answers on the Flex Conversations routes, checked against Twilio's
//! OpenAPI specs by a JSON-schema validator (`twilio_conversations_v1.json` for address
//! configurations and messages, `twilio_flex_v2.json` for web chats), against the key order of
//! Twilio's examples, and its errors against Twilio's error body.

use flexroute::twilio::conversations::{AddressConfiguration, AddressConfigurationPage, Message};
use jsonschema::Validator;
use serde_json::{Value, json};

use super::schema::{assert_valid, error_schema, validator_in};
use super::shape::Shape;
use super::{ACCOUNT_SID, ADDRESSES, AUTH_TOKEN, Upstream, chat_address};

const CONVERSATIONS: &str = reference!("twilio_conversations_v1.json");
const FLEX_V2: &str = reference!("twilio_flex_v2.json");

fn spec(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn address_validator() -> Validator {
    let schema = json!({ "$ref": "#/components/schemas/conversations.v1.configuration_address" });
    validator_in(CONVERSATIONS, &schema)
}

/// `ListConfigurationAddressResponse`: the schema of `GET /v1/Configuration/Addresses`' 200.
fn list_validator() -> Validator {
    let spec = spec(CONVERSATIONS);
    let ok = &spec["paths"][ADDRESSES]["get"]["responses"]["200"];
    let schema = &ok["content"]["application/json"]["schema"];
    assert_eq!(schema["title"], "ListConfigurationAddressResponse");
    validator_in(CONVERSATIONS, schema)
}

fn message_validator() -> Validator {
    let name = "conversations.v1.conversation.conversation_message";
    validator_in(
        CONVERSATIONS,
        &json!({ "$ref": format!("#/components/schemas/{name}") }),
    )
}

fn web_chat_validator() -> Validator {
    let schema = json!({ "$ref": "#/components/schemas/flex.v2.web_channel" });
    validator_in(FLEX_V2, &schema)
}

/// The spec's own examples of a created message.
fn message_examples() -> Vec<Value> {
    let spec = spec(CONVERSATIONS);
    let created = &spec["paths"]["/v1/Conversations/{ConversationSid}/Messages"]["post"]["responses"]
        ["201"]["content"]["application/json"]["examples"];
    let examples: Vec<Value> = created
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["value"].clone())
        .collect();
    assert_eq!(examples.len(), 5);
    examples
}

fn example(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn the_converted_specs_accept_twilios_examples_and_catch_broken_bodies() {
    let (addresses, lists) = (address_validator(), list_validator());
    let (messages, web_chats) = (message_validator(), web_chat_validator());
    let chat = example(reference!(
        "examples/conversations_address_configuration_create_chat_201.json"
    ));
    assert_valid(&addresses, &chat, "create_chat_201");
    let fetched = example(reference!(
        "examples/conversations_address_configuration_fetch.json"
    ));
    assert_valid(&addresses, &fetched, "fetch");
    let list = example(reference!(
        "examples/conversations_address_configuration_list.json"
    ));
    assert_valid(&lists, &list, "list");
    for message in message_examples() {
        assert_valid(&messages, &message, "a message example");
    }
    let web_chat = example(reference!("examples/flex_v2_webchats_create_201.json"));
    assert_valid(&web_chats, &web_chat, "webchats_create_201");
    assert_valid(
        &addresses,
        &json!({"sid": chat["sid"], "auto_creation": null, "address_country": null}),
        "an address with nulls",
    );

    let broken = |mut body: Value, pointer: &str, value: Value| {
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    assert!(!addresses.is_valid(&broken(chat.clone(), "/sid", json!("FO123"))));
    assert!(!addresses.is_valid(&broken(chat.clone(), "/account_sid", json!("ACxyz"))));
    assert!(!addresses.is_valid(&broken(chat.clone(), "/date_created", json!("today"))));
    assert!(!addresses.is_valid(&broken(chat, "/url", json!("/v1/Configuration"))));
    assert!(!lists.is_valid(&broken(list.clone(), "/meta/page", json!("0"))));
    let bad_item = broken(list, "/address_configurations/0/sid", json!("XX1"));
    assert!(!lists.is_valid(&bad_item));
    let message = message_examples().remove(0);
    assert!(!messages.is_valid(&broken(message.clone(), "/index", json!("0"))));
    assert!(!messages.is_valid(&broken(message.clone(), "/conversation_sid", json!("IG1"))));
    assert!(!messages.is_valid(&broken(message, "/participant_sid", json!("US1"))));
    assert!(!web_chats.is_valid(&broken(web_chat, "/conversation_sid", json!("CH12"))));
}

/// Keys and their order as in `example`, for the object and (when both have one) its
/// `auto_creation` / `links` / `meta`.
fn assert_same_keys(body: &str, example: &Shape) {
    let shape = Shape::of(body);
    assert_eq!(shape.keys(), example.keys(), "{body}");
    for nested in ["auto_creation", "links", "meta"] {
        if let (Some(Shape::Object(_)), Some(Shape::Object(_))) =
            (field(&shape, nested), field(example, nested))
        {
            assert_eq!(
                shape.field(nested).keys(),
                example.field(nested).keys(),
                "{nested}: {body}"
            );
        }
    }
}

fn field<'a>(shape: &'a Shape, name: &str) -> Option<&'a Shape> {
    match shape {
        Shape::Object(fields) => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
        _ => None,
    }
}

#[tokio::test]
async fn every_conversations_body_the_emulator_sends_validates_against_the_specs() {
    let upstream = Upstream::start().await;
    let text = |response: reqwest::Response| async move { response.text().await.unwrap() };
    let list_example = Shape::of(reference!(
        "examples/conversations_address_configuration_list.json"
    ));
    let Shape::Array(examples) = list_example.field("address_configurations") else {
        panic!("the list example has items")
    };
    // Webhook, Studio and default auto-creation, as in Twilio's list example.
    let (webhook, studio, default) = (&examples[0], &examples[1], &examples[2]);

    let mut hooked = chat_address("hooked");
    hooked.auto_creation_type = Some("webhook".into());
    hooked.auto_creation_webhook_url = Some("https://example.com/hook".into());
    hooked.auto_creation_webhook_method = Some("post".into());
    hooked.auto_creation_webhook_filters = vec!["onMessageAdded".into()];
    hooked.address_country = Some("CA".into());
    let mut plain = chat_address("plain");
    plain.auto_creation_type = Some("default".into());
    plain.auto_creation_conversation_service_sid = None;
    let post = |form: Vec<(&'static str, String)>| {
        upstream
            .request(reqwest::Method::POST, ADDRESSES)
            .form(&form)
            .send()
    };
    let mut addresses = Vec::new();
    for (params, example) in [
        (hooked, webhook),
        (chat_address("studio"), studio),
        (plain, default),
    ] {
        let body = text(post(params.to_form()).await.unwrap()).await;
        assert_same_keys(&body, example);
        addresses.push(body);
    }
    let bare = post(vec![
        ("Type", "sms".into()),
        ("Address", "+15550100".into()),
    ]);
    addresses.push(text(bare.await.unwrap()).await);
    let sid = serde_json::from_str::<AddressConfiguration>(&addresses[1])
        .unwrap()
        .sid;
    let one = format!("{ADDRESSES}/{sid}");
    addresses.push(text(upstream.get(&one).send().await.unwrap()).await);
    let update = upstream.post(&one, &[("FriendlyName", "renamed")]);
    addresses.push(text(update.send().await.unwrap()).await);
    let validator = address_validator();
    for body in &addresses {
        assert_valid(
            &validator,
            &serde_json::from_str(body).unwrap(),
            "an address",
        );
        assert_eq!(Shape::of(body).keys(), webhook.keys(), "{body}");
        serde_json::from_str::<AddressConfiguration>(body).unwrap();
    }

    let mut pages = Vec::new();
    let mut next = Some(upstream.url(&format!("{ADDRESSES}?Type=chat&PageSize=2")));
    while let Some(url) = next {
        let request = upstream
            .client
            .get(&url)
            .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN));
        let body = text(request.send().await.unwrap()).await;
        let page: AddressConfigurationPage = serde_json::from_str(&body).unwrap();
        next = page.meta.next_page_url;
        pages.push(body);
    }
    assert_eq!(pages.len(), 2);
    for query in ["", "?Type=email"] {
        let response = upstream.get(&format!("{ADDRESSES}{query}")).send().await;
        pages.push(text(response.unwrap()).await);
    }
    let lists = list_validator();
    for body in &pages {
        assert_valid(&lists, &serde_json::from_str(body).unwrap(), "a list page");
        assert_same_keys(body, &list_example);
    }

    let web_chat = upstream.post("/v2/WebChats", &[("AddressSid", sid.as_str())]);
    let web_chat = text(web_chat.send().await.unwrap()).await;
    assert_valid(
        &web_chat_validator(),
        &serde_json::from_str(&web_chat).unwrap(),
        "a web chat",
    );
    let chat = upstream.emulator.web_chats()[0].clone();
    let path = format!("/v1/Conversations/{}/Messages", chat.conversation_sid);
    // The spec's `create` example, keys in the spec's order (a `Value` would sort them).
    let spec_shape = Shape::of(CONVERSATIONS);
    let message_example = [
        "paths",
        "/v1/Conversations/{ConversationSid}/Messages",
        "post",
        "responses",
        "201",
        "content",
        "application/json",
        "examples",
        "create",
        "value",
    ]
    .iter()
    .fold(&spec_shape, |shape, key| shape.field(key));
    let validator = message_validator();
    for author in [chat.identity.as_str(), "an agent"] {
        let request = upstream
            .post(&path, &[("Author", author), ("Body", "hello")])
            .header("X-Twilio-Webhook-Enabled", "true");
        let body = text(request.send().await.unwrap()).await;
        assert_valid(
            &validator,
            &serde_json::from_str(&body).unwrap(),
            "a message",
        );
        assert_same_keys(&body, message_example);
        serde_json::from_str::<Message>(&body).unwrap();
    }

    // Errors: Twilio's four fields, whatever the route and the cause.
    let error_example = Shape::of(reference!("examples/error_400_twilio_go_test.json"));
    let error_keys = error_example.keys();
    upstream.emulator.switches().fail_next(1, 429);
    let huge = format!("\"{}\"", "x".repeat(16 * 1024));
    let mut failures = vec![
        upstream.get(ADDRESSES).send().await.unwrap(),
        post(chat_address("studio").to_form()).await.unwrap(),
        upstream
            .post(
                "/v2/WebChats",
                &[("AddressSid", sid.as_str()), ("PreEngagementData", &huge)],
            )
            .send()
            .await
            .unwrap(),
        upstream
            .post(
                "/v2/WebChats",
                &[("AddressSid", "IG0123456789abcdef0123456789abcdef")],
            )
            .send()
            .await
            .unwrap(),
        post(vec![("Address", "x".into())]).await.unwrap(),
        upstream
            .get(&format!("{ADDRESSES}?PageSize=51"))
            .send()
            .await
            .unwrap(),
        upstream
            .get(&format!("{ADDRESSES}/nobody"))
            .send()
            .await
            .unwrap(),
        upstream
            .post(
                "/v1/Conversations/CH0123456789abcdef0123456789abcdef/Messages",
                &[("Body", "x")],
            )
            .send()
            .await
            .unwrap(),
        upstream
            .client
            .post(upstream.url("/v2/WebChats"))
            .send()
            .await
            .unwrap(),
        upstream.get("/v2/WebChats").send().await.unwrap(),
    ];
    let errors = error_schema();
    let mut statuses = Vec::new();
    for response in failures.drain(..) {
        statuses.push(response.status().as_u16());
        let body = text(response).await;
        assert_valid(&errors, &serde_json::from_str(&body).unwrap(), "an error");
        assert_eq!(Shape::of(&body).keys(), error_keys, "{body}");
    }
    assert_eq!(statuses, [429, 409, 400, 400, 400, 400, 404, 404, 401, 405]);
    upstream.stop().await;
}

//! What the address configuration API accepts and refuses: a second configuration of an
//! address and type, values outside the spec (each refused naming its parameter), and booleans
//! and enums in any case.

use flexroute::twilio::conversations::AddressConfiguration;
use reqwest::StatusCode;

use super::{ADDRESSES, STUDIO_FLOW, Upstream, chat_address, parse, twilio_error};

#[tokio::test]
async fn a_second_configuration_of_an_address_and_type_is_refused() {
    let upstream = Upstream::start().await;
    let first = upstream.create_chat_address("acme-en").await;
    let again = chat_address("acme-en").to_form();
    let response = upstream
        .request(reqwest::Method::POST, ADDRESSES)
        .form(&again);
    let message = twilio_error(response.send().await.unwrap(), 409, 20409).await;
    assert!(message.contains(&first.sid), "{message}");
    // Another type may use the same address.
    let sms = [("Type", "sms"), ("Address", "acme-en")];
    let (status, _): (_, AddressConfiguration) =
        parse(upstream.post(ADDRESSES, &sms).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(upstream.emulator.addresses().len(), 2);
    upstream.stop().await;
}

#[tokio::test]
async fn bad_values_are_refused_naming_the_parameter() {
    let upstream = Upstream::start().await;
    for (form, named) in [
        (vec![("Address", "x")], "Missing required parameter Type"),
        (vec![("Type", "chat")], "Missing required parameter Address"),
        (vec![("Type", "chat"), ("Address", "")], "Address"),
    ] {
        let response = upstream.post(ADDRESSES, &form).send().await.unwrap();
        let message = twilio_error(response, 400, 20001).await;
        assert!(message.contains(named), "{message}");
    }
    for (name, value) in [
        ("Type", "web"),
        ("AutoCreation.Type", "flow"),
        ("AutoCreation.Enabled", "yes"),
        ("AutoCreation.WebhookMethod", "PUT"),
        ("AutoCreation.WebhookFilters", "onEverything"),
        ("AutoCreation.WebhookUrl", "not a url"),
        ("AutoCreation.StudioFlowSid", "FW123"),
        ("AutoCreation.ConversationServiceSid", STUDIO_FLOW),
        ("AutoCreation.StudioRetryCount", "9"),
        ("AddressCountry", "Canada"),
    ] {
        let mut form = vec![("Type", "chat"), ("Address", "x")];
        form.retain(|(k, _)| *k != name);
        form.push((name, value));
        let response = upstream.post(ADDRESSES, &form).send().await.unwrap();
        let message = twilio_error(response, 400, 20001).await;
        assert!(message.contains(name), "{name}: {message}");
    }
    assert!(upstream.emulator.addresses().is_empty());
    upstream.stop().await;
}

#[tokio::test]
async fn booleans_and_enums_are_read_in_any_case() {
    let upstream = Upstream::start().await;
    for (n, (value, expected)) in [
        ("True", true),
        ("TRUE", true),
        ("true", true),
        ("False", false),
    ]
    .into_iter()
    .enumerate()
    {
        let address = format!("case-{n}");
        let form = [
            ("Type", "Chat"),
            ("Address", address.as_str()),
            ("AutoCreation.Enabled", value),
            ("AutoCreation.Type", "DEFAULT"),
        ];
        let (status, created): (_, AddressConfiguration) =
            parse(upstream.post(ADDRESSES, &form).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::CREATED, "{value}");
        let auto = created.auto_creation.unwrap();
        assert_eq!(auto.enabled, Some(expected), "{value}");
        assert_eq!(auto.r#type.as_deref(), Some("default"));
        assert_eq!(created.r#type.as_deref(), Some("chat"));
        let path = format!("{ADDRESSES}/{}", created.sid);
        let flip = [(
            "AutoCreation.Enabled",
            if expected { "FALSE" } else { "True" },
        )];
        let (_, updated): (_, AddressConfiguration) =
            parse(upstream.post(&path, &flip).send().await.unwrap()).await;
        assert_eq!(updated.auto_creation.unwrap().enabled, Some(!expected));
    }
    upstream.stop().await;
}

//! Conversations address configurations: create, list (type filter, paging, page size bounds),
//! fetch/update/delete by SID and by address, addresses that existed before (what the API
//! refuses, and how it reads values, is in `address_values.rs`).

use flexroute::twilio::conversations::{
    AddressConfiguration, AddressConfigurationPage, AddressParams,
};
use flexroute::twilio::emulator::{Op, is_sid};
use reqwest::StatusCode;

use super::{
    ACCOUNT_SID, ADDRESSES, AUTH_TOKEN, CHAT_SERVICE, STUDIO_FLOW, Upstream, parse, twilio_error,
};

fn every_parameter() -> AddressParams {
    AddressParams {
        address_type: Some("chat".into()),
        address: Some("flexroute-acme-fr-CA".into()),
        friendly_name: Some("acme fr-CA".into()),
        auto_creation_enabled: Some(true),
        auto_creation_type: Some("webhook".into()),
        auto_creation_conversation_service_sid: Some(CHAT_SERVICE.into()),
        auto_creation_webhook_url: Some("https://hooks.example.com/chat?x=1".into()),
        auto_creation_webhook_method: Some("post".into()),
        auto_creation_webhook_filters: vec!["onParticipantAdded".into(), "onMessageAdded".into()],
        auto_creation_studio_flow_sid: None,
        auto_creation_studio_retry_count: None,
        address_country: Some("ca".into()),
    }
}

async fn page(upstream: &Upstream, url: &str) -> AddressConfigurationPage {
    let request = upstream
        .client
        .get(url)
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN));
    let (status, page) = parse(request.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{url}");
    page
}

#[tokio::test]
async fn create_answers_201_with_every_parameter_and_null_for_the_rest() {
    let upstream = Upstream::start().await;
    let created = upstream.create_address(&every_parameter()).await;
    assert!(is_sid(&created.sid, "IG"), "{}", created.sid);
    assert_eq!(created.sid[2..], created.sid[2..].to_lowercase());
    assert_eq!(created.account_sid.as_deref(), Some(ACCOUNT_SID));
    assert_eq!(created.r#type.as_deref(), Some("chat"));
    assert_eq!(created.address.as_deref(), Some("flexroute-acme-fr-CA"));
    assert_eq!(created.friendly_name.as_deref(), Some("acme fr-CA"));
    assert_eq!(created.address_country.as_deref(), Some("CA"));
    assert_eq!(
        created.url,
        Some(upstream.url(&format!("{ADDRESSES}/{}", created.sid)))
    );
    assert_eq!(created.date_created, created.date_updated);
    let auto = created.auto_creation.clone().unwrap();
    assert_eq!(auto.enabled, Some(true));
    assert_eq!(auto.r#type.as_deref(), Some("webhook"));
    assert_eq!(auto.conversation_service_sid.as_deref(), Some(CHAT_SERVICE));
    assert_eq!(
        auto.webhook_url.as_deref(),
        Some("https://hooks.example.com/chat?x=1")
    );
    // Sent as `post`, answered as Twilio does.
    assert_eq!(auto.webhook_method.as_deref(), Some("POST"));
    assert_eq!(
        auto.webhook_filters.unwrap(),
        ["onParticipantAdded", "onMessageAdded"]
    );
    assert_eq!(
        (auto.studio_flow_sid, auto.studio_retry_count),
        (None, None)
    );
    assert_eq!(upstream.emulator.addresses(), vec![created.clone()]);

    // Only the two required parameters: no auto-creation data, no name, no country.
    let minimal = [("Type", "sms"), ("Address", "+15550100")];
    let (status, bare): (_, AddressConfiguration) =
        parse(upstream.post(ADDRESSES, &minimal).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(bare.sid, created.sid);
    assert_eq!(
        (bare.auto_creation, bare.friendly_name, bare.address_country),
        (None, None, None)
    );
    assert_eq!(upstream.emulator.calls(Op::AddressCreate), 2);
    upstream.stop().await;
}

#[tokio::test]
async fn lists_by_type_and_follows_next_page_urls() {
    let upstream = Upstream::start().await;
    let mut chats = Vec::new();
    for n in 0..5 {
        chats.push(upstream.create_chat_address(&format!("chat-{n}")).await.sid);
        if n % 2 == 0 {
            let sms = AddressParams {
                address_type: Some("sms".into()),
                address: Some(format!("+1555010{n}")),
                ..AddressParams::default()
            };
            upstream.create_address(&sms).await;
        }
    }
    let mut url = upstream.url(&format!("{ADDRESSES}?Type=chat&PageSize=2"));
    let (mut seen, mut pages) = (Vec::new(), Vec::new());
    loop {
        assert!(url.starts_with(&upstream.url(ADDRESSES)), "{url}");
        let page = page(&upstream, &url).await;
        assert_eq!(page.meta.key.as_deref(), Some("address_configurations"));
        assert_eq!(page.meta.previous_page_url.is_none(), pages.is_empty());
        seen.extend(page.address_configurations.iter().map(|a| a.sid.clone()));
        pages.push(page.clone());
        match page.meta.next_page_url {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(seen, chats);
    let sizes: Vec<_> = pages
        .iter()
        .map(|p| (p.meta.page, p.address_configurations.len()))
        .collect();
    assert_eq!(sizes, [(0, 2), (1, 2), (2, 1)]);
    let first = upstream.url(&format!("{ADDRESSES}?Type=chat&PageSize=2&Page=0"));
    assert_eq!(
        pages[2].meta.first_page_url.as_deref(),
        Some(first.as_str())
    );
    let back = page(&upstream, &pages[2].meta.previous_page_url.clone().unwrap()).await;
    assert_eq!(back.address_configurations, pages[1].address_configurations);

    // No filter: every type, 50 a page by default; a filter in any case.
    let all = page(&upstream, &upstream.url(ADDRESSES)).await;
    assert_eq!(all.address_configurations.len(), 8);
    assert_eq!(all.meta.page_size, 50);
    let sms = page(&upstream, &upstream.url(&format!("{ADDRESSES}?Type=SMS"))).await;
    assert_eq!(sms.address_configurations.len(), 3);
    assert!(
        sms.address_configurations
            .iter()
            .all(|a| a.r#type.as_deref() == Some("sms"))
    );
    let none = page(&upstream, &upstream.url(&format!("{ADDRESSES}?Type=email"))).await;
    assert!(none.address_configurations.is_empty());
    page(
        &upstream,
        &upstream.url(&format!("{ADDRESSES}?PageSize=50")),
    )
    .await;

    // The spec's bounds: 1 to 50; and the types it lists.
    for (query, code) in [
        ("PageSize=51", 20007),
        ("PageSize=1000", 20007),
        ("PageSize=0", 20001),
        ("PageSize=two", 20001),
        ("Type=web", 20001),
        ("PageToken=nonsense", 20001),
    ] {
        let response = upstream
            .get(&format!("{ADDRESSES}?{query}"))
            .send()
            .await
            .unwrap();
        twilio_error(response, 400, code).await;
    }
    assert_eq!(upstream.emulator.calls(Op::AddressList), 4 + 4 + 6);
    upstream.stop().await;
}

#[tokio::test]
async fn fetches_updates_and_deletes_by_sid_and_by_address() {
    let upstream = Upstream::start().await;
    let phone = AddressParams {
        address_type: Some("sms".into()),
        address: Some("+15550100".into()),
        ..AddressParams::default()
    };
    let created = upstream.create_address(&phone).await;
    let by_sid = format!("{ADDRESSES}/{}", created.sid);
    // The address raw (as Twilio's Python library sends it) and percent-encoded.
    for path in [
        &by_sid,
        &format!("{ADDRESSES}/+15550100"),
        &format!("{ADDRESSES}/%2B15550100"),
    ] {
        let (status, fetched): (_, AddressConfiguration) =
            parse(upstream.get(path).send().await.unwrap()).await;
        assert_eq!((status, &fetched), (StatusCode::OK, &created), "{path}");
    }

    let change = [
        ("FriendlyName", "renamed"),
        ("AutoCreation.Enabled", "true"),
        ("AutoCreation.Type", "studio"),
        ("AutoCreation.StudioFlowSid", STUDIO_FLOW),
        ("AutoCreation.StudioRetryCount", "2"),
        // Not parameters of an update: ignored.
        ("Type", "chat"),
        ("Address", "+15550199"),
    ];
    let by_address = format!("{ADDRESSES}/%2B15550100");
    let (status, updated): (_, AddressConfiguration) =
        parse(upstream.post(&by_address, &change).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated.sid, created.sid);
    assert_eq!(updated.friendly_name.as_deref(), Some("renamed"));
    assert_eq!(
        (updated.r#type.as_deref(), updated.address.as_deref()),
        (Some("sms"), Some("+15550100"))
    );
    let auto = updated.auto_creation.clone().unwrap();
    assert_eq!(
        (
            auto.enabled,
            auto.r#type.as_deref(),
            auto.studio_retry_count
        ),
        (Some(true), Some("studio"), Some(2))
    );
    assert_eq!(auto.studio_flow_sid.as_deref(), Some(STUDIO_FLOW));
    assert_eq!(updated.url, Some(upstream.url(&by_sid)));
    assert!(updated.date_updated >= created.date_updated);
    assert_eq!(updated.date_created, created.date_created);
    let (_, refetched): (_, AddressConfiguration) =
        parse(upstream.get(&by_sid).send().await.unwrap()).await;
    assert_eq!(refetched, updated);

    let deleted = upstream.delete(&by_address).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(deleted.bytes().await.unwrap().is_empty());
    let message = twilio_error(upstream.get(&by_sid).send().await.unwrap(), 404, 20404).await;
    assert_eq!(
        message,
        format!("The requested resource {by_sid} was not found")
    );
    twilio_error(upstream.delete(&by_sid).send().await.unwrap(), 404, 20404).await;
    let response = upstream.post(&by_sid, &change).send().await.unwrap();
    twilio_error(response, 404, 20404).await;
    assert!(upstream.emulator.addresses().is_empty());
    let calls = [Op::AddressFetch, Op::AddressUpdate, Op::AddressDelete]
        .map(|op| upstream.emulator.calls(op));
    assert_eq!(calls, [5, 2, 2]);
    upstream.stop().await;
}

#[tokio::test]
async fn an_inserted_address_is_served_as_if_it_had_always_existed() {
    let upstream = Upstream::start().await;
    let existing: AddressConfiguration = serde_json::from_str(reference!(
        "examples/conversations_address_configuration_create_chat_201.json"
    ))
    .unwrap();
    upstream.emulator.insert_address(existing.clone());
    let by_address = format!("{ADDRESSES}/{}", existing.address.clone().unwrap());
    let (_, fetched): (_, AddressConfiguration) =
        parse(upstream.get(&by_address).send().await.unwrap()).await;
    let here = upstream.url(&format!("{ADDRESSES}/{}", existing.sid));
    assert_eq!(fetched.url.as_deref(), Some(here.as_str()));
    assert_eq!(
        AddressConfiguration {
            url: existing.url.clone(),
            ..fetched
        },
        existing
    );
    upstream.stop().await;
}

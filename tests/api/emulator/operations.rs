//! Authentication and the five operations: create, list (filter, paging), fetch, update,
//! delete, and flows seeded with `insert_flow`.

use flexroute::twilio::emulator::Op;
use flexroute::twilio::types::{FlexFlow, FlexFlowPage};
use reqwest::StatusCode;

use super::{
    ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, STUDIO_FLOW, Upstream, every_parameter, parse,
    twilio_error,
};

#[tokio::test]
async fn answers_401_without_valid_credentials_and_accepts_api_keys() {
    let upstream = Upstream::start().await;
    let list = upstream.url("/v1/FlexFlows");
    let anonymous = upstream.client.get(&list).send().await.unwrap();
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"Twilio API\""
    );
    assert_eq!(twilio_error(anonymous, 401, 20003).await, "Authenticate");
    for (user, secret) in [
        (ACCOUNT_SID, "wrong-token-0123456789abcdef0123"),
        (ACCOUNT_SID, API_SECRET),
        (API_KEY, AUTH_TOKEN),
        ("ACffffffffffffffffffffffffffffffff", AUTH_TOKEN),
    ] {
        let refused = upstream.client.get(&list).basic_auth(user, Some(secret));
        twilio_error(refused.send().await.unwrap(), 401, 20003).await;
    }
    // Unauthenticated requests reach no operation.
    assert_eq!(upstream.emulator.calls(Op::List), 0);
    let by_key = upstream
        .client
        .get(&list)
        .basic_auth(API_KEY, Some(API_SECRET));
    let (status, _): (_, FlexFlowPage) = parse(by_key.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upstream.emulator.calls(Op::List), 1);
    upstream.stop().await;
}

#[tokio::test]
async fn create_answers_201_echoing_every_parameter() {
    let upstream = Upstream::start().await;
    let given = every_parameter();
    let form = given.to_form();
    let response = upstream
        .request(reqwest::Method::POST, "/v1/FlexFlows")
        .form(&form);
    let (status, flow): (_, FlexFlow) = parse(response.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        flexroute::twilio::emulator::is_sid(&flow.sid, "FO"),
        "{}",
        flow.sid
    );
    assert_eq!(flow.sid[2..], flow.sid[2..].to_lowercase());
    assert_eq!(flow.account_sid.as_deref(), Some(ACCOUNT_SID));
    assert_eq!(
        flow.url,
        Some(upstream.url(&format!("/v1/FlexFlows/{}", flow.sid)))
    );
    assert_eq!(flow.date_created, flow.date_updated);
    let created = flow.date_created.clone().unwrap();
    assert!(created.len() == 20 && created.ends_with('Z'), "{created}");
    assert_eq!(flow.friendly_name, given.friendly_name);
    assert_eq!(flow.chat_service_sid, given.chat_service_sid);
    assert_eq!(flow.channel_type, given.channel_type);
    assert_eq!(flow.contact_identity, given.contact_identity);
    assert_eq!(flow.enabled, Some(true));
    assert_eq!(flow.integration_type, given.integration_type);
    assert_eq!(
        (flow.long_lived, flow.janitor_enabled),
        (Some(true), Some(true))
    );
    let integration = flow.integration.clone().unwrap();
    assert_eq!(integration.flow_sid, given.integration_flow_sid);
    assert_eq!(integration.url, given.integration_url);
    assert_eq!(integration.workspace_sid, given.integration_workspace_sid);
    assert_eq!(integration.workflow_sid, given.integration_workflow_sid);
    assert_eq!(integration.channel, given.integration_channel);
    assert_eq!(integration.timeout, given.integration_timeout);
    assert_eq!(integration.priority, given.integration_priority);
    assert_eq!(integration.creation_on_message, Some(true));
    assert_eq!(integration.retry_count, given.integration_retry_count);
    assert_eq!(upstream.emulator.flows(), vec![flow.clone()]);

    // Only the required three: documented defaults (false), Studio, no integration, a new SID.
    let minimal = upstream.create("minimal").await;
    assert_ne!(minimal.sid, flow.sid);
    assert_eq!(minimal.enabled, Some(false));
    assert_eq!(
        (minimal.long_lived, minimal.janitor_enabled),
        (Some(false), Some(false))
    );
    assert_eq!(minimal.integration_type.as_deref(), Some("studio"));
    assert_eq!(minimal.integration, None);
    assert_eq!(upstream.emulator.calls(Op::Create), 2);
    upstream.stop().await;
}

/// Twilio reads `True`, `TRUE` and `true` alike (the emulator refused `True` once).
#[tokio::test]
async fn flow_booleans_are_read_in_any_case() {
    let upstream = Upstream::start().await;
    let form = [
        ("FriendlyName", "capitalised"),
        ("ChatServiceSid", super::CHAT_SERVICE),
        ("ChannelType", "web"),
        ("Enabled", "True"),
        ("LongLived", "TRUE"),
        ("JanitorEnabled", "False"),
    ];
    let (status, flow): (_, FlexFlow) =
        parse(upstream.post("/v1/FlexFlows", &form).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (flow.enabled, flow.long_lived, flow.janitor_enabled),
        (Some(true), Some(true), Some(false))
    );
    let path = format!("/v1/FlexFlows/{}", flow.sid);
    let change = [
        ("Enabled", "FALSE"),
        ("Integration.CreationOnMessage", "tRuE"),
    ];
    let (_, updated): (_, FlexFlow) =
        parse(upstream.post(&path, &change).send().await.unwrap()).await;
    assert_eq!(updated.enabled, Some(false));
    assert_eq!(updated.integration.unwrap().creation_on_message, Some(true));
    upstream.stop().await;
}

#[tokio::test]
async fn lists_by_exact_friendly_name_and_allows_duplicates() {
    let upstream = Upstream::start().await;
    for name in ["acme en", "acme fr", "acme en", "Acme en", "acme en "] {
        upstream.create(name).await;
    }
    let (status, page): (_, FlexFlowPage) = parse(
        upstream
            .get("/v1/FlexFlows?FriendlyName=acme%20en")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = page
        .flex_flows
        .iter()
        .map(|f| f.friendly_name.clone().unwrap())
        .collect();
    assert_eq!(names, ["acme en", "acme en"]);
    assert_eq!(page.meta.key.as_deref(), Some("flex_flows"));
    assert_eq!((page.meta.page, page.meta.page_size), (0, 50));
    let first = upstream.url("/v1/FlexFlows?FriendlyName=acme+en&PageSize=50&Page=0");
    assert_eq!(page.meta.first_page_url.as_deref(), Some(first.as_str()));
    assert_eq!(page.meta.url.as_deref(), Some(first.as_str()));
    assert_eq!(
        (page.meta.previous_page_url, page.meta.next_page_url),
        (None, None)
    );
    let (_, none): (_, FlexFlowPage) = parse(
        upstream
            .get("/v1/FlexFlows?FriendlyName=nobody")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(none.flex_flows.is_empty());
    upstream.stop().await;
}

#[tokio::test]
async fn pages_follow_absolute_next_page_urls_to_the_end() {
    let upstream = Upstream::start().await;
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(upstream.create(&format!("flow {n}")).await.sid);
    }
    let mut url = upstream.url("/v1/FlexFlows?PageSize=2");
    let (mut seen, mut pages) = (Vec::new(), Vec::new());
    loop {
        // Followed as given: an absolute URL that points at the emulator itself.
        assert!(url.starts_with(&upstream.url("/v1/FlexFlows?")), "{url}");
        let response = upstream
            .client
            .get(&url)
            .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN));
        let (status, page): (_, FlexFlowPage) = parse(response.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page.meta.previous_page_url.is_none(), pages.is_empty());
        seen.extend(page.flex_flows.iter().map(|f| f.sid.clone()));
        pages.push(page.clone());
        match page.meta.next_page_url {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(seen, created);
    let sizes: Vec<_> = pages
        .iter()
        .map(|p| (p.meta.page, p.flex_flows.len()))
        .collect();
    assert_eq!(sizes, [(0, 2), (1, 2), (2, 1)]);
    // The last page leads back to the second.
    let back = pages[2].meta.previous_page_url.clone().unwrap();
    let response = upstream
        .client
        .get(&back)
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN));
    let (_, previous): (_, FlexFlowPage) = parse(response.send().await.unwrap()).await;
    assert_eq!(previous.flex_flows, pages[1].flex_flows);
    assert_eq!(upstream.emulator.calls(Op::List), 4);
    upstream.stop().await;
}

#[tokio::test]
async fn fetches_updates_and_deletes() {
    let upstream = Upstream::start().await;
    let flow = upstream.create("acme en").await;
    let path = format!("/v1/FlexFlows/{}", flow.sid);
    let (status, fetched): (_, FlexFlow) = parse(upstream.get(&path).send().await.unwrap()).await;
    assert_eq!((status, &fetched), (StatusCode::OK, &flow));

    let change = [
        ("FriendlyName", "acme en v2"),
        ("Enabled", "true"),
        ("IntegrationType", "studio"),
        ("Integration.FlowSid", STUDIO_FLOW),
    ];
    let (status, updated): (_, FlexFlow) =
        parse(upstream.post(&path, &change).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated.friendly_name.as_deref(), Some("acme en v2"));
    assert_eq!(updated.enabled, Some(true));
    assert_eq!(
        updated.integration.unwrap().flow_sid.as_deref(),
        Some(STUDIO_FLOW)
    );
    assert_eq!(
        (&updated.sid, &updated.chat_service_sid),
        (&flow.sid, &flow.chat_service_sid)
    );
    assert!(updated.date_updated >= flow.date_updated);
    assert_eq!(updated.date_created, flow.date_created);
    let (_, refetched): (_, FlexFlow) = parse(upstream.get(&path).send().await.unwrap()).await;
    assert_eq!(refetched.friendly_name.as_deref(), Some("acme en v2"));

    let deleted = upstream
        .request(reqwest::Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(deleted.bytes().await.unwrap().is_empty());
    let gone = format!("The requested resource {path} was not found");
    assert_eq!(
        twilio_error(upstream.get(&path).send().await.unwrap(), 404, 20404).await,
        gone
    );
    let again = upstream
        .request(reqwest::Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    twilio_error(again, 404, 20404).await;
    twilio_error(
        upstream.post(&path, &change).send().await.unwrap(),
        404,
        20404,
    )
    .await;
    assert!(upstream.emulator.flows().is_empty());
    let calls = [Op::Fetch, Op::Update, Op::Delete].map(|op| upstream.emulator.calls(op));
    assert_eq!(calls, [3, 2, 2]);
    upstream.stop().await;
}

#[tokio::test]
async fn an_inserted_flow_is_served_as_if_it_had_always_existed() {
    let upstream = Upstream::start().await;
    let existing: FlexFlow =
        serde_json::from_str(reference!("examples/flex_flow_fetch.json")).unwrap();
    upstream.emulator.insert_flow(existing.clone());
    let created = upstream.create("friendly_name").await;
    let (_, page): (_, FlexFlowPage) = parse(
        upstream
            .get("/v1/FlexFlows?FriendlyName=friendly_name")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let sids: Vec<_> = page.flex_flows.iter().map(|f| f.sid.as_str()).collect();
    assert_eq!(sids, [existing.sid.as_str(), created.sid.as_str()]);
    // Served with a URL pointing here, everything else as inserted.
    let served = &page.flex_flows[0];
    assert_eq!(
        served.url,
        Some(upstream.url(&format!("/v1/FlexFlows/{}", existing.sid)))
    );
    assert_eq!(
        FlexFlow {
            url: existing.url.clone(),
            ..served.clone()
        },
        existing
    );
    upstream.stop().await;
}

//! The session backend of `conversations` pairs, in process against the emulator on loopback:
//! a chat started on the pair's chat address with the visitor's form, its token, its refresh,
//! and everything a hostile or mistaken client can send refused before any upstream call.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flexroute::session::token::{SigningKey, TokenIssuer};
use flexroute::twilio::emulator::Op;
use serde_json::{Value, json};

use crate::support::conversations::{KEY, ORIGIN, SECRET, SERVICE, emulator, start, table};
use crate::support::jwt::now_ms;
use crate::support::{ACCOUNT, Server, eventually, json, metric, raw_exchange, series};

fn issuer(secret: &str) -> TokenIssuer {
    let key = SigningKey::new(ACCOUNT, KEY, secret).unwrap();
    TokenIssuer::new(key, SERVICE, Duration::from_secs(3600)).unwrap()
}

/// `POST /v1/webchat/shop/{language}/{route}` from the allowed origin, with a JSON body.
fn post(server: &Server, language: &str, route: &str, body: &Value) -> reqwest::RequestBuilder {
    server
        .client
        .post(server.url(&format!("/v1/webchat/shop/{language}/{route}")))
        .header("Origin", ORIGIN)
        .header("Content-Type", "application/json")
        .body(body.to_string())
}

#[tokio::test]
async fn a_chat_starts_on_the_pairs_chat_address_with_the_form_site_and_language() {
    let (emulator, base) = emulator().await;
    let server = start(&table(""), &base).await;

    // The config answer for a conversations pair: the address, and where its backend is.
    let config = server.config_json("site=shop&lang=fr").await;
    assert_eq!(config["address"]["kind"], "conversations", "{config}");
    let address_sid = config["address"]["sid"].as_str().unwrap().to_string();
    assert!(address_sid.starts_with("IG"), "{config}");
    assert_eq!(config["appConfig"]["serverUrl"], "/v1/webchat/shop/fr");
    assert!(config["appConfig"].get("accountSid").is_none(), "{config}");
    assert!(config["appConfig"].get("flexFlowSid").is_none(), "{config}");
    // Created as a chat address with the pair's Studio flow and the Conversations service.
    let addresses = emulator.addresses();
    assert_eq!(addresses.len(), 1);
    let created = &addresses[0];
    assert_eq!(created.sid, address_sid);
    assert_eq!(created.r#type.as_deref(), Some("chat"));
    assert_eq!(created.address.as_deref(), Some("flexroute-shop-fr"));
    assert_eq!(created.friendly_name.as_deref(), Some("WebChat shop fr"));
    let auto = created.auto_creation.clone().unwrap();
    assert_eq!(auto.enabled, Some(true));
    assert_eq!(auto.r#type.as_deref(), Some("studio"));
    assert_eq!(
        auto.studio_flow_sid.as_deref(),
        Some("FW0123456789abcdef0123456789abcdef")
    );
    assert_eq!(auto.conversation_service_sid.as_deref(), Some(SERVICE));

    let before = now_ms();
    let form =
        json!({"friendlyName": "Ana", "email": "ana@example.com", "query": "Where is my order?"});
    let response = post(&server, "fr", "initWebchat", &json!({ "formData": form }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    let started = json(response).await;
    let conversation = started["conversationSid"].as_str().unwrap();
    let identity = started["identity"].as_str().unwrap();
    assert!(conversation.starts_with("CH"), "{started}");
    let expiration = started["expiration"].as_u64().unwrap();
    assert!(
        (before + 3_590_000..=now_ms() + 3_600_000).contains(&expiration),
        "{expiration}"
    );
    // The token is ours, for the identity Twilio gave the visitor.
    let verified = issuer(SECRET)
        .verify(started["token"].as_str().unwrap())
        .unwrap();
    assert_eq!(verified.identity, identity);

    let chats = emulator.web_chats();
    assert_eq!(chats.len(), 1);
    let chat = &chats[0];
    assert_eq!(chat.conversation_sid, conversation);
    assert_eq!(chat.address_sid, address_sid);
    assert_eq!(chat.identity, identity);
    assert_eq!(chat.customer_friendly_name.as_deref(), Some("Ana"));
    assert_eq!(chat.chat_friendly_name.as_deref(), Some("WebChat shop fr"));
    assert_eq!(
        chat.pre_engagement_data,
        Some(json!({
            "friendlyName": "Ana", "email": "ana@example.com", "query": "Where is my order?",
            "site": "shop", "language": "fr"
        }))
    );
    assert!(
        chat.ui_version
            .as_deref()
            .is_some_and(|v| v.starts_with("flexroute/"))
    );
    // The question becomes the visitor's first message, with the webhooks Flex listens to.
    eventually(Duration::from_secs(5), "the first message", async || {
        !emulator.messages().is_empty()
    })
    .await;
    let messages = emulator.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].message.author.as_deref(), Some(identity));
    assert_eq!(
        messages[0].message.body.as_deref(),
        Some("Where is my order?")
    );
    assert_eq!(
        messages[0].message.conversation_sid.as_deref(),
        Some(conversation)
    );
    assert!(messages[0].webhook_enabled);

    let metrics = server.metrics().await;
    let started_series =
        r#"flexroute_webchat_sessions_total{language="fr",outcome="started",site="shop"}"#;
    assert_eq!(metric(&metrics, started_series), Some(1.0));
    assert_eq!(
        metric(
            &metrics,
            r#"flexroute_upstream_requests_total{op="webchat_create",status="2xx"}"#
        ),
        Some(1.0)
    );
    server.stop().await;
}

#[tokio::test]
async fn a_form_without_a_name_or_question_starts_a_chat_for_customer_and_posts_nothing() {
    let (emulator, base) = emulator().await;
    let server = start(&table(""), &base).await;
    let response = post(&server, "en", "initWebchat", &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let chats = emulator.web_chats();
    assert_eq!(chats[0].customer_friendly_name.as_deref(), Some("Customer"));
    assert_eq!(
        chats[0].pre_engagement_data,
        Some(json!({"friendlyName": "Customer", "site": "shop", "language": "en"}))
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(emulator.calls(Op::MessageCreate), 0);
    server.stop().await;
}

#[tokio::test]
async fn refresh_reissues_for_the_same_identity_and_refuses_any_other_token() {
    let (emulator, base) = emulator().await;
    let server = start(&table(""), &base).await;
    let started = json(
        post(&server, "en", "initWebchat", &json!({"formData": {}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = started["token"].as_str().unwrap();
    let identity = started["identity"].as_str().unwrap();
    let calls = emulator.calls(Op::WebChatCreate);

    let response = post(&server, "en", "refreshToken", &json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let refreshed = json(response).await;
    let again = issuer(SECRET)
        .verify(refreshed["token"].as_str().unwrap())
        .unwrap();
    assert_eq!(again.identity, identity);
    assert!(refreshed["expiration"].as_u64().unwrap() > now_ms() + 3_000_000);
    assert!(refreshed.get("conversationSid").is_none());

    // Tampered: one character of the payload changed (the signature no longer matches).
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let middle = parts[1].len() / 2;
    let flipped = if parts[1].as_bytes()[middle] == b'A' {
        "B"
    } else {
        "A"
    };
    parts[1].replace_range(middle..middle + 1, flipped);
    let tampered = parts.join(".");
    // Foreign: the same claims, signed with another secret.
    let foreign = issuer("another-secret-entirely")
        .mint(identity)
        .unwrap()
        .token;
    // Expired: ours, two hours old with a one-hour life.
    let two_hours_ago = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 7200;
    let expired = issuer(SECRET)
        .mint_at(identity, two_hours_ago)
        .unwrap()
        .token;
    for bad in [tampered.as_str(), &foreign, &expired, "", "not-a-jwt"] {
        let response = post(&server, "en", "refreshToken", &json!({ "token": bad }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{bad}");
        let body = json(response).await;
        assert_eq!(body["error"]["code"], "invalid_token", "{bad}");
    }
    // Refreshing costs Twilio nothing.
    assert_eq!(emulator.calls(Op::WebChatCreate), calls);
    let metrics = server.metrics().await;
    let refreshes = |outcome: &str| {
        metric(
            &metrics,
            &format!(
                r#"flexroute_webchat_token_refreshes_total{{language="en",outcome="{outcome}",site="shop"}}"#
            ),
        )
    };
    assert_eq!(refreshes("refreshed"), Some(1.0));
    assert_eq!(refreshes("refused"), Some(5.0));
    server.stop().await;
}

/// Every refusal: a JSON error with a stable code, no 5xx, no upstream call, and nothing in
/// the metrics that names what the client made up.
#[tokio::test]
async fn hostile_input_gets_json_errors_and_costs_no_upstream_call_and_no_series() {
    let (emulator, base) = emulator().await;
    let server = start(&table(""), &base).await;
    let url = |path: &str| server.url(path);
    let big = "x".repeat(20 * 1024);
    // A body under the 16 KiB limit whose pre-engagement data, with what flexroute adds, is
    // over Twilio's 16 KB.
    let almost = json!({"formData": {"notes": "y".repeat(16 * 1024 - 40)}}).to_string();
    let cases = || -> Vec<(reqwest::RequestBuilder, u16, &str)> {
        vec![
            (
                post(&server, "en", "initWebchat", &json!(null)).body("{not json"),
                400,
                "invalid_request",
            ),
            (
                post(
                    &server,
                    "en",
                    "initWebchat",
                    &json!({"formData": "a string"}),
                ),
                400,
                "invalid_request",
            ),
            (
                post(&server, "en", "initWebchat", &json!(null)).body(almost.clone()),
                400,
                "invalid_request",
            ),
            (
                post(&server, "en", "initWebchat", &json!(null)).body(big.clone()),
                413,
                "payload_too_large",
            ),
            (
                server
                    .client
                    .post(url("/v1/webchat/shop/en/initWebchat"))
                    .header("Origin", ORIGIN)
                    .header("Content-Type", "text/plain")
                    .body("{}"),
                415,
                "unsupported_media_type",
            ),
            (
                server
                    .client
                    .post(url("/v1/webchat/shop/en/initWebchat"))
                    .header("Origin", ORIGIN)
                    .body("{}"),
                415,
                "unsupported_media_type",
            ),
            (
                server
                    .client
                    .post(url("/v1/webchat/evil-site/en/initWebchat"))
                    .header("Origin", ORIGIN)
                    .header("Content-Type", "application/json")
                    .body("{}"),
                404,
                "unknown_site",
            ),
            (
                server
                    .client
                    .post(url("/v1/webchat/shop/evil-language/initWebchat"))
                    .header("Origin", ORIGIN)
                    .header("Content-Type", "application/json")
                    .body("{}"),
                404,
                "unknown_language",
            ),
            (
                post(&server, "de", "initWebchat", &json!({})),
                404,
                "not_found",
            ),
            (
                server
                    .client
                    .post(url("/v1/webchat/shop/en/initWebchat"))
                    .header("Origin", "https://evil.example")
                    .header("Content-Type", "application/json")
                    .body("{}"),
                403,
                "origin_not_allowed",
            ),
            (
                server
                    .client
                    .post(url("/v1/webchat/shop/en/initWebchat"))
                    .header("Content-Type", "application/json")
                    .body("{}"),
                403,
                "origin_not_allowed",
            ),
            (
                post(&server, "en", "refreshToken", &json!({"tok": "x"})),
                400,
                "invalid_request",
            ),
            (
                server.client.get(url("/v1/webchat/shop/en/initWebchat")),
                405,
                "method_not_allowed",
            ),
        ]
    };
    let mut first_round = None;
    for round in 0..2 {
        for (request, status, code) in cases() {
            let response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), status, "{code}");
            assert_eq!(
                response.headers()["content-type"],
                "application/json",
                "{code}"
            );
            let body = json(response).await;
            assert_eq!(body["error"]["code"], code, "{body}");
        }
        // A chunked body (no Content-Length to refuse up front) is cut off at the limit.
        let chunk = format!("{:x}\r\n{}\r\n", 8192, " ".repeat(8192));
        let request = format!(
            "POST /v1/webchat/shop/en/initWebchat HTTP/1.1\r\nHost: shop.example\r\nOrigin: {ORIGIN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{}0\r\n\r\n",
            chunk.repeat(3)
        );
        let answer = raw_exchange(server.public, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("payload_too_large"), "{answer}");
        let scrape = series(&server.metrics().await);
        assert!(
            scrape.iter().all(|s| !s.contains("evil")),
            "a made-up name became a label"
        );
        match &first_round {
            None => first_round = Some(scrape),
            // The second round of the same refusals adds no series: their number is bounded.
            Some(first) => assert_eq!(&scrape, first, "round {round}"),
        }
    }
    for op in [
        Op::AddressList,
        Op::AddressCreate,
        Op::WebChatCreate,
        Op::MessageCreate,
    ] {
        assert_eq!(emulator.calls(op), 0, "{op:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn preflights_allow_post_and_content_type_for_the_sites_origins_only() {
    let (_emulator, base) = emulator().await;
    let server = start(&table(""), &base).await;
    for route in ["initWebchat", "refreshToken"] {
        let preflight = |origin: &str| {
            server
                .client
                .request(
                    reqwest::Method::OPTIONS,
                    server.url(&format!("/v1/webchat/shop/en/{route}")),
                )
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "content-type")
        };
        let allowed = preflight(ORIGIN).send().await.unwrap();
        assert_eq!(allowed.status(), 204);
        let h = allowed.headers();
        assert_eq!(h["access-control-allow-origin"], ORIGIN);
        assert!(
            h["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("POST")
        );
        assert!(
            h["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains("content-type")
        );
        let refused = preflight("https://evil.example").send().await.unwrap();
        assert_eq!(refused.status(), 204);
        assert!(
            refused
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn twilio_refusing_a_chat_is_a_502_that_says_nothing_of_its_answer() {
    let (emulator, base) = emulator().await;
    let server = start(&table(""), &base).await;
    // The address exists first; then Twilio fails every call for a while.
    let config = server.config("site=shop&lang=en").send().await.unwrap();
    assert_eq!(config.status(), 200);
    emulator.switches().fail_for(Duration::from_secs(30), 500);
    let response = post(&server, "en", "initWebchat", &json!({"formData": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "upstream_error");
    let text = body.to_string();
    for leaked in [
        "20500",
        "more_info",
        "twilio.com/docs",
        "Internal Server Error",
    ] {
        assert!(!text.contains(leaked), "{leaked} in {text}");
    }
    let metrics = server.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"flexroute_webchat_sessions_total{language="en",outcome="upstream_error",site="shop"}"#
        ),
        Some(1.0)
    );
    emulator.switches().clear_failures();
    server.stop().await;
}

/// 500 visitors' first chats at once on a pair that has no address yet: one address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_first_chats_at_once_create_one_address() {
    let (emulator, base) = emulator().await;
    emulator.switches().set_latency(Duration::from_millis(100));
    let server = Arc::new(start(&table(""), &base).await);
    let mut burst = Vec::new();
    for _ in 0..500 {
        let server = server.clone();
        burst.push(tokio::spawn(async move {
            post(&server, "es", "initWebchat", &json!({"formData": {}}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for request in burst {
        *statuses.entry(request.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(statuses, [(200, 500)].into(), "{statuses:?}");
    let addresses = emulator.addresses();
    assert_eq!(addresses.len(), 1, "{addresses:?}");
    assert_eq!(emulator.calls(Op::AddressCreate), 1);
    let chats = emulator.web_chats();
    assert_eq!(chats.len(), 500);
    assert!(chats.iter().all(|c| c.address_sid == addresses[0].sid));
    Arc::into_inner(server).unwrap().stop().await;
}

/// A chat Twilio throttles (429: not processed) is asked once more; one it failed (500: it may
/// have started a conversation) is not, so no ghost chat lands in an agent's queue.
#[tokio::test]
async fn only_a_throttled_chat_is_asked_again() {
    let (emulator, base) = emulator().await;
    let server = start(&table(""), &base).await;
    let config = server.config("site=shop&lang=en").send().await.unwrap();
    assert_eq!(config.status(), 200);
    let chat = || post(&server, "en", "initWebchat", &json!({"formData": {}}));

    emulator.switches().fail_next(1, 429);
    assert_eq!(chat().send().await.unwrap().status(), 200);
    assert_eq!(emulator.calls(Op::WebChatCreate), 2);
    assert_eq!(emulator.web_chats().len(), 1);

    emulator.switches().fail_next(1, 500);
    assert_eq!(chat().send().await.unwrap().status(), 502);
    assert_eq!(emulator.calls(Op::WebChatCreate), 3);
    server.stop().await;
}

/// Requests to the session routes are counted under their route pattern, whatever site and
/// language the path names (they were once all `unmatched`, as if the router had none).
#[tokio::test]
async fn session_routes_are_counted_under_their_route_pattern() {
    let (_emulator, base) = emulator().await;
    let server = start(&table(""), &base).await;
    let started = post(&server, "en", "initWebchat", &json!({"formData": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 200);
    let token = json(started).await["token"].as_str().unwrap().to_string();
    let refreshed = post(&server, "en", "refreshToken", &json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let unknown = post(&server, "xx", "initWebchat", &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let text = server.metrics().await;
    let requests = |route: &str, status: u16| {
        metric(
            &text,
            &format!(r#"flexroute_http_requests_total{{route="{route}",status="{status}"}}"#),
        )
    };
    let init = "/v1/webchat/{site}/{language}/initWebchat";
    let refresh = "/v1/webchat/{site}/{language}/refreshToken";
    assert_eq!(requests(init, 200), Some(1.0));
    assert_eq!(requests(init, 404), Some(1.0));
    assert_eq!(requests(refresh, 200), Some(1.0));
    assert_eq!(requests("unmatched", 200), None);
    assert_eq!(requests("unmatched", 404), None);
    let durations = format!(r#"flexroute_http_request_duration_seconds_count{{route="{init}"}}"#);
    assert_eq!(metric(&text, &durations), Some(2.0));
    assert!(
        series(&text).iter().all(|s| !s.contains("/shop/")),
        "a path became a label"
    );
    server.stop().await;
}

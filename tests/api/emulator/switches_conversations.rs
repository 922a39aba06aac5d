//! The switches apply to the Flex Conversations routes as to the Flex Flow ones: injected
//! failures answer instead of the operation, creates may fail after applying, latency delays
//! the answer, and an outage closes the one port every API is served on.

use std::time::{Duration, Instant};

use flexroute::twilio::conversations::{AddressConfigurationPage, WebChat};
use flexroute::twilio::emulator::Op;
use reqwest::StatusCode;

use super::{ADDRESSES, Upstream, chat_address, parse, twilio_error};

const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn fail_for_fails_every_conversations_operation_and_creates_nothing() {
    let upstream = Upstream::start().await;
    let address = upstream.create_chat_address("acme-en").await;
    let chat = upstream.open_web_chat(&address.sid, "guest").await;
    let switches = upstream.emulator.switches();
    switches.fail_for(Duration::from_secs(3600), 503);
    let form = chat_address("acme-fr").to_form();
    let create = upstream
        .request(reqwest::Method::POST, ADDRESSES)
        .form(&form);
    twilio_error(create.send().await.unwrap(), 503, 20503).await;
    let one = format!("{ADDRESSES}/{}", address.sid);
    let messages = format!("/v1/Conversations/{}/Messages", chat.conversation_sid);
    for request in [
        upstream.get(ADDRESSES),
        upstream.get(&one),
        upstream.post(&one, &[("FriendlyName", "x")]),
        upstream.delete(&one),
        upstream.post("/v2/WebChats", &[("AddressSid", address.sid.as_str())]),
        upstream.post(&messages, &[("Body", "hello")]),
    ] {
        twilio_error(request.send().await.unwrap(), 503, 20503).await;
    }
    assert_eq!(switches.injected_failures(), 7);
    assert_eq!(upstream.emulator.addresses(), vec![address.clone()]);
    assert_eq!(upstream.emulator.web_chats().len(), 1);
    assert!(upstream.emulator.messages().is_empty());
    // Counted although failed, as for flows.
    assert_eq!(upstream.emulator.calls(Op::AddressCreate), 2);
    switches.fail_for(Duration::ZERO, 503);
    upstream.create_chat_address("acme-fr").await;
    upstream.stop().await;
}

/// Address, web chat and message creates that Twilio answers 500 may have happened: a blind
/// retry makes a duplicate (or, for an address, a 409).
#[tokio::test]
async fn creates_may_apply_before_a_500() {
    let upstream = Upstream::start().await;
    let switches = upstream.emulator.switches();
    switches.fail_next_creates_after_applying(1);
    let form = chat_address("acme-en").to_form();
    let create = || {
        upstream
            .request(reqwest::Method::POST, ADDRESSES)
            .form(&form)
    };
    twilio_error(create().send().await.unwrap(), 500, 20500).await;
    assert_eq!(upstream.emulator.addresses().len(), 1, "applied");
    twilio_error(create().send().await.unwrap(), 409, 20409).await;

    let address = upstream.emulator.addresses()[0].clone();
    switches.fail_next_creates_after_applying(1);
    let web_chat = [("AddressSid", address.sid.as_str())];
    let response = upstream
        .post("/v2/WebChats", &web_chat)
        .send()
        .await
        .unwrap();
    twilio_error(response, 500, 20500).await;
    assert_eq!(upstream.emulator.web_chats().len(), 1, "applied");

    // At random: a share of the failed address creates took effect, the others did not.
    switches.fail_at_random(1.0, 500, 7);
    let mut failed = 0;
    for n in 0..60 {
        let form = chat_address(&format!("random-{n}")).to_form();
        let request = upstream
            .request(reqwest::Method::POST, ADDRESSES)
            .form(&form);
        twilio_error(request.send().await.unwrap(), 500, 20500).await;
        failed += 1;
    }
    switches.clear_failures();
    let applied = upstream.emulator.addresses().len() - 1;
    assert!(
        applied > 0 && applied < failed,
        "{applied} of {failed} applied"
    );
    upstream.stop().await;
}

#[tokio::test]
async fn latency_and_outages_reach_the_conversations_routes() {
    let upstream = Upstream::start().await;
    let address = upstream.create_chat_address("acme-en").await;
    let switches = upstream.emulator.switches();
    switches.set_latency(Duration::from_millis(200));
    let started = Instant::now();
    let form = [("AddressSid", address.sid.as_str())];
    let (status, _): (_, WebChat) =
        parse(upstream.post("/v2/WebChats", &form).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(started.elapsed() >= Duration::from_millis(200));
    switches.set_latency(Duration::ZERO);

    switches.set_down(true);
    tokio::time::timeout(PATIENCE, switches.wait_listening(false))
        .await
        .unwrap();
    let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
    let error = fresh.get(upstream.url(ADDRESSES)).send().await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    switches.set_down(false);
    tokio::time::timeout(PATIENCE, switches.wait_listening(true))
        .await
        .unwrap();
    let (_, page): (_, AddressConfigurationPage) =
        parse(upstream.get(ADDRESSES).send().await.unwrap()).await;
    assert_eq!(page.address_configurations, vec![address]);
    upstream.stop().await;
}

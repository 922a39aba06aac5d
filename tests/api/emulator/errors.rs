//! Twilio's error body for bad parameters, paging limits, unknown SIDs, paths and methods.

use flexroute::twilio::emulator::Op;

use super::{CHAT_SERVICE, Upstream, twilio_error};

#[tokio::test]
async fn bad_requests_get_twilio_errors_naming_the_problem() {
    let upstream = Upstream::start().await;
    let all = [
        ("FriendlyName", "x"),
        ("ChatServiceSid", CHAT_SERVICE),
        ("ChannelType", "web"),
    ];
    for left_out in 0..all.len() {
        let form: Vec<_> = (0..all.len())
            .filter(|&i| i != left_out)
            .map(|i| all[i])
            .collect();
        let response = upstream.post("/v1/FlexFlows", &form).send().await.unwrap();
        let message = twilio_error(response, 400, 20001).await;
        let expected = format!(
            "Missing required parameter {} in the post body",
            all[left_out].0
        );
        assert_eq!(message, expected);
    }
    // JSON is not a form: Twilio sees no parameters at all.
    let body = serde_json::json!({
        "FriendlyName": "x", "ChatServiceSid": CHAT_SERVICE, "ChannelType": "web"
    });
    let json = upstream
        .request(reqwest::Method::POST, "/v1/FlexFlows")
        .header("content-type", "application/json")
        .body(body.to_string());
    let message = twilio_error(json.send().await.unwrap(), 400, 20001).await;
    assert!(message.contains("FriendlyName"), "{message}");
    for (name, value) in [
        ("ChannelType", "email"),
        ("ChatServiceSid", "IS123"),
        ("Enabled", "yes"),
        ("IntegrationType", "studio"), // without Integration.FlowSid
        ("Integration.RetryCount", "9"),
    ] {
        let mut form = all.to_vec();
        form.retain(|(k, _)| *k != name);
        form.push((name, value));
        let response = upstream.post("/v1/FlexFlows", &form).send().await.unwrap();
        let message = twilio_error(response, 400, 20001).await;
        assert!(
            message.contains(name) || message.contains("Integration.FlowSid"),
            "{message}"
        );
    }
    for (query, code) in [("1001", 20007), ("0", 20001), ("ten", 20001)] {
        let response = upstream
            .get(&format!("/v1/FlexFlows?PageSize={query}"))
            .send()
            .await
            .unwrap();
        twilio_error(response, 400, code).await;
    }
    let token = upstream
        .get("/v1/FlexFlows?PageToken=garbage")
        .send()
        .await
        .unwrap();
    twilio_error(token, 400, 20001).await;
    assert!(upstream.emulator.flows().is_empty());
    assert_eq!(upstream.emulator.calls(Op::Create), 9);
    upstream.stop().await;
}

#[tokio::test]
async fn unknown_sids_paths_and_methods_get_twilio_errors() {
    let upstream = Upstream::start().await;
    let unknown = "/v1/FlexFlows/FO00000000000000000000000000000000";
    let message = twilio_error(upstream.get(unknown).send().await.unwrap(), 404, 20404).await;
    assert_eq!(
        message,
        format!("The requested resource {unknown} was not found")
    );
    for path in [
        "/v1/Nothing",
        "/v2/FlexFlows",
        "/v1/FlexFlows/",
        "/v1/Configuration/Addresses/",
        "/v1/Conversations/CH00000000000000000000000000000000",
    ] {
        twilio_error(upstream.get(path).send().await.unwrap(), 404, 20404).await;
    }
    // Web chats are only created; messages only posted (here).
    for path in [
        "/v2/WebChats",
        "/v1/Conversations/CH00000000000000000000000000000000/Messages",
    ] {
        let get = upstream.get(path).send().await.unwrap();
        assert_eq!(get.headers()["allow"], "POST");
        twilio_error(get, 405, 20004).await;
    }
    let put = upstream
        .request(reqwest::Method::PUT, "/v1/FlexFlows")
        .send()
        .await
        .unwrap();
    assert_eq!(put.headers()["allow"], "GET,HEAD,POST");
    twilio_error(put, 405, 20004).await;
    upstream.stop().await;
}

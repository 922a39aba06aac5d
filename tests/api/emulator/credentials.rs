//! Every route accepts both kinds of Twilio credentials (Account SID + Auth Token, API key +
//! secret) and refuses anything else with 401 before it reaches the operation.

use flexroute::twilio::conversations::{AddressConfiguration, Message, WebChat};
use flexroute::twilio::emulator::Op;
use reqwest::{Method, StatusCode};

use super::{ACCOUNT_SID, ADDRESSES, API_KEY, API_SECRET, AUTH_TOKEN, Upstream, chat_address};

async fn json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Option<T> {
    serde_json::from_slice(&response.bytes().await.ok()?).ok()
}

/// Every new operation, once, with `user`/`secret`; the statuses answered.
async fn every_operation(upstream: &Upstream, n: usize, user: &str, secret: &str) -> Vec<u16> {
    let send = |method: Method, path: String, form: Vec<(&'static str, String)>| {
        let request = upstream
            .client
            .request(method, upstream.url(&path))
            .basic_auth(user, Some(secret))
            .form(&form);
        async move { request.send().await.unwrap() }
    };
    let mut statuses = Vec::new();
    let form = chat_address(&format!("credentials-{n}")).to_form();
    let created = send(Method::POST, ADDRESSES.into(), form).await;
    statuses.push(created.status().as_u16());
    let address: Option<AddressConfiguration> = json(created).await;
    let sid = address.map_or("IG00000000000000000000000000000000".into(), |a| a.sid);
    let one = format!("{ADDRESSES}/{sid}");
    let list = send(Method::GET, format!("{ADDRESSES}?Type=chat"), vec![]).await;
    statuses.push(list.status().as_u16());
    statuses.push(
        send(Method::GET, one.clone(), vec![])
            .await
            .status()
            .as_u16(),
    );
    let rename = vec![("FriendlyName", "renamed".to_string())];
    statuses.push(
        send(Method::POST, one.clone(), rename)
            .await
            .status()
            .as_u16(),
    );
    let chat = send(
        Method::POST,
        "/v2/WebChats".into(),
        vec![("AddressSid", sid.clone())],
    )
    .await;
    statuses.push(chat.status().as_u16());
    let chat: Option<WebChat> = json(chat).await;
    let conversation = chat.map_or("CH00000000000000000000000000000000".into(), |c| {
        c.conversation_sid
    });
    let posted = send(
        Method::POST,
        format!("/v1/Conversations/{conversation}/Messages"),
        vec![("Body", "hello".to_string())],
    )
    .await;
    statuses.push(posted.status().as_u16());
    let _: Option<Message> = json(posted).await;
    statuses.push(send(Method::DELETE, one, vec![]).await.status().as_u16());
    statuses
}

const OPS: [Op; 7] = [
    Op::AddressCreate,
    Op::AddressList,
    Op::AddressFetch,
    Op::AddressUpdate,
    Op::WebChatCreate,
    Op::MessageCreate,
    Op::AddressDelete,
];

#[tokio::test]
async fn account_tokens_and_api_keys_work_on_every_route_and_nothing_else_does() {
    let upstream = Upstream::start().await;
    for (user, secret) in [
        (ACCOUNT_SID, "wrong-token-0123456789abcdef0123"),
        (ACCOUNT_SID, API_SECRET),
        (API_KEY, AUTH_TOKEN),
        ("ACffffffffffffffffffffffffffffffff", AUTH_TOKEN),
    ] {
        let statuses = every_operation(&upstream, 0, user, secret).await;
        assert_eq!(statuses, [401; 7], "{user}");
    }
    assert!(OPS.iter().all(|op| upstream.emulator.calls(*op) == 0));
    for (n, (user, secret)) in [(ACCOUNT_SID, AUTH_TOKEN), (API_KEY, API_SECRET)]
        .into_iter()
        .enumerate()
    {
        let statuses = every_operation(&upstream, n, user, secret).await;
        assert_eq!(statuses, [201, 200, 200, 200, 201, 201, 204], "{user}");
    }
    assert!(OPS.iter().all(|op| upstream.emulator.calls(*op) == 2));
    assert_eq!(upstream.emulator.web_chats().len(), 2);
    assert_eq!(upstream.emulator.messages().len(), 2);
    assert!(upstream.emulator.addresses().is_empty());
    // An anonymous request is told how to authenticate, on the new routes too.
    let anonymous = upstream
        .client
        .post(upstream.url("/v2/WebChats"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"Twilio API\""
    );
    upstream.stop().await;
}

//! The Twilio emulator over real HTTP on loopback: authentication, the Flex Flow operations and
//! paging (`operations.rs`), address configurations (`addresses.rs`), web chats and messages
//! (`web_chats.rs`), both credential kinds on every route (`credentials.rs`), Twilio's errors
//! (`errors.rs`), the switches (`switches.rs`), the specs' JSON schemas (`schema.rs`,
//! `schema_conversations.rs`), the binary (`cli.rs`) and Twilio's own Python helper library
//! driving it (`helper_library.rs`). Here: an emulator on a loopback port, and helpers.

/// A file of `tests/reference/twilio-oai/` (a copy of the team reference, see its SOURCE.md).
macro_rules! reference {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/reference/twilio-oai/",
            $path
        ))
    };
}

mod address_values;
mod addresses;
mod cli;
mod credentials;
mod errors;
mod helper_library;
mod operations;
mod schema;
mod schema_conversations;
mod shape;
mod switches;
mod switches_conversations;
mod web_chats;

use std::net::SocketAddr;

use flexroute::twilio::Credentials;
use flexroute::twilio::conversations::{AddressConfiguration, AddressParams, WebChat};
use flexroute::twilio::emulator::Emulator;
use flexroute::twilio::types::{ErrorBody, FlexFlow, FlexFlowParams};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "auth-token-0123456789abcdef012345";
pub const API_KEY: &str = "SKfedcba9876543210fedcba9876543210";
pub const API_SECRET: &str = "api-secret-0123456789abcdef01234";
pub const CHAT_SERVICE: &str = "IS00000000000000000000000000000001";
pub const STUDIO_FLOW: &str = "FW00000000000000000000000000000002";
pub const ADDRESSES: &str = "/v1/Configuration/Addresses";

/// An emulator serving on a loopback port, and a client for it.
pub struct Upstream {
    pub emulator: Emulator,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let emulator = Emulator::new(
            ACCOUNT_SID,
            vec![
                Credentials::new(ACCOUNT_SID, AUTH_TOKEN),
                Credentials::new(API_KEY, API_SECRET),
            ],
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = emulator.clone();
        let task = tokio::spawn(async move {
            serving
                .serve(listener, async move {
                    let _ = stopped.await;
                })
                .await
        });
        Upstream {
            emulator,
            addr,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// `method path` with the Account SID and Auth Token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path).form(form)
    }

    /// Creates a web flow named `name` through the API.
    pub async fn create(&self, name: &str) -> FlexFlow {
        let form = [
            ("FriendlyName", name),
            ("ChatServiceSid", CHAT_SERVICE),
            ("ChannelType", "web"),
        ];
        let (status, flow) = parse(self.post("/v1/FlexFlows", &form).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::CREATED);
        flow
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::DELETE, path)
    }

    /// Creates an address configuration through the API; asserts a 201.
    pub async fn create_address(&self, params: &AddressParams) -> AddressConfiguration {
        let form = params.to_form();
        let response = self.request(reqwest::Method::POST, ADDRESSES).form(&form);
        let (status, address) = parse(response.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::CREATED);
        address
    }

    /// Creates a chat address a web chat can use (auto-creation enabled, into a Studio flow).
    pub async fn create_chat_address(&self, address: &str) -> AddressConfiguration {
        self.create_address(&chat_address(address)).await
    }

    /// Opens a web chat on `address_sid` with `identity`; asserts a 201.
    pub async fn open_web_chat(&self, address_sid: &str, identity: &str) -> WebChat {
        let form = [("AddressSid", address_sid), ("Identity", identity)];
        let (status, chat) = parse(self.post("/v2/WebChats", &form).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::CREATED);
        chat
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

/// Status and body of a JSON answer, after checking it says it is JSON.
pub async fn parse<T: DeserializeOwned>(response: reqwest::Response) -> (StatusCode, T) {
    let status = response.status();
    let content_type = response.headers().get("content-type").cloned();
    assert_eq!(
        content_type.as_ref().map(|v| v.to_str().unwrap()),
        Some("application/json"),
        "{status}"
    );
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{status}: not the expected JSON ({e}): {bytes:?}"));
    (status, body)
}

/// Asserts an answer is Twilio's error body with this status and code; returns its message.
pub async fn twilio_error(response: reqwest::Response, status: u16, code: u32) -> String {
    let (got, body): (_, ErrorBody) = parse(response).await;
    assert_eq!(got.as_u16(), status, "{body:?}");
    assert_eq!(body.code, Some(code), "{body:?}");
    assert_eq!(body.status, Some(status));
    let info = format!("https://www.twilio.com/docs/errors/{code}");
    assert_eq!(body.more_info.as_deref(), Some(info.as_str()));
    body.message.unwrap()
}

/// All 17 create parameters, `Integration.*` included (a task integration needs a Workspace and
/// a Workflow; the rest are accepted whatever the type).
pub fn every_parameter() -> FlexFlowParams {
    FlexFlowParams {
        friendly_name: Some("flexroute acme fr-CA".into()),
        chat_service_sid: Some(CHAT_SERVICE.into()),
        channel_type: Some("web".into()),
        contact_identity: Some("12345".into()),
        enabled: Some(true),
        integration_type: Some("task".into()),
        integration_flow_sid: Some(STUDIO_FLOW.into()),
        integration_url: Some("https://hooks.example.com/flex?x=1".into()),
        integration_workspace_sid: Some("WS00000000000000000000000000000003".into()),
        integration_workflow_sid: Some("WW00000000000000000000000000000004".into()),
        integration_channel: Some("chat".into()),
        integration_timeout: Some(3600),
        integration_priority: Some(7),
        integration_creation_on_message: Some(true),
        long_lived: Some(true),
        janitor_enabled: Some(true),
        integration_retry_count: Some(2),
    }
}

/// A chat address configuration as Flex web chat needs it: auto-creation enabled, into a
/// Studio flow.
pub fn chat_address(address: &str) -> AddressParams {
    AddressParams {
        address_type: Some("chat".into()),
        address: Some(address.into()),
        friendly_name: Some(format!("web chat {address}")),
        auto_creation_enabled: Some(true),
        auto_creation_type: Some("studio".into()),
        auto_creation_conversation_service_sid: Some(CHAT_SERVICE.into()),
        auto_creation_studio_flow_sid: Some(STUDIO_FLOW.into()),
        auto_creation_studio_retry_count: Some(1),
        ..AddressParams::default()
    }
}

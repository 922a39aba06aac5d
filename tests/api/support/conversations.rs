//! The `conversations` kind: a table with a `conversations` site, the emulator accepting the
//! account's API key, and a server calling Twilio (and signing visitors' tokens) with it.

use std::sync::Arc;

use flexroute::Services;
use flexroute::config::Environment;
use flexroute::provision::store::MemoryStore;
use flexroute::twilio::Credentials;
use flexroute::twilio::emulator::Emulator;
use tokio::net::TcpListener;

use super::emulator::{ACCOUNT, TOKEN};
use super::server::{ADMIN_TOKEN, Server};

/// The account's API key and its secret, as the emulator and the server know them.
pub const KEY: &str = "SK0123456789abcdef0123456789abcdef";
pub const SECRET: &str = "emulator-api-secret-77b1";
/// The Conversations service of the table.
pub const SERVICE: &str = "IS0123456789abcdef0123456789abcdef";
/// The origin the `shop` site allows.
pub const ORIGIN: &str = "https://shop.example";

/// A `conversations` site (`shop`: en, fr, es) whose `de` is a pinned Flex Flow.
pub fn table(extra: &str) -> String {
    format!(
        r#"
[server]
shutdown_drain_ms = 0

[twilio]
account_sid = "{ACCOUNT}"
conversations_service_sid = "{SERVICE}"

[defaults]
studio_flow_sid = "FW0123456789abcdef0123456789abcdef"
{extra}

[[sites]]
id = "shop"
hosts = ["shop.example"]
allowed_origins = ["{ORIGIN}"]
default_language = "en"
languages = ["en", "fr", "es", "de"]
address_kind = "conversations"

[sites.language."de"]
address_kind = "flex_flow"
flex_flow_sid = "FO0123456789abcdef0123456789abcdef"
"#
    )
}

/// The emulator, accepting the account's auth token and its API key, as Twilio does.
pub async fn emulator() -> (Emulator, String) {
    let emulator = Emulator::new(
        ACCOUNT,
        vec![
            Credentials::new(ACCOUNT, TOKEN),
            Credentials::new(KEY, SECRET),
        ],
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serving = emulator.clone();
    tokio::spawn(async move { serving.serve(listener, std::future::pending()).await });
    (emulator, base)
}

/// A server for `table` against the emulator at `base`, calling it (and signing tokens) with
/// the API key.
pub async fn start(table: &str, base: &str) -> Server {
    let env = Environment::from_pairs([
        ("FLEXROUTE_TWILIO_FLEX_API_BASE", base),
        ("FLEXROUTE_TWILIO_CONVERSATIONS_API_BASE", base),
        ("FLEXROUTE_PROVISIONING_WAIT_MS", "5000"),
        ("FLEXROUTE_PROVISIONING_FAILURE_BACKOFF_MS", "200"),
        ("TWILIO_API_KEY", KEY),
        ("TWILIO_API_SECRET", SECRET),
    ]);
    let services = Services {
        credentials: Some(Credentials::new(KEY, SECRET)),
        store: Some(Arc::new(MemoryStore::default())),
        admin_token: Some(ADMIN_TOKEN.into()),
        admin_lockout: Default::default(),
        config_source: None,
    };
    Server::start_full(table, env, services).await
}

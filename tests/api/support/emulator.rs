//! The Twilio emulator on a loopback port, its account, and servers provisioning against it.

use std::sync::Arc;

use flexroute::Services;
use flexroute::config::Environment;
use flexroute::provision::store::{MemoryStore, StateStore};
use flexroute::twilio::Credentials;
use flexroute::twilio::emulator::Emulator;
use tokio::net::TcpListener;

use super::server::{ADMIN_TOKEN, Server};

/// The account the emulator serves, and its auth token.
pub const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "emulator-auth-token-3f9a";

/// An emulator on a loopback port, and the environment that points flexroute at it.
pub async fn emulator() -> (Emulator, Environment) {
    let emulator = Emulator::new(ACCOUNT, vec![Credentials::new(ACCOUNT, TOKEN)]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serving = emulator.clone();
    tokio::spawn(async move { serving.serve(listener, std::future::pending()).await });
    let env = Environment::from_pairs([
        ("FLEXROUTE_TWILIO_FLEX_API_BASE", base.as_str()),
        ("FLEXROUTE_PROVISIONING_WAIT_MS", "5000"),
        ("FLEXROUTE_PROVISIONING_FAILURE_BACKOFF_MS", "200"),
    ]);
    (emulator, env)
}

/// Credentials, the test admin token and `store`.
pub fn services(store: Arc<dyn StateStore>) -> Services {
    Services {
        credentials: Some(Credentials::new(ACCOUNT, TOKEN)),
        store: Some(store),
        admin_token: Some(ADMIN_TOKEN.into()),
        admin_lockout: Default::default(),
        config_source: None,
    }
}

/// A server with `table`, provisioning against the emulator `env` points to, with credentials,
/// the test admin token and an in-memory store.
pub async fn start_provisioning(table: &str, env: Environment) -> Server {
    Server::start_full(table, env, services(Arc::new(MemoryStore::default()))).await
}

/// The SIDs of the flows named after the pair `site`/`language` (`WebChat {site} {language}`).
pub fn flows_named(emulator: &Emulator, site: &str, language: &str) -> Vec<String> {
    let name = format!("WebChat {site} {language}");
    emulator
        .flows()
        .into_iter()
        .filter(|f| f.friendly_name.as_deref() == Some(name.as_str()))
        .map(|f| f.sid)
        .collect()
}

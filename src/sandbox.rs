//! `serve --sandbox`: the built-in emulator of Twilio's Flex and Conversations APIs on a
//! loopback port, made-up credentials, and in-memory state, so that the whole flow — a
//! visitor's first request creating an address, the next ones served from cache, a chat
//! started on a Conversations address — runs on a laptop with no Twilio account.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::Services;
use crate::config::Config;
use crate::provision::store::MemoryStore;
use crate::twilio::Credentials;
use crate::twilio::emulator::Emulator;

/// Made-up, well-formed SIDs for accounts that have none in the config.
pub const SANDBOX_ACCOUNT: &str = "AC5a4db0c5a4db0c5a4db0c5a4db0c5a4d";
const SANDBOX_CHAT_SERVICE: &str = "IS5a4db0c5a4db0c5a4db0c5a4db0c5a4d";
pub const SANDBOX_CONVERSATIONS_SERVICE: &str = "ISc0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";
/// The made-up API key the sandbox calls the emulator with and signs visitors' tokens with.
pub const SANDBOX_API_KEY: &str = "SK5a4db0c5a4db0c5a4db0c5a4db0c5a4d";
/// The sandbox's made-up secrets. They guard nothing (the emulator holds made-up addresses on a
/// loopback port) and are fixed so that a developer, or a test, can look into the emulator
/// with any Twilio client: the account SID with [`SANDBOX_AUTH_TOKEN`], or the API key with
/// [`SANDBOX_API_SECRET`].
pub const SANDBOX_AUTH_TOKEN: &str = "sandbox-auth-token";
pub const SANDBOX_API_SECRET: &str = "sandbox-api-secret";

/// The environment as sandbox mode validates the configuration: an API key stands in for
/// `TWILIO_API_KEY` + `TWILIO_API_SECRET` (the real ones, if set, are not used).
pub fn environment(env: crate::config::Environment) -> crate::config::Environment {
    env.with("TWILIO_API_KEY", SANDBOX_API_KEY)
        .with("TWILIO_API_SECRET", SANDBOX_API_SECRET)
}

/// Starts the emulator and points `config` and `services` at it. The emulator lives as long
/// as the process.
pub async fn start(config: &mut Config, services: &mut Services) -> std::io::Result<()> {
    let account = config
        .twilio
        .account_sid
        .get_or_insert_with(|| SANDBOX_ACCOUNT.to_string())
        .clone();
    config
        .twilio
        .chat_service_sid
        .get_or_insert_with(|| SANDBOX_CHAT_SERVICE.to_string());
    config
        .twilio
        .conversations_service_sid
        .get_or_insert_with(|| SANDBOX_CONVERSATIONS_SERVICE.to_string());
    // The emulator takes both kinds of credential, as Twilio does; flexroute uses the API key,
    // which also signs visitors' tokens.
    let auth_token = Credentials::new(account.clone(), SANDBOX_AUTH_TOKEN);
    let api_key = Credentials::new(SANDBOX_API_KEY, SANDBOX_API_SECRET);
    let emulator = Emulator::new(account, vec![auth_token, api_key.clone()]);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = emulator.serve(listener, std::future::pending()).await {
            tracing::error!("sandbox emulator stopped: {e}");
        }
    });
    config.twilio.flex_api_base = format!("http://{address}");
    config.twilio.conversations_api_base = format!("http://{address}");
    config.provisioning.enabled = true;
    services.credentials = Some(api_key);
    services.store = Some(Arc::new(MemoryStore::default()));
    tracing::warn!(
        emulator = %config.twilio.flex_api_base,
        "SANDBOX MODE: talking to flexroute's built-in emulator of Twilio's Flex and Conversations APIs, not Twilio; addresses and chats are made up and forgotten on exit"
    );
    Ok(())
}

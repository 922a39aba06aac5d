//! `serve --sandbox`: the built-in Flex API emulator on a loopback port, made-up credentials,
//! and in-memory state, so that the whole flow — a visitor's first request creating an
//! address, the next ones served from cache — runs on a laptop with no Twilio account.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::Services;
use crate::config::Config;
use crate::provision::store::MemoryStore;
use crate::twilio::Credentials;
use crate::twilio::emulator::Emulator;

/// Made-up, well-formed SIDs for accounts that have none in the config.
const SANDBOX_ACCOUNT: &str = "AC5a4db0c5a4db0c5a4db0c5a4db0c5a4d";
const SANDBOX_CHAT_SERVICE: &str = "IS5a4db0c5a4db0c5a4db0c5a4db0c5a4d";

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
    let secret = format!(
        "sandbox-{:016x}",
        xxhash_rust::xxh3::xxh3_64(account.as_bytes())
    );
    let credentials = Credentials::new(account.clone(), secret);
    let emulator = Emulator::new(account, vec![credentials.clone()]);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = emulator.serve(listener, std::future::pending()).await {
            tracing::error!("sandbox emulator stopped: {e}");
        }
    });
    config.twilio.flex_api_base = format!("http://{address}");
    config.provisioning.enabled = true;
    services.credentials = Some(credentials);
    services.store = Some(Arc::new(MemoryStore::default()));
    tracing::warn!(
        emulator = %config.twilio.flex_api_base,
        "SANDBOX MODE: talking to flexroute's built-in Flex API emulator, not Twilio; addresses are made up and forgotten on exit"
    );
    Ok(())
}

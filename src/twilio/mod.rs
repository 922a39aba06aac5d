//! Twilio's Flex API and the Conversations API Flex web chats run on: wire types, the client
//! flexroute provisions with, and a local emulator of both (sandbox mode, tests, front-end
//! development without a Twilio account).

pub mod client;
pub mod conversations;
pub mod emulator;
pub mod types;

use crate::redact::Redacted;

/// HTTP Basic credentials: Account SID + Auth Token, or API Key SID + Secret. `Debug` never
/// shows the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The Basic-auth user: an Account SID (`AC…`) or an API Key SID (`SK…`).
    pub username: String,
    secret: Redacted<String>,
}

impl Credentials {
    pub fn new(username: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            secret: Redacted::new(secret.into()),
        }
    }

    pub fn secret(&self) -> &str {
        self.secret.expose()
    }
}

impl Credentials {
    /// From `TWILIO_ACCOUNT_SID` with `TWILIO_API_KEY` + `TWILIO_API_SECRET` (preferred, as
    /// Twilio advises for production) or `TWILIO_AUTH_TOKEN`. `None` when incomplete.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let present = |name: &str| get(name).filter(|v| !v.is_empty());
        let account = present("TWILIO_ACCOUNT_SID")?;
        match (present("TWILIO_API_KEY"), present("TWILIO_API_SECRET")) {
            (Some(key), Some(secret)) => Some(Self::new(key, secret)),
            _ => present("TWILIO_AUTH_TOKEN").map(|token| Self::new(account, token)),
        }
    }
}

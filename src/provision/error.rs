//! Why a pair has no address: what a provisioning attempt, a request waiting for one, `apply`
//! or an adoption can end with. Shown to operators (`/admin/routes`' `last_error`, `plan`'s
//! results, the log) by its `Display`; never sent to visitors.

use crate::twilio::client::TwilioError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionError {
    /// No Twilio credentials, provisioning switched off, or a kind flexroute does not create.
    #[error("provisioning is disabled or has no Twilio credentials")]
    Disabled,
    /// Twilio refused, or could not be reached after the attempt's retries.
    #[error("{0}")]
    Upstream(String),
    /// Several addresses carry the pair's name: never chosen between.
    #[error(
        "{} addresses at Twilio are named `{name}`: flexroute will not guess; pin one, or delete or rename all but one (plan shows them)",
        sids.len()
    )]
    Ambiguous { name: String, sids: Vec<String> },
    /// The shared state store could not be reached: no lease, so no create. Retried as soon
    /// as it answers.
    #[error("the shared state store cannot be reached ({0}): no create without a lease")]
    Store(String),
    /// An adoption for a pair that has another address already.
    #[error("the pair already has {0}")]
    AlreadyHas(String),
    /// The task ended without telling (it panicked).
    #[error("the provisioning task stopped without an outcome")]
    Stopped,
}

impl ProvisionError {
    /// The shared store, not Twilio, is at fault: the pair is retried when it answers, not
    /// after a back-off.
    pub fn store_unreachable(&self) -> bool {
        matches!(self, ProvisionError::Store(_))
    }
}

impl From<TwilioError> for ProvisionError {
    fn from(error: TwilioError) -> Self {
        ProvisionError::Upstream(error.to_string())
    }
}

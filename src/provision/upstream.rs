//! What provisioning asks of Twilio, per address kind: look a pair's address up by its
//! deterministic friendly name, and create it. `task` drives these (retries, lookup before any
//! retry of a create, the lease); this is the only place that knows which API a kind lives in.

use std::time::Instant;

use super::Provisioner;
use crate::twilio::client::{FlexApiClient, TwilioError};
use crate::twilio::conversations::AddressParams;
use crate::twilio::types::FlexFlowParams;

/// The address a pair should have at Twilio: the create parameters of its kind.
#[derive(Debug, Clone)]
pub enum Desired {
    FlexFlow(FlexFlowParams),
    Conversations(AddressParams),
}

/// What a look-up by name found.
pub(super) enum Looked {
    Nothing,
    Found(String),
    /// Several addresses carry the pair's name: never guessed between (their SIDs, in the
    /// order Twilio lists them).
    Ambiguous(Vec<String>),
}

impl Looked {
    fn from(mut sids: Vec<String>) -> Self {
        match sids.len() {
            0 => Looked::Nothing,
            1 => Looked::Found(sids.remove(0)),
            _ => Looked::Ambiguous(sids),
        }
    }
}

impl Desired {
    /// Looks the pair's address up by `name`. `fresh_after`: the answer must reflect Twilio
    /// as of no earlier than this (the look after a create that may have happened).
    ///
    /// One rule for every kind: several addresses with the pair's name are never chosen
    /// between. The one a pair is served with is the one the store recorded; a choice made
    /// here after the store lost its data (the oldest, say) could differ from it and move the
    /// whole fleet to another address. The operator decides (`plan` shows them, with which
    /// one is in force when it is known).
    pub(super) async fn find(
        &self,
        p: &Provisioner,
        client: &FlexApiClient,
        name: &str,
        fresh_after: Option<Instant>,
    ) -> Result<Looked, TwilioError> {
        let sids = match self {
            Desired::FlexFlow(_) => {
                let flows = {
                    let _permit = p.permits.acquire().await.map_err(transport)?;
                    client.list(Some(name)).await?
                };
                flows
                    .into_iter()
                    .filter(|f| f.friendly_name.as_deref() == Some(name))
                    .map(|f| f.sid)
                    .collect()
            }
            Desired::Conversations(params) => {
                let all = p
                    .scan
                    .chat_addresses(client, &p.permits, fresh_after)
                    .await?;
                let named: Vec<String> = all
                    .iter()
                    .filter(|a| a.friendly_name.as_deref() == Some(name))
                    .map(|a| a.sid.clone())
                    .collect();
                // Our own deterministic `Address` is ours whatever its name became.
                let own = params.address.as_deref().and_then(|address| {
                    all.iter()
                        .find(|a| a.address.as_deref() == Some(address))
                        .map(|a| a.sid.clone())
                });
                match (named.is_empty(), own) {
                    (true, Some(sid)) => vec![sid],
                    _ => named,
                }
            }
        };
        Ok(Looked::from(sids))
    }

    /// Creates the address; its SID.
    pub(super) async fn create(&self, client: &FlexApiClient) -> Result<String, TwilioError> {
        match self {
            Desired::FlexFlow(params) => client.create(params).await.map(|flow| flow.sid),
            Desired::Conversations(params) => {
                match client.create_address(params).await {
                    Ok(address) => Ok(address.sid),
                    // `Address` is unique per type: a refusal for a duplicate means ours
                    // already exists (an earlier create whose answer was lost): take it.
                    Err(e) if is_duplicate(&e) => match params.address.as_deref() {
                        Some(address) => client.fetch_address(address).await.map(|a| a.sid),
                        None => Err(e),
                    },
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// Twilio's refusal of a second chat address with the same `Address`.
fn is_duplicate(error: &TwilioError) -> bool {
    matches!(error, TwilioError::Rejected { status: 409, .. })
        || matches!(error, TwilioError::Rejected { message, .. } if message.to_ascii_lowercase().contains("already exists"))
}

fn transport(e: impl std::fmt::Display) -> TwilioError {
    TwilioError::Transport(e.to_string())
}

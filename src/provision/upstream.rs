//! Where an address kind plugs into provisioning: what a pair's address should be at Twilio
//! ([`Desired::for_pair`]), how to look it up by its deterministic friendly name, create it,
//! update it, list every address of the kind and delete one. `task` drives the look-ups and
//! creates (retries, lookup before any retry of a create, the lease), `plan` the rest; this is
//! the only place in provisioning that knows which API a kind lives in. A new kind adds a
//! variant to [`Desired`] and [`Existing`] and an arm to each `match` here.

use std::time::Instant;

use super::{Provisioner, Settings, params};
use crate::address::AddressKind;
use crate::table::{Pair, Site};
use crate::twilio::client::{FlexApiClient, TwilioError};
use crate::twilio::conversations::{AddressConfiguration, AddressParams};
use crate::twilio::types::{FlexFlow, FlexFlowParams};

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

/// An address at Twilio, as listed.
pub enum Existing {
    Flow(FlexFlow),
    Address(AddressConfiguration),
}

impl Existing {
    pub fn sid(&self) -> &str {
        match self {
            Existing::Flow(f) => &f.sid,
            Existing::Address(a) => &a.sid,
        }
    }

    pub fn friendly_name(&self) -> Option<&str> {
        match self {
            Existing::Flow(f) => f.friendly_name.as_deref(),
            Existing::Address(a) => a.friendly_name.as_deref(),
        }
    }

    /// A chat address's `Address`, unique at Twilio (a Flex Flow has none).
    pub fn own_address(&self) -> Option<&str> {
        match self {
            Existing::Flow(_) => None,
            Existing::Address(a) => a.address.as_deref(),
        }
    }

    /// `(field, wanted, found)` for every setting at Twilio that is not the desired one.
    pub fn differences(&self, desired: &Desired) -> Vec<(&'static str, String, String)> {
        match (self, desired) {
            (Existing::Flow(f), Desired::FlexFlow(d)) => params::differences(d, f),
            (Existing::Address(a), Desired::Conversations(d)) => params::address_differences(d, a),
            _ => Vec::new(),
        }
    }
}

/// Every address of `kind` at Twilio, oldest first (none for a kind flexroute does not create).
pub async fn list(kind: AddressKind, client: &FlexApiClient) -> Result<Vec<Existing>, TwilioError> {
    Ok(match kind {
        AddressKind::FlexFlow => client
            .list(None)
            .await?
            .into_iter()
            .map(Existing::Flow)
            .collect(),
        AddressKind::Conversations => client
            .list_chat_addresses()
            .await?
            .into_iter()
            .map(Existing::Address)
            .collect(),
        AddressKind::Webchat3 => Vec::new(),
    })
}

/// Deletes an address of `kind` (an orphan `plan` found).
pub async fn delete(
    kind: AddressKind,
    client: &FlexApiClient,
    sid: &str,
) -> Result<(), TwilioError> {
    match kind {
        AddressKind::FlexFlow => client.delete(sid).await,
        AddressKind::Conversations => client.delete_address(sid).await,
        AddressKind::Webchat3 => Ok(()),
    }
}

impl Desired {
    /// The pair's friendly name and the address it should have at Twilio; `None` for a kind
    /// flexroute does not create, or without the service its addresses belong to.
    pub fn for_pair(s: &Settings, site: &Site, pair: &Pair) -> Option<(String, Desired)> {
        let name = params::friendly_name(&s.friendly_name, &site.id, &pair.language);
        let desired = match pair.kind {
            AddressKind::FlexFlow => Desired::FlexFlow(params::desired(
                &name,
                s.chat_service_sid.as_deref()?,
                &pair.flow,
            )),
            AddressKind::Conversations => {
                let address = params::friendly_name(&s.chat_address, &site.id, &pair.language);
                Desired::Conversations(params::desired_address(
                    &name,
                    &address,
                    s.conversations_service_sid.as_deref()?,
                    &pair.flow,
                ))
            }
            AddressKind::Webchat3 => return None,
        };
        Some((name, desired))
    }

    /// The `Address` the pair's chat address is created with (a Flex Flow has none).
    pub fn own_address(&self) -> Option<&str> {
        match self {
            Desired::FlexFlow(_) => None,
            Desired::Conversations(params) => params.address.as_deref(),
        }
    }

    /// Makes the address `sid` match what is desired, keeping what cannot or should not
    /// change: a Flex Flow keeps its name (a pinned one may have another), a chat address its
    /// `Type` and `Address`.
    pub async fn update(&self, client: &FlexApiClient, sid: &str) -> Result<(), TwilioError> {
        match self {
            Desired::FlexFlow(desired) => {
                let mut update = desired.clone();
                update.friendly_name = None;
                client.update(sid, &update).await.map(|_| ())
            }
            Desired::Conversations(desired) => {
                let mut update = desired.clone();
                update.address_type = None;
                update.address = None;
                client.update_address(sid, &update).await.map(|_| ())
            }
        }
    }

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

//! `flexroute plan` / `apply` and `POST /admin/provision`: compare every configured pair with
//! Twilio and say (or do) what it takes to make them agree. One paged list of all flows and
//! one of all chat addresses give the picture, so a plan costs a few calls however many pairs
//! there are.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::upstream::{self, Desired, Existing};
use super::{Provisioner, Source, params};
use crate::address::AddressKind;
use crate::redact::redact_url;
use crate::table::{Pair, RoutingTable, Site};
use crate::twilio::client::{FlexApiClient, TwilioError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The address exists and matches the config.
    None,
    /// A flow with the pair's name exists but flexroute has not recorded it yet.
    Adopt,
    Create,
    /// The flow exists with settings that differ from the config.
    Update,
    /// A pinned or recorded SID does not exist at Twilio; flexroute will not guess.
    Investigate,
}

/// A setting whose value at Twilio is not the configured one. URLs are shown with their
/// user-info masked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Difference {
    pub field: &'static str,
    pub wanted: String,
    pub found: String,
}

/// One configured (site, language) pair compared with Twilio.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanItem {
    pub site: String,
    pub language: String,
    pub kind: AddressKind,
    pub friendly_name: String,
    pub sid: Option<String>,
    /// Where the SID comes from; `upstream`: found at Twilio by name, not recorded yet.
    pub source: Option<Source>,
    pub status: Status,
    pub action: Action,
    pub differences: Vec<Difference>,
    /// Other addresses at Twilio with the pair's friendly name, besides the one the pair has
    /// (orphans of a create Twilio applied late): never served; `apply --delete-orphans`
    /// deletes them.
    pub orphans: Vec<String>,
    /// Set by apply: what happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// The pair's address at Twilio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Exists,
    Missing,
    Differs,
    /// Several addresses carry the pair's name: never guessed between.
    Ambiguous,
    /// A `webchat3` key, managed in Twilio's Console.
    Console,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Exists => "exists",
            Status::Missing => "missing",
            Status::Differs => "differs",
            Status::Ambiguous => "ambiguous",
            Status::Console => "console",
        }
    }
}

/// What Twilio has, listed once per plan: every address of each kind a configured pair has,
/// indexed by SID, by name and (chat addresses) by `Address`.
struct Upstream {
    listed: HashMap<AddressKind, Vec<Existing>>,
    by_sid: HashMap<(AddressKind, String), usize>,
    /// Oldest first, as Twilio lists.
    by_name: HashMap<(AddressKind, String), Vec<usize>>,
    /// By their own `Address` (unique at Twilio).
    by_address: HashMap<(AddressKind, String), usize>,
}

impl Upstream {
    async fn list(table: &RoutingTable, client: &FlexApiClient) -> Result<Self, TwilioError> {
        let kinds = table.summary().kinds;
        let mut upstream = Self {
            listed: HashMap::new(),
            by_sid: HashMap::new(),
            by_name: HashMap::new(),
            by_address: HashMap::new(),
        };
        for kind in AddressKind::ALL {
            if kinds[kind as usize] == 0 || !kind.provisioned() {
                continue;
            }
            let existing = upstream::list(kind, client).await?;
            for (index, address) in existing.iter().enumerate() {
                upstream
                    .by_sid
                    .insert((kind, address.sid().to_string()), index);
                if let Some(name) = address.friendly_name() {
                    let named = upstream.by_name.entry((kind, name.to_string()));
                    named.or_default().push(index);
                }
                if let Some(own) = address.own_address() {
                    upstream.by_address.insert((kind, own.to_string()), index);
                }
            }
            upstream.listed.insert(kind, existing);
        }
        Ok(upstream)
    }

    fn get(&self, kind: AddressKind, index: usize) -> Option<&Existing> {
        self.listed.get(&kind)?.get(index)
    }

    fn by_sid(&self, kind: AddressKind, sid: &str) -> Option<&Existing> {
        let index = *self.by_sid.get(&(kind, sid.to_string()))?;
        self.get(kind, index)
    }

    /// The addresses of `kind` named `name`, oldest first.
    fn by_name(&self, kind: AddressKind, name: &str) -> Vec<&Existing> {
        self.by_name
            .get(&(kind, name.to_string()))
            .into_iter()
            .flatten()
            .filter_map(|&index| self.get(kind, index))
            .collect()
    }

    fn by_address(&self, kind: AddressKind, address: &str) -> Option<&Existing> {
        let index = *self.by_address.get(&(kind, address.to_string()))?;
        self.get(kind, index)
    }
}

/// The differences as the plan shows them: URLs with their user-info masked.
fn differences(existing: &Existing, desired: &Desired) -> Vec<Difference> {
    existing
        .differences(desired)
        .into_iter()
        .map(|(field, wanted, found)| {
            // A webhook URL may carry credentials: shown masked, like every configured URL.
            let (wanted, mut found) = (redact_url(&wanted), redact_url(&found));
            if wanted == found {
                found.push_str(" (the user-info differs)");
            }
            Difference {
                field,
                wanted,
                found,
            }
        })
        .collect()
}

/// Compares every configured pair with the addresses at Twilio.
pub async fn plan(table: &RoutingTable, p: &Provisioner) -> Result<Vec<PlanItem>, TwilioError> {
    let client = p.settings.client.as_ref().ok_or_else(|| {
        TwilioError::Transport("provisioning is disabled or has no Twilio credentials".into())
    })?;
    let upstream = Upstream::list(table, client).await?;
    let mut items = Vec::new();
    for site in &table.sites {
        for pair in &site.pairs {
            items.push(compare(&upstream, p, site, pair));
        }
    }
    Ok(items)
}

fn compare(upstream: &Upstream, p: &Provisioner, site: &Site, pair: &Pair) -> PlanItem {
    let name = params::friendly_name(&p.settings.friendly_name, &site.id, &pair.language);
    let known = p.known(site, pair);
    let item = |sid: Option<String>, source, status, action, differences| PlanItem {
        site: site.id.to_string(),
        kind: pair.kind,
        language: pair.language.to_string(),
        friendly_name: name.clone(),
        sid,
        source,
        status,
        action,
        differences,
        orphans: Vec::new(),
        result: None,
    };
    // Deployment keys are made and tied to an address in the Console; there is nothing to
    // compare them with through the API.
    if !pair.kind.provisioned() {
        let (sid, source) = known
            .map(|(a, s)| (Some(a.sid), Some(s)))
            .unwrap_or_default();
        return item(sid, source, Status::Console, Action::None, Vec::new());
    }
    let desired = p.desired(site, pair).map(|(_, desired)| desired);
    let mut orphans = Vec::new();
    let (sid, source, existing) = match &known {
        Some((address, source)) => {
            orphans = upstream
                .by_name(pair.kind, &name)
                .iter()
                .map(|e| e.sid())
                .filter(|sid| *sid != address.sid())
                .map(str::to_string)
                .collect();
            (
                Some(address.sid().to_string()),
                Some(*source),
                upstream.by_sid(pair.kind, address.sid()),
            )
        }
        None => {
            let mut named = upstream.by_name(pair.kind, &name);
            if named.len() > 1 {
                // Never guessed: the operator decides which one the pair should have.
                let sids = named.iter().map(|e| e.sid()).collect::<Vec<_>>().join(", ");
                return item(
                    None,
                    None,
                    Status::Ambiguous,
                    Action::Investigate,
                    vec![Difference {
                        field: "friendly_name",
                        wanted: format!("one address named `{name}`"),
                        found: format!("{} addresses: {sids}", named.len()),
                    }],
                );
            }
            // As provisioning does: a chat address with the pair's own `Address` is the pair's,
            // whatever its name became.
            let own = desired
                .as_ref()
                .and_then(Desired::own_address)
                .and_then(|a| upstream.by_address(pair.kind, a));
            match named.drain(..).next().or(own) {
                Some(found) => (
                    Some(found.sid().to_string()),
                    Some(Source::Upstream),
                    Some(found),
                ),
                None => (None, None, None),
            }
        }
    };
    let differences = match (&existing, &desired) {
        (Some(existing), Some(desired)) => differences(existing, desired),
        _ => Vec::new(),
    };
    let (status, action) = match (&known, &existing) {
        (_, None) if sid.is_some() => (Status::Missing, Action::Investigate),
        (_, None) => (Status::Missing, Action::Create),
        (_, Some(_)) if !differences.is_empty() => (Status::Differs, Action::Update),
        (None, Some(_)) => (Status::Exists, Action::Adopt),
        (Some(_), Some(_)) => (Status::Exists, Action::None),
    };
    let mut item = item(sid, source, status, action, differences);
    item.orphans = orphans;
    item
}

/// Carries a plan out: creates go through the provisioner (so they share its single flight
/// and lookup-before-retry), updates send the fields that differ, adoptions are recorded.
///
/// `delete_orphans`: also delete the other addresses with a pair's name, for pairs whose
/// address is known (pinned or recorded) and exists at Twilio; never for a pair without one.
pub async fn apply(
    table: &RoutingTable,
    p: &Arc<Provisioner>,
    delete_orphans: bool,
) -> Result<Vec<PlanItem>, TwilioError> {
    let mut items = plan(table, p).await?;
    let client = p
        .settings
        .client
        .clone()
        .expect("plan succeeded, so there is a client");
    for item in &mut items {
        let Some(site) = table.site_by_id(&item.site).map(|s| &table.sites[s]) else {
            continue;
        };
        let Some(pair) = site
            .languages
            .position(&item.language)
            .map(|i| &site.pairs[i])
        else {
            continue;
        };
        let result = match item.action {
            Action::None | Action::Investigate => None,
            Action::Create => Some(match p.provision_now(site, pair).await {
                Ok(sid) => format!("created {sid}"),
                Err(e) => format!("failed: {e}"),
            }),
            Action::Adopt => {
                let sid = item.sid.clone().unwrap_or_default();
                Some(
                    match p.adopt(site, pair, sid.clone(), Source::Adopted).await {
                        Ok(_) => format!("adopted {sid}"),
                        Err(e) => format!("failed: {e}"),
                    },
                )
            }
            Action::Update => {
                let sid = item.sid.clone().unwrap_or_default();
                let updated = match p.desired(site, pair) {
                    Some((_, desired)) => desired.update(&client, &sid).await,
                    None => Err(TwilioError::Transport(
                        "no service configured for this kind".into(),
                    )),
                };
                Some(match updated {
                    Ok(()) => {
                        if item.source == Some(Source::Upstream) {
                            let _ = p.adopt(site, pair, sid.clone(), Source::Adopted).await;
                        }
                        format!("updated {sid}")
                    }
                    Err(e) => format!("failed: {e}"),
                })
            }
        };
        item.result = result;
        if delete_orphans && !item.orphans.is_empty() && item.status != Status::Missing {
            let deleted = delete(&client, item.kind, &item.orphans).await;
            item.result = Some(match item.result.take() {
                Some(done) => format!("{done}; {deleted}"),
                None => deleted,
            });
        }
    }
    Ok(items)
}

/// Deletes a pair's orphans; what happened, for the plan's `result`.
async fn delete(client: &FlexApiClient, kind: AddressKind, orphans: &[String]) -> String {
    let mut outcome = Vec::new();
    for sid in orphans {
        outcome.push(match upstream::delete(kind, client, sid).await {
            Ok(()) => format!("deleted orphan {sid}"),
            Err(e) => format!("failed to delete orphan {sid}: {e}"),
        });
    }
    outcome.join("; ")
}

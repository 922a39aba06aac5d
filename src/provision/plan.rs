//! `flexroute plan` / `apply` and `POST /admin/provision`: compare every configured pair with
//! Twilio and say (or do) what it takes to make them agree. One paged list of all flows gives
//! the picture, so a plan costs a few calls however many pairs there are.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::{Provisioner, Source, params};
use crate::table::RoutingTable;
use crate::twilio::client::TwilioError;
use crate::twilio::types::FlexFlow;

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

/// A Flex Flow setting whose value at Twilio is not the configured one.
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
    pub friendly_name: String,
    pub sid: Option<String>,
    /// `pinned`, `stored`, `adopted`, `created`, or `upstream` (found by name).
    #[schema(value_type = Option<PlanSource>)]
    pub source: Option<&'static str>,
    /// `exists`, `missing` or `differs`.
    #[schema(value_type = PlanStatus)]
    pub status: &'static str,
    pub action: Action,
    pub differences: Vec<Difference>,
    /// Set by apply: what happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// Where a plan item's SID came from (documentation of [`PlanItem::source`]).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum PlanSource {
    Pinned,
    Stored,
    Adopted,
    Created,
    Upstream,
}

/// The pair's flow at Twilio (documentation of [`PlanItem::status`]).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum PlanStatus {
    Exists,
    Missing,
    Differs,
}

/// Compares every configured pair with the flows at Twilio.
pub async fn plan(table: &RoutingTable, p: &Provisioner) -> Result<Vec<PlanItem>, TwilioError> {
    let client = p.settings.client.as_ref().ok_or_else(|| {
        TwilioError::Transport("provisioning is disabled or has no Twilio credentials".into())
    })?;
    let flows = client.list(None).await?;
    let by_sid: HashMap<&str, &FlexFlow> = flows.iter().map(|f| (f.sid.as_str(), f)).collect();
    let mut by_name: HashMap<&str, &FlexFlow> = HashMap::new();
    for flow in &flows {
        if let Some(name) = flow.friendly_name.as_deref() {
            by_name.entry(name).or_insert(flow); // the oldest, as provisioning adopts
        }
    }
    let chat_service = p.settings.chat_service_sid.clone().unwrap_or_default();
    let mut items = Vec::new();
    for site in &table.sites {
        for pair in &site.pairs {
            let name = params::friendly_name(&p.settings.friendly_name, &site.id, &pair.language);
            let desired = params::desired(&name, &chat_service, &pair.flow);
            let known = p.known(site, pair);
            let (sid, source, flow) = match &known {
                Some((address, source)) => (
                    Some(address.sid().to_string()),
                    Some(source.as_str()),
                    by_sid.get(address.sid()).copied(),
                ),
                None => match by_name.get(name.as_str()) {
                    Some(flow) => (Some(flow.sid.clone()), Some("upstream"), Some(*flow)),
                    None => (None, None, None),
                },
            };
            let differences: Vec<Difference> = flow
                .map(|f| params::differences(&desired, f))
                .unwrap_or_default()
                .into_iter()
                .map(|(field, wanted, found)| Difference {
                    field,
                    wanted,
                    found,
                })
                .collect();
            let (status, action) = match (&known, flow) {
                (_, None) if sid.is_some() => ("missing", Action::Investigate),
                (_, None) => ("missing", Action::Create),
                (_, Some(_)) if !differences.is_empty() => ("differs", Action::Update),
                (None, Some(_)) => ("exists", Action::Adopt),
                (Some(_), Some(_)) => ("exists", Action::None),
            };
            items.push(PlanItem {
                site: site.id.to_string(),
                language: pair.language.to_string(),
                friendly_name: name,
                sid,
                source,
                status,
                action,
                differences,
                result: None,
            });
        }
    }
    Ok(items)
}

/// Carries a plan out: creates go through the provisioner (so they share its single flight
/// and lookup-before-retry), updates send the fields that differ, adoptions are recorded.
pub async fn apply(
    table: &RoutingTable,
    p: &Arc<Provisioner>,
) -> Result<Vec<PlanItem>, TwilioError> {
    let mut items = plan(table, p).await?;
    let client = p
        .settings
        .client
        .clone()
        .expect("plan succeeded, so there is a client");
    let chat_service = p.settings.chat_service_sid.clone().unwrap_or_default();
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
                let desired = params::desired(&item.friendly_name, &chat_service, &pair.flow);
                let mut update = desired.clone();
                update.friendly_name = None; // a pinned flow keeps the name it has
                Some(match client.update(&sid, &update).await {
                    Ok(_) => {
                        if item.source == Some("upstream") {
                            let _ = p.adopt(site, pair, sid.clone(), Source::Adopted).await;
                        }
                        format!("updated {sid}")
                    }
                    Err(e) => format!("failed: {e}"),
                })
            }
        };
        item.result = result;
    }
    Ok(items)
}

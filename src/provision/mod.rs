//! Ensuring every configured (site, language) pair has an address: pinned in
//! the config → remembered in the state store → found at Twilio by its deterministic friendly
//! name → created. One provisioning task per pair at a time however many requests want it; a
//! request waits at most `provisioning.wait_ms` while the task carries on in the background.
//! With a shared store (Redis) the task also holds the pair's lease across replicas
//! (`flight`), and addresses other replicas record become known here (`follow`).

pub mod degraded;
mod duplicates;
mod error;
mod failures;
mod flights;
mod follow;
mod known;
mod lease_flight;
pub mod params;
mod persist;
pub mod plan;
mod scan;
mod settle;
pub mod store;
mod task;
#[cfg(test)]
mod tests;
pub mod upstream;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore};

use crate::cache::RouteKey;
use crate::metrics::Metrics;
use crate::table::{Address, Pair, RoutingTable, Site};
use crate::twilio::client::FlexApiClient;
pub use error::ProvisionError;
pub use failures::Failure;
use flights::{Boarding, Decision, Flights};
use store::StateStore;
use upstream::Desired;

/// Where a pair's address came from: in the provisioner, in stored records, in `plan` and in
/// `/admin/routes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// In the configuration (`flex_flow_sid`, `address_sid`, `deployment_key`).
    Pinned,
    /// Found at Twilio by the pair's friendly name, and recorded.
    Adopted,
    /// Created at Twilio by flexroute.
    Created,
    /// Found at Twilio by the pair's friendly name and not recorded yet (`plan` only).
    Upstream,
    /// Read from the state store: another process (or an earlier run) settled it. Also what
    /// an unknown value in a stored record reads as.
    #[serde(other)]
    Stored,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Pinned => "pinned",
            Source::Stored => "stored",
            Source::Adopted => "adopted",
            Source::Created => "created",
            Source::Upstream => "upstream",
        }
    }
}

/// What the provisioner needs besides the table: how to reach Twilio and how to behave.
pub struct Settings {
    /// `None` when provisioning is disabled: missing pairs stay missing.
    pub client: Option<FlexApiClient>,
    /// The Flex chat service of `flex_flow` addresses.
    pub chat_service_sid: Option<String>,
    /// The Conversations service of `conversations` addresses.
    pub conversations_service_sid: Option<String>,
    pub friendly_name: String,
    /// `provisioning.chat_address`: the `Address` of a `conversations` address.
    pub chat_address: String,
    pub wait: Duration,
    /// Upstream calls in flight at once, across all pairs.
    pub max_concurrent_calls: usize,
    /// Rest after a pair's first failed attempt; doubles per failure up to 5 minutes.
    pub failure_backoff: Duration,
    /// `/readyz` says 503 while a shared store is unreachable (`redis_unavailable = "not-ready"`).
    pub unready_without_store: bool,
    /// Timeout of one call to Twilio: a create starts only while the pair's lease is valid for
    /// at least this long.
    pub upstream_timeout: Duration,
}

/// How soon a pair is tried again after an attempt that could not reach the shared store (and
/// at once when it answers again).
const STORE_RETRY: Duration = Duration::from_secs(1);

type ChangeHook = Box<dyn Fn(&RouteKey) + Send + Sync>;

/// The provisioner: its settings and services, and its state, in parts that each keep their
/// own invariants (`known`, `failures`, `flights`, `unpersisted`, `duplicates`, `store_health`).
pub struct Provisioner {
    settings: Settings,
    store: Arc<dyn StateStore>,
    metrics: Metrics,
    known: known::Known,
    failures: failures::Failures,
    flights: Flights,
    permits: Arc<Semaphore>,
    /// The listing of chat addresses that pairs missing at the same moment share.
    scan: scan::SharedScan,
    /// Woken whenever an address becomes known (waiters on another replica's lease).
    learned: Notify,
    store_health: follow::StoreHealth,
    /// Told when a pair's address changes (the response cache drops the pair's answers).
    on_change: OnceLock<ChangeHook>,
    /// Addresses served whose record the store could not write yet (`persist`).
    unpersisted: persist::Unpersisted,
    /// Addresses with a pair's name that it is not served with (`duplicates`).
    duplicates: duplicates::Duplicates,
}

/// The answer for a request that needed an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Ready(Address),
    /// Not available now (provisioning disabled, failing, or slower than `wait_ms`).
    Unavailable,
}

impl Provisioner {
    /// Loads the store's records for the pairs `table` configures (others are ignored: the
    /// config may have dropped them) without any upstream call.
    pub async fn new(
        table: &RoutingTable,
        settings: Settings,
        store: Arc<dyn StateStore>,
        metrics: Metrics,
    ) -> std::io::Result<Arc<Self>> {
        let feed = store.feed();
        let records = match store.load().await {
            Ok(records) => records,
            // A shared store that is down at start: serve pinned addresses (and degraded
            // answers), and learn the rest when it answers.
            Err(e) if feed.is_some() => {
                tracing::warn!(
                    store = %store.describe(),
                    "the shared state store cannot be reached at start ({e}); serving pinned addresses until it answers"
                );
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let store_up = feed.as_ref().is_none_or(|f| *f.available.borrow());
        // Every record is kept, configured or not: a reload may configure the pair again.
        let known: HashMap<RouteKey, (String, Source)> = records
            .into_iter()
            .map(|record| (record_key(&record), (record.sid, Source::Stored)))
            .collect();
        let permits = Arc::new(Semaphore::new(settings.max_concurrent_calls.max(1)));
        let provisioner = Arc::new(Self {
            settings,
            store,
            metrics,
            known: known::Known::new(known),
            failures: Default::default(),
            flights: Default::default(),
            permits,
            scan: scan::SharedScan::default(),
            learned: Notify::new(),
            store_health: follow::StoreHealth::new(store_up),
            on_change: OnceLock::new(),
            unpersisted: Default::default(),
            duplicates: Default::default(),
        });
        provisioner.metrics.unpersisted_addresses.set(0);
        tokio::spawn(persist::retry(Arc::downgrade(&provisioner)));
        provisioner.metrics.state_store_up.set(i64::from(store_up));
        if let Some(feed) = feed {
            tokio::spawn(follow::follow(Arc::downgrade(&provisioner), feed));
        }
        provisioner.set_table(table);
        let (pinned, stored) = provisioner.known.settled_at_start();
        let m = &provisioner.metrics.provisions;
        m.with_label_values(&["pinned"]).inc_by(pinned as u64);
        m.with_label_values(&["stored"]).inc_by(stored as u64);
        Ok(provisioner)
    }

    /// Takes in a (re)loaded table: which pairs exist, and forgets failures of pairs that no
    /// longer do. Addresses stay known by name, so a pair that comes back needs no call.
    pub fn set_table(&self, table: &RoutingTable) {
        let summary = table.summary();
        let unpinned: HashSet<RouteKey> = table
            .sites
            .iter()
            .flat_map(|site| site.pairs.iter().map(move |pair| (site, pair)))
            .filter(|(_, pair)| pair.pinned.is_none())
            .map(|(site, pair)| key(site, pair))
            .collect();
        self.failures.retain(|k| unpinned.contains(k));
        self.duplicates.retain(|k| unpinned.contains(k));
        self.known
            .set_table(summary.pairs, summary.pinned, unpinned);
        self.update_gauge();
    }

    /// Waits until no provisioning task runs, at most `limit`; whether they all finished.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while !self.flights.is_empty() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    pub fn store_description(&self) -> String {
        self.store.describe()
    }

    /// Whether the state store answers (a shared one may not; the embedded ones always do).
    pub fn store_up(&self) -> bool {
        self.store_health.up()
    }

    /// Why the shared store fails now (`None` while it answers, and for the embedded ones).
    pub fn store_problem(&self) -> Option<store::StoreProblem> {
        self.store_health.problem()
    }

    /// Readiness as far as provisioning is concerned: false only while a shared store is
    /// unreachable and the config says not to take traffic then.
    pub fn ready(&self) -> bool {
        self.store_up() || !self.settings.unready_without_store
    }

    /// Calls `hook` with every pair whose address becomes known or changes after start (the
    /// application drops the pair's cached answers). Set once.
    pub fn on_change(&self, hook: impl Fn(&RouteKey) + Send + Sync + 'static) {
        let _ = self.on_change.set(Box::new(hook));
    }

    /// The address of a pair known without waiting: pinned or already provisioned.
    pub fn known(&self, site: &Site, pair: &Pair) -> Option<(Address, Source)> {
        if let Some(address) = &pair.pinned {
            return Some((address.clone(), Source::Pinned));
        }
        let key = key(site, pair);
        self.known
            .get(&key)
            .map(|(sid, source)| (Address::new(key.kind, sid), source))
    }

    pub fn failure(&self, site: &Site, pair: &Pair) -> Option<Failure> {
        self.failures.get(&key(site, pair))
    }

    pub fn is_provisioning(&self, site: &Site, pair: &Pair) -> bool {
        self.flights.contains(&key(site, pair))
    }

    /// The pair's address, provisioning it if needed and waiting at most `wait_ms`.
    pub async fn address(self: &Arc<Self>, site: &Site, pair: &Pair) -> Lookup {
        if let Some((address, _)) = self.known(site, pair) {
            return Lookup::Ready(address);
        }
        let Some(mut outcome) = self.board(site, pair, false) else {
            return Lookup::Unavailable;
        };
        let settled =
            tokio::time::timeout(self.settings.wait, outcome.wait_for(Option::is_some)).await;
        match settled {
            Ok(Ok(result)) => match result.as_ref() {
                Some(Ok(sid)) => Lookup::Ready(Address::new(pair.kind, sid.clone())),
                _ => Lookup::Unavailable,
            },
            _ => Lookup::Unavailable,
        }
    }

    /// Starts provisioning a pair without waiting for it (a site's default language, needed
    /// to lend its address while another pair is unavailable).
    pub fn prefetch(self: &Arc<Self>, site: &Site, pair: &Pair) {
        if self.known(site, pair).is_none() {
            let _ = self.board(site, pair, false);
        }
    }

    /// Boards the pair's flight, starting its task unless provisioning is off or the pair is
    /// resting after a failure (`forced`, an operator's `apply`, ignores the rest).
    fn board(
        self: &Arc<Self>,
        site: &Site,
        pair: &Pair,
        forced: bool,
    ) -> Option<tokio::sync::watch::Receiver<flights::Outcome>> {
        let client = self.settings.client.clone()?;
        let (name, desired) = self.desired(site, pair)?;
        let key = key(site, pair);
        let boarding = self.flights.board(&key, || {
            if let Some((address, _)) = self.known(site, pair) {
                Decision::Settled(address.sid().to_string())
            } else if self.failures.resting(&key) && !forced {
                Decision::Refuse
            } else {
                Decision::Start
            }
        });
        let (tx, rx) = match boarding {
            Boarding::Join(rx) => return Some(rx),
            Boarding::Refused => return None,
            Boarding::Start(tx, rx) => (tx, rx),
        };
        let this = self.clone();
        tokio::spawn(async move {
            let leaving = LeaveFlight {
                provisioner: this.clone(),
                key: key.clone(),
            };
            let result =
                lease_flight::find_or_create_under_lease(&this, &key, &client, &name, &desired)
                    .await;
            let created = matches!(&result, Ok(found) if found.source == Source::Created);
            let outcome = this.settle(&key, result);
            drop(leaving);
            let _ = tx.send(Some(outcome));
            if created {
                // Long enough for a create another replica sent before ours to have been
                // applied, however late its answer.
                let after = this.settings.upstream_timeout * 2;
                this.look_again_later(key, client, name, desired, after);
            }
        });
        Some(rx)
    }

    /// Provisions a pair now and waits for the outcome, however long it takes and even if
    /// the pair is resting after a failure: `apply`, run by an operator.
    pub async fn provision_now(
        self: &Arc<Self>,
        site: &Site,
        pair: &Pair,
    ) -> Result<String, ProvisionError> {
        if let Some((address, _)) = self.known(site, pair) {
            return Ok(address.sid().to_string());
        }
        let mut outcome = self
            .board(site, pair, true)
            .ok_or(ProvisionError::Disabled)?;
        match outcome.wait_for(Option::is_some).await {
            Ok(result) => result.clone().unwrap_or(Err(ProvisionError::Stopped)),
            Err(_) => Err(ProvisionError::Stopped),
        }
    }

    fn update_gauge(&self) {
        let failing = self.failures.len();
        let (pairs, ready) = self.known.readiness();
        let missing = pairs.saturating_sub(ready + failing);
        self.metrics.set_route_states(ready, missing, failing);
    }

    /// Remembers an address found outside a request (apply). Refuses to replace an address
    /// the pair already has: requests may be served with it, and only a config change
    /// (pinning) should move a pair.
    pub async fn adopt(
        &self,
        site: &Site,
        pair: &Pair,
        sid: String,
        source: Source,
    ) -> Result<String, ProvisionError> {
        if let Some((address, _)) = self.known(site, pair) {
            return if address.sid() == sid {
                Ok(sid)
            } else {
                Err(ProvisionError::AlreadyHas(address.sid().to_string()))
            };
        }
        let name = params::friendly_name(&self.settings.friendly_name, &site.id, &pair.language);
        let key = key(site, pair);
        let record = store::StoredAddress {
            site: key.site.to_string(),
            language: key.language.to_string(),
            kind: key.kind,
            sid: sid.clone(),
            friendly_name: name,
            source,
            recorded_at: unix_now(),
        };
        match self.store.record(record.clone()).await {
            Ok(()) => self.persisted_one(),
            // Served anyway (chat must not go away), marked, counted and retried.
            Err(e) => self.not_persisted(record, &e),
        }
        // A shared store keeps an address it already had and publishes it: the follower
        // then replaces this one, as every replica does.
        self.remember(&key, &sid, source);
        Ok(sid)
    }

    /// The pair's friendly name (`provisioning.friendly_name` filled in).
    pub fn friendly_name(&self, site: &str, language: &str) -> String {
        params::friendly_name(&self.settings.friendly_name, site, language)
    }

    /// The pair's friendly name and the address it should have at Twilio; `None` for a kind
    /// flexroute does not create, or without the service its addresses belong to.
    pub fn desired(&self, site: &Site, pair: &Pair) -> Option<(String, Desired)> {
        Desired::for_pair(&self.settings, site, pair)
    }
}

/// Takes a pair's flight off the map when its task ends, however it ends.
struct LeaveFlight {
    provisioner: Arc<Provisioner>,
    key: RouteKey,
}

impl Drop for LeaveFlight {
    fn drop(&mut self) {
        self.provisioner.flights.leave(&self.key);
    }
}

pub fn key(site: &Site, pair: &Pair) -> RouteKey {
    RouteKey {
        site: site.id.clone(),
        language: pair.language.clone(),
        kind: pair.kind,
    }
}

/// The pair a stored record is for.
fn record_key(record: &store::StoredAddress) -> RouteKey {
    RouteKey {
        site: record.site.as_str().into(),
        language: record.language.as_str().into(),
        kind: record.kind,
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

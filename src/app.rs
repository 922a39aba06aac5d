//! The application state: the routing table in force, the answer cache, the metrics, the
//! provisioner and the session backend. Below `reload` and `http`, which both work on it: a
//! reload puts a new table in force ([`App::install`]), handlers read it. Neither is imported
//! from here.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::address::AddressKind;
use crate::cache::ResponseCache;
use crate::config::{Config, RedisUnavailable};
use crate::metrics::Metrics;
use crate::provision::store::{StateStore, StoreProblem};
use crate::provision::{self, Provisioner};
use crate::session::backend::Sessions;
use crate::session::token::{SigningKey, TokenIssuer};
use crate::table::RoutingTable;
use crate::twilio::Credentials;
use crate::twilio::client::FlexApiClient;

/// Shared by every handler and the reloader; cloning it is one reference-count increment.
#[derive(Clone)]
pub struct App(Arc<Core>);

pub struct Core {
    /// Swapped whole by a reload; requests load it without a lock.
    table: ArcSwap<RoutingTable>,
    pub cache: ResponseCache,
    pub metrics: Metrics,
    pub provisioner: Arc<Provisioner>,
    /// The session backend of `conversations` pairs (absent without an API key to sign
    /// visitors' tokens with).
    pub sessions: Option<Arc<Sessions>>,
    ready: AtomicBool,
}

impl Deref for App {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.0
    }
}

/// What putting a new table in force changed, in pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installed {
    /// Pairs whose answer changed (their cached answers were dropped).
    pub changed: usize,
    pub added: usize,
    pub removed: usize,
}

impl App {
    /// Builds the state for a validated configuration: the routing table, the state store
    /// (`store`, or the one `provisioning.state` names; read once, no upstream call), the Twilio
    /// client and the provisioner.
    pub async fn build(
        config: &Config,
        credentials: Option<&Credentials>,
        store: Option<Arc<dyn StateStore>>,
    ) -> std::io::Result<Self> {
        Self::build_with(config, RoutingTable::build(config), credentials, store).await
    }

    /// Same as [`App::build`], with the routing table already compiled from `config` (whose
    /// sites may then be gone: nothing else here reads them).
    pub async fn build_with(
        config: &Config,
        table: RoutingTable,
        credentials: Option<&Credentials>,
        store: Option<Arc<dyn StateStore>>,
    ) -> std::io::Result<Self> {
        let metrics = Metrics::new();
        // Every problem a state store can report is a series from the start, at zero.
        for problem in StoreProblem::ALL {
            metrics
                .state_store_problem
                .with_label_values(&[problem.as_str()]);
        }
        let table = Arc::new(table);
        let store = match store {
            Some(store) => store,
            None => provision::store::open(&config.provisioning)?,
        };
        let p = &config.provisioning;
        let client = match credentials {
            Some(credentials) => Some(
                FlexApiClient::new(
                    &config.twilio.flex_api_base,
                    credentials.clone(),
                    Duration::from_millis(p.upstream_timeout_ms),
                    metrics.clone(),
                )
                .and_then(|client| {
                    client.with_conversations_base(&config.twilio.conversations_api_base)
                })
                .map_err(std::io::Error::other)?,
            ),
            None => None,
        };
        if p.enabled && client.is_none() && table.summary().missing > 0 {
            tracing::warn!(
                "no Twilio credentials (TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN or TWILIO_API_KEY + TWILIO_API_SECRET): pairs without an address will not be provisioned"
            );
        }
        let sessions = sessions(config, &table, credentials, client.clone())?;
        let settings = provision::Settings {
            client: client.filter(|_| p.enabled),
            chat_service_sid: config.twilio.chat_service_sid.clone(),
            conversations_service_sid: config.twilio.conversations_service_sid.clone(),
            friendly_name: p.friendly_name.clone(),
            chat_address: p.chat_address.clone(),
            wait: Duration::from_millis(p.wait_ms),
            max_concurrent_calls: p.max_concurrent_calls,
            failure_backoff: Duration::from_millis(p.failure_backoff_ms),
            unready_without_store: p.redis_unavailable == RedisUnavailable::NotReady,
            upstream_timeout: Duration::from_millis(p.upstream_timeout_ms),
        };
        let provisioner = Provisioner::new(&table, settings, store, metrics.clone()).await?;
        let app = Self::new(
            table,
            metrics,
            provisioner,
            config.server.cache_max_entries,
            sessions,
        );
        // An address learned from another replica (or replacing one) must not be shadowed by
        // an answer cached before it.
        let cache = app.cache.clone();
        app.provisioner.on_change(move |key| cache.invalidate(key));
        Ok(app)
    }

    pub fn new(
        table: Arc<RoutingTable>,
        metrics: Metrics,
        provisioner: Arc<Provisioner>,
        cache_max_entries: u64,
        sessions: Option<Arc<Sessions>>,
    ) -> Self {
        metrics.mark_config_loaded();
        Self(Arc::new(Core {
            table: ArcSwap::new(table),
            cache: ResponseCache::new(cache_max_entries),
            metrics,
            provisioner,
            sessions,
            ready: AtomicBool::new(false),
        }))
    }

    /// The table in force (one atomic increment; a reload never blocks a request).
    pub fn table(&self) -> Arc<RoutingTable> {
        self.table.load_full()
    }

    /// Puts `new` in force: drops the cached answers of pairs that changed or went away, then
    /// swaps the table (requests in flight keep the one they loaded) and hands it to the
    /// provisioner.
    pub fn install(&self, new: Arc<RoutingTable>) -> Installed {
        let old = self.table();
        let (changed, removed) = self.drop_changed_answers(&old, &new);
        let kept = old.summary().pairs - removed;
        let added = new.summary().pairs - kept;
        self.table.swap(new.clone());
        self.provisioner.set_table(&new);
        Installed {
            changed,
            added,
            removed,
        }
    }

    /// Invalidates cached answers of pairs that changed or went away; returns both counts.
    fn drop_changed_answers(&self, old: &RoutingTable, new: &RoutingTable) -> (usize, usize) {
        let (mut changed, mut removed) = (0, 0);
        for site in &old.sites {
            for pair in &site.pairs {
                let gone = match new.pair(&site.id, &pair.language) {
                    Some((_, now)) if now.fingerprint == pair.fingerprint => continue,
                    Some(_) => false,
                    None => true,
                };
                if gone {
                    removed += 1;
                } else {
                    changed += 1;
                }
                self.cache.invalidate(&provision::key(site, pair));
            }
        }
        (changed, removed)
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}

/// The session backend of `conversations` pairs: an API key to sign visitors' tokens with (the
/// credentials, when they are one) and the Conversations service. `None` when the table has no
/// such pair or the means are missing (validation names what is missing; a table built in
/// memory may still lack it: its session routes then answer 503).
fn sessions(
    config: &Config,
    table: &RoutingTable,
    credentials: Option<&Credentials>,
    client: Option<FlexApiClient>,
) -> std::io::Result<Option<Arc<Sessions>>> {
    let wanted = table.summary().kinds[AddressKind::Conversations as usize] > 0;
    let (Some(credentials), Some(client), Some(account), Some(service)) = (
        credentials,
        client,
        config.twilio.account_sid.as_deref(),
        config.twilio.conversations_service_sid.as_deref(),
    ) else {
        if wanted {
            tracing::warn!(
                "conversations pairs cannot start chats: they need TWILIO_API_KEY + TWILIO_API_SECRET and twilio.conversations_service_sid"
            );
        }
        return Ok(None);
    };
    let key = match SigningKey::from_credentials(account, credentials) {
        Ok(key) => key,
        Err(e) => {
            if wanted {
                tracing::warn!(
                    "conversations pairs cannot start chats: visitors' tokens are signed with an API key (TWILIO_API_KEY + TWILIO_API_SECRET): {e}"
                );
            }
            return Ok(None);
        }
    };
    let ttl = Duration::from_secs(config.twilio.token_ttl_secs);
    let issuer = TokenIssuer::new(key, service, ttl).map_err(std::io::Error::other)?;
    Ok(Some(Arc::new(Sessions::new(client, issuer))))
}

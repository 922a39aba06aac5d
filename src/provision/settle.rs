//! What the provisioner remembers once a pair's task ends (an address, or a failure with its
//! back-off), and when an address arrives from another replica through the shared store.

use std::time::Instant;

use super::flight::{Failed, Found};
use super::{Failure, Provisioner, STORE_RETRY, Source, lock, task};
use crate::cache::RouteKey;

impl Provisioner {
    /// Takes in the task's result (the flight has recorded an address already): remember
    /// it, or remember the failure with a growing back-off.
    pub(super) fn settle(
        &self,
        key: &RouteKey,
        result: Result<Found, Failed>,
    ) -> Result<String, String> {
        let outcome = match result {
            Ok(Found { sid, source }) => {
                self.remember(key, &sid, source);
                if matches!(source, Source::Adopted | Source::Created) {
                    self.twilio_answered();
                }
                Ok(sid)
            }
            Err(failed) => {
                let (error, store_unreachable) = match failed {
                    Failed::Upstream(error) => (error, false),
                    Failed::Store(error) => (error, true),
                };
                let mut failures = lock(&self.failures);
                let attempts = failures.get(key).map_or(0, |f| f.attempts) + 1;
                let rest = if store_unreachable {
                    tracing::debug!(site = %key.site, language = %key.language, attempts, "provisioning waits for the state store: {error}");
                    STORE_RETRY
                } else {
                    let backoff = task::failure_backoff(self.settings.failure_backoff, attempts);
                    tracing::warn!(site = %key.site, language = %key.language, attempts, retry_in_secs = backoff.as_secs(), "provisioning failed: {error}");
                    backoff
                };
                failures.insert(
                    key.clone(),
                    Failure {
                        error: error.clone(),
                        attempts,
                        retry_at: Instant::now() + rest,
                        store_unreachable,
                    },
                );
                self.metrics.provisions.with_label_values(&["failed"]).inc();
                Err(error)
            }
        };
        self.update_gauge();
        outcome
    }

    /// Twilio just answered a lookup or a create: whatever made other pairs' attempts fail
    /// upstream (an outage, throttling) is likely over, so their rest ends now instead of
    /// running out its doubled back-off (up to 5 minutes after a long outage). Their attempt
    /// counts stay, so a pair that fails for reasons of its own backs off again at once; it
    /// is retried at most once per success elsewhere, and only when a visitor asks for it.
    fn twilio_answered(&self) {
        let now = Instant::now();
        let mut woken = 0;
        for failure in lock(&self.failures).values_mut() {
            if !failure.store_unreachable && failure.retry_at > now {
                failure.retry_at = now;
                woken += 1;
            }
        }
        if woken > 0 {
            tracing::info!(
                pairs = woken,
                "Twilio answered again: failed pairs may be retried now"
            );
        }
    }

    /// Makes `sid` the pair's known address (idempotent: a pair learned through pub/sub and
    /// settled by its own task is counted once). A different address replaces the one known:
    /// the shared store is the truth replicas agree on.
    pub(super) fn remember(&self, key: &RouteKey, sid: &str, source: Source) {
        let previous = {
            let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
            match known.get(key) {
                Some((current, _)) if current == sid => return,
                _ => known.insert(key.clone(), (sid.to_string(), source)),
            }
        };
        let mut census = lock(&self.census);
        let configured = census.unpinned.contains(key);
        if previous.is_none() && configured {
            census.ready_unpinned += 1;
        }
        drop(census);
        lock(&self.failures).remove(key);
        if source == Source::Stored {
            // The store has the pair's record (and it wins): nothing left to write.
            self.forget_unpersisted(key);
        }
        match previous {
            // Records of pairs the table does not configure (another replica's newer table)
            // are kept quietly, as at start.
            None if source == Source::Stored && !configured => {}
            None => {
                self.metrics
                    .provisions
                    .with_label_values(&[source.as_str()])
                    .inc();
                tracing::info!(site = %key.site, language = %key.language, %sid, source = source.as_str(), "address ready");
            }
            Some((old, _)) => {
                tracing::warn!(site = %key.site, language = %key.language, %old, new = %sid, "the shared store holds another address for this pair; following it");
            }
        }
        if let Some(hook) = self.on_change.get() {
            hook(key);
        }
        self.learned.notify_waiters();
        self.update_gauge();
    }
}

//! What the provisioner remembers once a pair's task ends (an address, or a failure with its
//! back-off), and when an address arrives from another replica through the shared store.

use super::known::Change;
use super::lease_flight::Found;
use super::{ProvisionError, Provisioner, STORE_RETRY, Source, task};
use crate::cache::RouteKey;

impl Provisioner {
    /// Takes in the task's result (the flight has recorded an address already): remember
    /// it, or remember the failure with a growing back-off.
    pub(super) fn settle(
        &self,
        key: &RouteKey,
        result: Result<Found, ProvisionError>,
    ) -> Result<String, ProvisionError> {
        let outcome = match result {
            Ok(Found { sid, source }) => {
                self.remember(key, &sid, source);
                if matches!(source, Source::Adopted | Source::Created) {
                    self.twilio_answered();
                }
                Ok(sid)
            }
            Err(error) => {
                let store = error.store_unreachable();
                let backoff = self.settings.failure_backoff;
                let (attempts, rest) = self.failures.record(key, error.clone(), |attempts| {
                    if store {
                        STORE_RETRY
                    } else {
                        task::failure_backoff(backoff, attempts)
                    }
                });
                if store {
                    tracing::debug!(site = %key.site, language = %key.language, attempts, "provisioning waits for the state store: {error}");
                } else {
                    tracing::warn!(site = %key.site, language = %key.language, attempts, retry_in_secs = rest.as_secs(), "provisioning failed: {error}");
                }
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
        let woken = self.failures.end_upstream_rests();
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
        let change = self.known.insert(key, sid, source);
        if change == Change::Same {
            return;
        }
        let provisioned = self.known.is_provisioned(key);
        self.failures.clear(key);
        if source == Source::Stored {
            // The store has the pair's record (and it wins): nothing left to write.
            self.forget_unpersisted(key);
        }
        match change {
            // Records of pairs the table does not configure (another replica's newer table)
            // are kept quietly, as at start.
            Change::New if source == Source::Stored && !provisioned => {}
            Change::New => {
                self.metrics
                    .provisions
                    .with_label_values(&[source.as_str()])
                    .inc();
                tracing::info!(site = %key.site, language = %key.language, %sid, source = source.as_str(), "address ready");
            }
            Change::Replaced(old) => {
                tracing::warn!(site = %key.site, language = %key.language, %old, new = %sid, "the shared store holds another address for this pair; following it");
            }
            Change::Same => {}
        }
        if let Some(hook) = self.on_change.get() {
            hook(key);
        }
        self.learned.notify_waiters();
        self.update_gauge();
    }
}

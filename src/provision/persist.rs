//! Addresses that are served but whose record the state store could not write (a full disk, a
//! read-only volume, Redis down). Chat must not go away, so such an address is still served,
//! but never silently: the pair says `"persisted": false` in `/admin/routes`,
//! `flexroute_unpersisted_addresses` counts it, and its record is written again every
//! [`RETRY`] (at once when another write succeeds) until the store takes it. Until then a
//! restart would find the address again at Twilio by its name, not in the store.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::Provisioner;
use super::store::StoredAddress;
use crate::cache::RouteKey;

/// The records served but not written yet, and what wakes their retry early.
#[derive(Default)]
pub(super) struct Unpersisted {
    records: Mutex<HashMap<RouteKey, StoredAddress>>,
    wake: Arc<Notify>,
}

impl Unpersisted {
    fn insert(&self, key: RouteKey, record: StoredAddress) -> usize {
        let mut records = self.records.lock();
        records.insert(key, record);
        records.len()
    }

    /// Forgets the pair's record; the count left, if there was one.
    fn remove(&self, key: &RouteKey) -> Option<usize> {
        let mut records = self.records.lock();
        records.remove(key).map(|_| records.len())
    }

    /// Forgets the pair's record if it is still the one for `sid` (a newer one may have taken
    /// its place while it was written).
    fn written(&self, key: &RouteKey, sid: &str) {
        let mut records = self.records.lock();
        if records.get(key).is_some_and(|r| r.sid == sid) {
            records.remove(key);
        }
    }

    fn contains(&self, key: &RouteKey) -> bool {
        self.records.lock().contains_key(key)
    }

    fn len(&self) -> usize {
        self.records.lock().len()
    }

    fn pending(&self) -> Vec<(RouteKey, StoredAddress)> {
        self.records
            .lock()
            .iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect()
    }

    /// Wakes the retry now if anything waits for it.
    fn wake_if_pending(&self) {
        if self.len() > 0 {
            self.wake.notify_one();
        }
    }
}

/// How often records that could not be written are tried again.
pub(super) const RETRY: Duration = Duration::from_secs(2);

impl Provisioner {
    /// `record` is served but could not be written: remember it for the retry.
    pub(super) fn not_persisted(&self, record: StoredAddress, error: &io::Error) {
        let key = super::record_key(&record);
        tracing::error!(site = %key.site, language = %key.language, sid = %record.sid, store = %self.store.describe(), "cannot persist address ({error}); serving it anyway and retrying every {}s", RETRY.as_secs());
        let count = self.unpersisted.insert(key, record);
        self.metrics.unpersisted_addresses.set(count as i64);
    }

    /// A write just succeeded: the store takes writes again, so retry the others now.
    pub(super) fn persisted_one(&self) {
        self.unpersisted.wake_if_pending();
    }

    /// The store has a record for the pair (learned from it): nothing of ours to write.
    pub(super) fn forget_unpersisted(&self, key: &RouteKey) {
        if let Some(count) = self.unpersisted.remove(key) {
            self.metrics.unpersisted_addresses.set(count as i64);
        }
    }

    /// Whether the pair's address (if any) is in the store: false only while its record
    /// could not be written.
    pub fn persisted(&self, site: &crate::table::Site, pair: &crate::table::Pair) -> bool {
        !self.unpersisted.contains(&super::key(site, pair))
    }

    /// Writes every unpersisted record once; stops at the first failure.
    async fn persist_pending(&self) {
        for (key, record) in self.unpersisted.pending() {
            // A pair that moved to another address since (a shared store's) has nothing to
            // write. One not known yet is being settled by its task: written all the same.
            if self
                .known
                .get(&key)
                .is_some_and(|(sid, _)| sid != record.sid)
            {
                self.forget_unpersisted(&key);
                continue;
            }
            let sid = record.sid.clone();
            match self.store.record(record).await {
                Ok(()) => {
                    self.unpersisted.written(&key, &sid);
                    tracing::info!(site = %key.site, language = %key.language, %sid, "address persisted after all");
                }
                Err(e) => {
                    tracing::debug!("the state store still cannot write addresses: {e}");
                    break;
                }
            }
        }
        let count = self.unpersisted.len();
        self.metrics.unpersisted_addresses.set(count as i64);
    }
}

/// Runs while the provisioner lives: retries unpersisted records every [`RETRY`], or at once
/// when woken.
pub(super) async fn retry(provisioner: Weak<Provisioner>) {
    let Some(wake) = provisioner.upgrade().map(|p| p.unpersisted.wake.clone()) else {
        return;
    };
    loop {
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(RETRY) => {}
        }
        let Some(p) = provisioner.upgrade() else {
            return;
        };
        if p.unpersisted.len() > 0 {
            p.persist_pending().await;
        }
    }
}

//! Addresses that are served but whose record the state store could not write (a full disk, a
//! read-only volume, Redis down). Chat must not go away, so such an address is still served,
//! but never silently: the pair says `"persisted": false` in `/admin/routes`,
//! `flexroute_unpersisted_addresses` counts it, and its record is written again every
//! [`RETRY`] (at once when another write succeeds) until the store takes it. Until then a
//! restart would find the address again at Twilio by its name, not in the store.

use std::io;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use super::store::StoredAddress;
use super::{Provisioner, lock};
use crate::cache::RouteKey;

/// How often records that could not be written are tried again.
pub(super) const RETRY: Duration = Duration::from_secs(2);

impl Provisioner {
    /// `record` is served but could not be written: remember it for the retry.
    pub(super) fn not_persisted(&self, record: StoredAddress, error: &io::Error) {
        let key = super::record_key(&record);
        tracing::error!(site = %key.site, language = %key.language, sid = %record.sid, store = %self.store.describe(), "cannot persist address ({error}); serving it anyway and retrying every {}s", RETRY.as_secs());
        lock(&self.unpersisted).insert(key, record);
        self.count_unpersisted();
    }

    /// A write just succeeded: the store takes writes again, so retry the others now.
    pub(super) fn persisted_one(&self) {
        if !lock(&self.unpersisted).is_empty() {
            self.persist_wake.notify_one();
        }
    }

    /// The store has a record for the pair (learned from it): nothing of ours to write.
    pub(super) fn forget_unpersisted(&self, key: &RouteKey) {
        if lock(&self.unpersisted).remove(key).is_some() {
            self.count_unpersisted();
        }
    }

    /// Whether the pair's address (if any) is in the store: false only while its record
    /// could not be written.
    pub fn persisted(&self, site: &crate::table::Site, pair: &crate::table::Pair) -> bool {
        !lock(&self.unpersisted).contains_key(&super::key(site, pair))
    }

    fn count_unpersisted(&self) {
        let count = lock(&self.unpersisted).len();
        self.metrics.unpersisted_addresses.set(count as i64);
    }

    /// Writes every unpersisted record once; stops at the first failure.
    async fn persist_pending(&self) {
        let pending: Vec<(RouteKey, StoredAddress)> = lock(&self.unpersisted)
            .iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        for (key, record) in pending {
            // A pair that moved to another address since (a shared store's) has nothing to
            // write. One not known yet is being settled by its task: written all the same.
            if self
                .known_key(&key)
                .is_some_and(|(sid, _)| sid != record.sid)
            {
                self.forget_unpersisted(&key);
                continue;
            }
            let sid = record.sid.clone();
            match self.store.record(record).await {
                Ok(()) => {
                    let mut unpersisted = lock(&self.unpersisted);
                    if unpersisted.get(&key).is_some_and(|r| r.sid == sid) {
                        unpersisted.remove(&key);
                    }
                    drop(unpersisted);
                    tracing::info!(site = %key.site, language = %key.language, %sid, "address persisted after all");
                }
                Err(e) => {
                    tracing::debug!("the state store still cannot write addresses: {e}");
                    break;
                }
            }
        }
        self.count_unpersisted();
    }
}

/// Runs while the provisioner lives: retries unpersisted records every [`RETRY`], or at once
/// when woken.
pub(super) async fn retry(provisioner: Weak<Provisioner>, wake: Arc<Notify>) {
    loop {
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(RETRY) => {}
        }
        let Some(p) = provisioner.upgrade() else {
            return;
        };
        if !lock(&p.unpersisted).is_empty() {
            p.persist_pending().await;
        }
    }
}

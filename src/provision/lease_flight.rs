//! Single flight across replicas: before a replica creates a pair's address it takes the
//! pair's lease in the state store, looks again (the store, then Twilio by name), creates, and
//! records the SID with a write that only lands while its lease still holds (fencing). A
//! replica that finds the lease taken waits for the SID to appear instead of creating, and
//! takes the lease itself if it expires first. Without a lease there is no create: while the
//! store cannot be reached, a pair without an address stays without one.
//!
//! The embedded stores grant a lease that never expires and record as before, so with them
//! this is the in-process single flight the provisioner always had.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::store::{Claim, Lease, Recorded, StateStore, StoredAddress};
use super::task::{self, Stop};
use super::upstream::Desired;
use super::{ProvisionError, Provisioner, Source};
use crate::cache::RouteKey;
use crate::twilio::client::FlexApiClient;

/// An address settled for a pair, and where it came from.
pub(super) struct Found {
    pub sid: String,
    pub source: Source,
}

/// How often a replica waiting on another's lease looks at the store, besides being woken by
/// pub/sub (which a broken subscription would leave silent).
const POLL: Duration = Duration::from_millis(250);
/// Pause before trying again after losing a lease.
const AFTER_LOSS: Duration = Duration::from_millis(100);

enum Held {
    Done(Result<Found, ProvisionError>),
    /// The lease expired or went to another holder before the record was written.
    Lost,
}

fn store_failed(e: std::io::Error) -> ProvisionError {
    ProvisionError::Store(e.to_string())
}

/// The pair's address, under its lease: the store, else Twilio by name, else a create.
pub(super) async fn find_or_create_under_lease(
    p: &Provisioner,
    key: &RouteKey,
    client: &FlexApiClient,
    name: &str,
    desired: &Desired,
) -> Result<Found, ProvisionError> {
    loop {
        if !p.store_up() {
            return Err(ProvisionError::Store("it is unreachable".into()));
        }
        let claim = p
            .store
            .lease(&key.site, &key.slot())
            .await
            .map_err(store_failed)?;
        match claim {
            Claim::Busy { expires_in } => {
                p.metrics.leases.with_label_values(&["busy"]).inc();
                tracing::debug!(site = %key.site, language = %key.language, expires_in_ms = expires_in.as_millis() as u64, "another replica is provisioning this pair; waiting for its address");
                if let Some(found) = wait_for_holder(p, key, expires_in).await? {
                    return Ok(found);
                }
            }
            Claim::Granted(lease) => {
                let shared = lease.ttl.is_some();
                if shared {
                    p.metrics.leases.with_label_values(&["granted"]).inc();
                    tracing::debug!(site = %key.site, language = %key.language, fence = lease.fence, "lease taken");
                }
                let lease = Arc::new(lease);
                let renewing = shared.then(|| renew_while_held(p.store.clone(), lease.clone()));
                let held = hold(p, key, &lease, client, name, desired).await;
                if let Some(renewing) = renewing {
                    renewing.abort();
                }
                // Compare-and-delete: a no-op when the fenced record already released it.
                if shared {
                    let _ = p.store.release(&lease).await;
                }
                match held {
                    Held::Done(result) => return result,
                    Held::Lost => {
                        p.metrics.leases.with_label_values(&["lost"]).inc();
                        tracing::warn!(site = %key.site, language = %key.language, fence = lease.fence, "lost the provisioning lease before recording; looking again");
                        tokio::time::sleep(AFTER_LOSS).await;
                    }
                }
            }
        }
    }
}

/// With the lease: look again, then find by name or create, then record with the lease.
async fn hold(
    p: &Provisioner,
    key: &RouteKey,
    lease: &Lease,
    client: &FlexApiClient,
    name: &str,
    desired: &Desired,
) -> Held {
    // Another replica may have recorded it between our look and our lease.
    match p.store.fetch(&key.site, &key.slot()).await {
        Ok(Some(record)) => {
            return Held::Done(Ok(Found {
                sid: record.sid,
                source: Source::Stored,
            }));
        }
        Ok(None) => {}
        Err(e) => return Held::Done(Err(store_failed(e))),
    }
    let (sid, source) = match task::find_or_create(p, key, client, name, desired, lease).await {
        Ok(found) => found,
        Err(Stop::LeaseLost) => return Held::Lost,
        Err(Stop::Failed(e)) => return Held::Done(Err(e)),
    };
    let record = StoredAddress {
        site: key.site.to_string(),
        language: key.language.to_string(),
        kind: key.kind,
        sid: sid.clone(),
        friendly_name: name.to_string(),
        source,
        recorded_at: super::unix_now(),
    };
    match p.store.record_leased(lease, record.clone()).await {
        Ok(Recorded::Written) => {
            p.persisted_one();
            Held::Done(Ok(Found { sid, source }))
        }
        Ok(Recorded::Existing(record)) => {
            if record.sid != sid {
                tracing::warn!(site = %key.site, language = %key.language, ours = %sid, recorded = %record.sid, "the store already had another address for this pair; following it");
            }
            Held::Done(Ok(Found {
                sid: record.sid,
                source: Source::Stored,
            }))
        }
        // The lease went (it expired while Redis was away, or Redis lost it with its data)
        // after the address was made or found: it is real, so it is recorded unless the pair
        // has a record by now, which then wins. Looking again instead would create a second
        // one if Twilio is slow to list it.
        Ok(Recorded::LeaseLost) => match p.store.record_if_absent(record.clone()).await {
            Ok(Recorded::Existing(existing)) => {
                if existing.sid != sid {
                    tracing::warn!(site = %key.site, language = %key.language, ours = %sid, recorded = %existing.sid, "lost the lease; the store has another address for this pair, following it");
                }
                Held::Done(Ok(Found {
                    sid: existing.sid,
                    source: Source::Stored,
                }))
            }
            Ok(_) => {
                p.persisted_one();
                Held::Done(Ok(Found { sid, source }))
            }
            Err(e) => {
                p.not_persisted(record, &e);
                Held::Done(Ok(Found { sid, source }))
            }
        },
        Err(e) => {
            // Served anyway (chat must not go away), but marked, counted and retried until
            // the store takes it (`super::persist`).
            p.not_persisted(record, &e);
            Held::Done(Ok(Found { sid, source }))
        }
    }
}

/// Waits until the pair's address appears (pub/sub wakes us; the store is also polled) or the
/// other holder's lease has had time to expire: `None` then, and the caller tries to take it.
async fn wait_for_holder(
    p: &Provisioner,
    key: &RouteKey,
    expires_in: Duration,
) -> Result<Option<Found>, ProvisionError> {
    let deadline = Instant::now() + expires_in + Duration::from_millis(10);
    loop {
        let learned = p.learned.notified();
        tokio::pin!(learned);
        learned.as_mut().enable();
        if let Some((sid, _)) = p.known.get(key) {
            return Ok(Some(Found {
                sid,
                source: Source::Stored,
            }));
        }
        match p.store.fetch(&key.site, &key.slot()).await {
            Ok(Some(record)) => {
                return Ok(Some(Found {
                    sid: record.sid,
                    source: Source::Stored,
                }));
            }
            Ok(None) => {}
            Err(e) => return Err(store_failed(e)),
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        tokio::select! {
            () = &mut learned => {}
            () = tokio::time::sleep((deadline - now).min(POLL)) => {}
        }
    }
}

/// Renews the lease every third of its TTL until aborted. A renewal the store refuses means
/// another holder has it: the lease is marked lost at once. A renewal that fails (Redis
/// unreachable) changes nothing: the lease's validity lapses on its own before the store
/// could give it to anyone else.
fn renew_while_held(store: Arc<dyn StateStore>, lease: Arc<Lease>) -> tokio::task::AbortHandle {
    let every = lease.ttl.unwrap_or(Duration::from_secs(1)) / 3;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match store.renew(&lease).await {
                Ok(true) => {}
                Ok(false) => {
                    lease.mark_lost();
                    return;
                }
                Err(e) => tracing::debug!("cannot renew a provisioning lease: {e}"),
            }
        }
    })
    .abort_handle()
}

//! The provisioner's side of a shared store's feed: addresses other replicas record become
//! known here without a restart (and the pair's cached answers are dropped), records this
//! replica knows but the store lost are written back, and the store's reachability drives
//! `flexroute_state_store_up`, readiness (as configured) and when pairs that waited for it are
//! tried again.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::store::{Feed, StoreProblem, StoredAddress, Update};
use super::{Provisioner, Source, params, unix_now};
use crate::cache::RouteKey;

/// Whether the state store answers, and why not (always up, for the embedded ones).
pub(super) struct StoreHealth {
    up: AtomicBool,
    problem: Mutex<Option<StoreProblem>>,
}

impl StoreHealth {
    pub fn new(up: bool) -> Self {
        Self {
            up: AtomicBool::new(up),
            problem: Mutex::new(None),
        }
    }

    pub fn up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Sets whether it answers; whether it did before.
    fn set_up(&self, up: bool) -> bool {
        self.up.swap(up, Ordering::AcqRel)
    }

    pub fn problem(&self) -> Option<StoreProblem> {
        *self.problem.lock()
    }

    fn set_problem(&self, problem: Option<StoreProblem>) {
        *self.problem.lock() = problem;
    }
}

pub(super) async fn follow(provisioner: Weak<Provisioner>, mut feed: Feed) {
    loop {
        tokio::select! {
            update = feed.updates.recv() => {
                let Some(update) = update else { return };
                let Some(p) = provisioner.upgrade() else { return };
                apply(&p, update).await;
            }
            changed = feed.available.changed() => {
                if changed.is_err() {
                    return;
                }
                let up = *feed.available.borrow_and_update();
                let Some(p) = provisioner.upgrade() else { return };
                availability(&p, up);
            }
            changed = feed.problem.changed() => {
                if changed.is_err() {
                    return;
                }
                let problem = *feed.problem.borrow_and_update();
                let Some(p) = provisioner.upgrade() else { return };
                p.store_health.set_problem(problem);
                for reason in StoreProblem::ALL {
                    p.metrics
                        .state_store_problem
                        .with_label_values(&[reason.as_str()])
                        .set(i64::from(problem == Some(reason)));
                }
            }
        }
    }
}

async fn apply(p: &Arc<Provisioner>, update: Update) {
    match update {
        Update::Recorded(record) => learn(p, &super::record_key(&record), &record.sid),
        Update::Snapshot(records) => {
            let mut present = HashSet::with_capacity(records.len());
            for record in records {
                let key = super::record_key(&record);
                learn(p, &key, &record.sid);
                present.insert(key);
            }
            write_back(p, &present).await;
        }
    }
}

/// A pair this replica is provisioning itself is left to its task, which settles it with
/// where the address really came from (its own publish may arrive first); a task waiting on
/// another replica's lease is only woken, and reads the record.
fn learn(p: &Provisioner, key: &RouteKey, sid: &str) {
    if p.flights.contains(key) {
        p.learned.notify_waiters();
    } else {
        p.remember(key, sid, Source::Stored);
    }
}

/// Writes back what this replica knows and the store does not (Redis restarted empty, or a
/// record failed while it was down). Only where the store has nothing: an address it has
/// always wins.
async fn write_back(p: &Arc<Provisioner>, present: &HashSet<RouteKey>) {
    let missing: Vec<(RouteKey, String, Source)> = p.known.missing_from(present);
    if missing.is_empty() {
        return;
    }
    tracing::warn!(
        records = missing.len(),
        "the shared store lacks addresses this replica knows; writing them back"
    );
    for (key, sid, source) in missing {
        let record = StoredAddress {
            friendly_name: params::friendly_name(
                &p.settings.friendly_name,
                &key.site,
                &key.language,
            ),
            site: key.site.to_string(),
            language: key.language.to_string(),
            kind: key.kind,
            sid,
            source,
            recorded_at: unix_now(),
        };
        if let Err(e) = p.store.record(record).await {
            tracing::warn!("cannot write addresses back yet: {e}");
            return;
        }
    }
}

fn availability(p: &Provisioner, up: bool) {
    let was = p.store_health.set_up(up);
    p.metrics.state_store_up.set(i64::from(up));
    if up && !was {
        // Pairs that waited for the store are tried on their next request, not after a pause.
        p.failures.forget_store_failures();
        p.update_gauge();
        tracing::info!("the shared state store answers again");
    } else if !up && was {
        tracing::warn!(
            "the shared state store is unreachable: known addresses are served from memory; pairs without one get the degraded answer until it answers"
        );
    }
}

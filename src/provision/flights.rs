//! One provisioning task per pair in this process, however many requests want it: the first
//! registers a flight, the others board it and wait for its outcome. (Across replicas the
//! pair's lease does the same: `lease_flight`.)

use std::collections::HashMap;

use parking_lot::Mutex;
use tokio::sync::watch;

use super::error::ProvisionError;
use crate::cache::RouteKey;

/// A flight's outcome: `None` while it runs, then the pair's SID or why it has none.
pub(super) type Outcome = Option<Result<String, ProvisionError>>;

#[derive(Default)]
pub(super) struct Flights {
    pairs: Mutex<HashMap<RouteKey, watch::Receiver<Outcome>>>,
}

/// What a caller that wants a pair's address is told.
pub(super) enum Boarding {
    /// A flight is under way, or the pair settled meanwhile: wait on this.
    Join(watch::Receiver<Outcome>),
    /// No flight: the caller starts the task, which sends its outcome on this.
    Start(watch::Sender<Outcome>, watch::Receiver<Outcome>),
    /// Not now (the pair rests after a failure).
    Refused,
}

/// What the caller's check says when no flight is under way.
pub(super) enum Decision {
    Start,
    /// The pair has this address now.
    Settled(String),
    Refuse,
}

impl Flights {
    /// Joins the pair's flight, or asks `decide` what to do — under the flights' lock, so two
    /// callers cannot both start one. `decide` must look at the pair's address and back-off
    /// again: a flight settles both before it leaves, so one that just ended is seen there.
    pub fn board(&self, key: &RouteKey, decide: impl FnOnce() -> Decision) -> Boarding {
        let mut pairs = self.pairs.lock();
        if let Some(flight) = pairs.get(key) {
            // A task that died without settling (a panic) is replaced, not joined forever.
            if flight.has_changed().is_ok() {
                return Boarding::Join(flight.clone());
            }
        }
        match decide() {
            Decision::Start => {
                let (tx, rx) = watch::channel(None);
                pairs.insert(key.clone(), rx.clone());
                Boarding::Start(tx, rx)
            }
            Decision::Settled(sid) => Boarding::Join(watch::channel(Some(Ok(sid))).1),
            Decision::Refuse => Boarding::Refused,
        }
    }

    pub fn leave(&self, key: &RouteKey) {
        self.pairs.lock().remove(key);
    }

    pub fn contains(&self, key: &RouteKey) -> bool {
        self.pairs.lock().contains_key(key)
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.lock().is_empty()
    }
}

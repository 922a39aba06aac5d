//! The addresses this process knows, by pair, and what the table in force configures: together
//! they give `flexroute_routes{state}` and whether a record learned from the store is for a
//! configured pair.

use std::collections::{HashMap, HashSet};

use parking_lot::{Mutex, RwLock};

use super::Source;
use crate::cache::RouteKey;

#[derive(Default)]
pub(super) struct Known {
    addresses: RwLock<HashMap<RouteKey, (String, Source)>>,
    census: Mutex<Census>,
}

/// What the routing table in force configures.
#[derive(Default)]
struct Census {
    pairs: usize,
    pinned: usize,
    /// Configured pairs without a pinned address: the ones provisioning is for.
    unpinned: HashSet<RouteKey>,
    /// How many of those have an address.
    ready_unpinned: usize,
}

/// What [`Known::insert`] changed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// The pair had this address already.
    Same,
    /// The pair had none.
    New,
    /// The pair had another one.
    Replaced(String),
}

impl Known {
    pub fn new(addresses: HashMap<RouteKey, (String, Source)>) -> Self {
        Self {
            addresses: RwLock::new(addresses),
            census: Mutex::default(),
        }
    }

    pub fn get(&self, key: &RouteKey) -> Option<(String, Source)> {
        self.read().get(key).cloned()
    }

    /// Makes `sid` the pair's address.
    pub fn insert(&self, key: &RouteKey, sid: &str, source: Source) -> Change {
        let previous = {
            let mut addresses = self.addresses.write();
            match addresses.get(key) {
                Some((current, _)) if current == sid => return Change::Same,
                _ => addresses.insert(key.clone(), (sid.to_string(), source)),
            }
        };
        match previous {
            Some((old, _)) => Change::Replaced(old),
            None => {
                let mut census = self.census.lock();
                if census.unpinned.contains(key) {
                    census.ready_unpinned += 1;
                }
                Change::New
            }
        }
    }

    /// Whether the table in force provisions this pair (configured and not pinned).
    pub fn is_provisioned(&self, key: &RouteKey) -> bool {
        self.census.lock().unpinned.contains(key)
    }

    /// Takes in the table in force: its pair and pin counts, and its unpinned pairs.
    pub fn set_table(&self, pairs: usize, pinned: usize, unpinned: HashSet<RouteKey>) {
        let ready_unpinned = {
            let addresses = self.read();
            unpinned
                .iter()
                .filter(|k| addresses.contains_key(*k))
                .count()
        };
        *self.census.lock() = Census {
            pairs,
            pinned,
            unpinned,
            ready_unpinned,
        };
    }

    /// `(pairs, ready)`: configured pairs, and those with an address (pinned or known).
    pub fn readiness(&self) -> (usize, usize) {
        let census = self.census.lock();
        (census.pairs, census.pinned + census.ready_unpinned)
    }

    /// `(pinned, ready_unpinned)`, counted at start as `pinned` and `stored` settlements.
    pub fn settled_at_start(&self) -> (usize, usize) {
        let census = self.census.lock();
        (census.pinned, census.ready_unpinned)
    }

    /// Every known address whose pair is not in `present` (what a store that lost records
    /// should get back).
    pub fn missing_from(&self, present: &HashSet<RouteKey>) -> Vec<(RouteKey, String, Source)> {
        self.read()
            .iter()
            .filter(|(key, _)| !present.contains(*key))
            .map(|(key, (sid, source))| (key.clone(), sid.clone(), *source))
            .collect()
    }

    fn read(&self) -> parking_lot::RwLockReadGuard<'_, HashMap<RouteKey, (String, Source)>> {
        self.addresses.read()
    }
}

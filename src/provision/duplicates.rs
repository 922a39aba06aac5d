//! Addresses at Twilio that carry a pair's name besides the one the pair is served with: what
//! a create Twilio applied after every timeout had passed leaves behind (the one way to a
//! duplicate the lease cannot rule out). They are found by every look-up by name and by one
//! look a while after each create this replica makes, reported (a warning,
//! `flexroute_duplicate_addresses`, `/admin/routes`), listed by `plan` as orphans, and never
//! served: the pair keeps the address the store recorded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::Provisioner;
use super::upstream::{Desired, Looked};
use crate::cache::RouteKey;
use crate::twilio::client::FlexApiClient;

/// Orphans remembered per pair (a pair with more has a problem the log and `plan` show).
const MAX_PER_PAIR: usize = 16;

/// The orphans known per pair: only pairs the table provisions, at most [`MAX_PER_PAIR`] each.
#[derive(Default)]
pub(super) struct Duplicates {
    pairs: Mutex<HashMap<RouteKey, Vec<String>>>,
}

impl Duplicates {
    /// Sets (or, with `None`, clears) the pair's orphans: whether that changed anything, and
    /// how many orphans are known in all.
    fn set(&self, key: &RouteKey, orphans: Option<Vec<String>>) -> (bool, usize) {
        let mut pairs = self.pairs.lock();
        let changed = match orphans {
            Some(orphans) if pairs.get(key) != Some(&orphans) => {
                pairs.insert(key.clone(), orphans);
                true
            }
            Some(_) => false,
            None => pairs.remove(key).is_some(),
        };
        (changed, pairs.values().map(Vec::len).sum())
    }

    pub fn get(&self, key: &RouteKey) -> Vec<String> {
        self.pairs.lock().get(key).cloned().unwrap_or_default()
    }

    pub fn retain(&self, keep: impl Fn(&RouteKey) -> bool) {
        self.pairs.lock().retain(|key, _| keep(key));
    }
}

impl Provisioner {
    /// Takes in what a look by name found for `key`: `named`, every address with the pair's
    /// name; `served`, the one the pair has (`None`: none chosen, so all are in question).
    pub(super) fn found_duplicates(&self, key: &RouteKey, named: &[String], served: Option<&str>) {
        let orphans: Vec<String> = named
            .iter()
            .filter(|sid| Some(sid.as_str()) != served)
            .take(MAX_PER_PAIR)
            .cloned()
            .collect();
        let listed = match served {
            Some(_) => !orphans.is_empty(),
            None => orphans.len() > 1,
        };
        let (changed, total) = self.duplicates.set(key, listed.then(|| orphans.clone()));
        self.metrics.duplicate_addresses.set(total as i64);
        if changed && listed {
            match served {
                Some(served) => {
                    tracing::warn!(site = %key.site, language = %key.language, %served, orphans = %orphans.join(","), "several addresses at Twilio carry this pair's name; serving the recorded one, the others are orphans (`flexroute plan` lists them, `flexroute apply --delete-orphans` deletes them)")
                }
                None => {
                    tracing::warn!(site = %key.site, language = %key.language, sids = %orphans.join(","), "several addresses at Twilio carry this pair's name and none is recorded: flexroute will not guess; pin one")
                }
            }
        }
    }

    /// Addresses with the pair's name that it is not served with (see [`Self::found_duplicates`]).
    pub fn duplicates(&self, key: &RouteKey) -> Vec<String> {
        self.duplicates.get(key)
    }

    /// Looks the pair's name up once more, `after` a create this replica made: a create of
    /// another replica that Twilio applied late shows up by then, and is reported.
    pub(super) fn look_again_later(
        self: &Arc<Self>,
        key: RouteKey,
        client: FlexApiClient,
        name: String,
        desired: Desired,
        after: Duration,
    ) {
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let Some(p) = this.upgrade() else { return };
            let Some((served, _)) = p.known.get(&key) else {
                return;
            };
            match desired.find(&p, &client, &name, None).await {
                Ok(Looked::Ambiguous(named)) => p.found_duplicates(&key, &named, Some(&served)),
                Ok(Looked::Found(sid)) => p.found_duplicates(&key, &[sid], Some(&served)),
                Ok(Looked::Nothing) => {}
                Err(e) => {
                    tracing::debug!(site = %key.site, language = %key.language, "the look for duplicates after a create failed: {e}")
                }
            }
        });
    }
}

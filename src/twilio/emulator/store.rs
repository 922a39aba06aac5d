//! The emulator's Flex Flows, in creation order, and the cursors that page through them.
//!
//! Each flow gets a sequence number when it is stored; page tokens name a sequence number, not
//! an offset, so that flows created or deleted while a client pages neither repeat nor vanish
//! from the pages it has not read yet.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::twilio::types::FlexFlow;

#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    /// SIDs are hashes of a counter under this seed: unique per emulator without `rand`.
    seed: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// Ascending by `seq`.
    entries: Vec<(u64, FlexFlow)>,
    last_seq: u64,
    sids_made: u64,
}

/// Where a page starts: the first page, after a sequence number (`PA…`, forwards) or before
/// one (`PB…`, the page a `previous_page_url` leads back to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Start,
    After(u64),
    Before(u64),
}

impl Cursor {
    pub fn parse(token: &str) -> Option<Cursor> {
        let (kind, seq) = token.split_at_checked(2)?;
        let seq = seq.parse().ok()?;
        match kind {
            "PA" => Some(Cursor::After(seq)),
            "PB" => Some(Cursor::Before(seq)),
            _ => None,
        }
    }
}

/// One page of flows and the tokens of its neighbours (`None`: there is no such page).
#[derive(Debug)]
pub struct Slice {
    pub flows: Vec<FlexFlow>,
    pub next_token: Option<String>,
    pub previous_token: Option<String>,
}

impl Store {
    pub fn new() -> Self {
        // Two emulators in one process (tests) must not share a seed even within a clock tick.
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let instance = INSTANCES.fetch_add(1, Ordering::Relaxed);
        Self {
            inner: Mutex::new(Inner::default()),
            seed: nanos ^ instance.rotate_left(32) ^ u64::from(std::process::id()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-written: every change is one
        // push, replace or remove.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// "FO" + 32 lowercase hex digits, never one already stored.
    fn fresh_sid(&self, inner: &mut Inner) -> String {
        loop {
            inner.sids_made += 1;
            let hash = xxh3_128_with_seed(&inner.sids_made.to_le_bytes(), self.seed);
            let sid = format!("FO{hash:032x}");
            if !inner.entries.iter().any(|(_, f)| f.sid == sid) {
                return sid;
            }
        }
    }

    /// Stores a new flow built by `make` from a fresh SID; returns what was stored.
    pub fn create(&self, make: impl FnOnce(String) -> FlexFlow) -> FlexFlow {
        let mut inner = self.lock();
        let flow = make(self.fresh_sid(&mut inner));
        inner.last_seq += 1;
        let seq = inner.last_seq;
        inner.entries.push((seq, flow.clone()));
        flow
    }

    /// Stores `flow` as is: replaces the flow with its SID in place, or appends it.
    pub fn insert(&self, flow: FlexFlow) {
        let mut inner = self.lock();
        if let Some((_, existing)) = inner.entries.iter_mut().find(|(_, f)| f.sid == flow.sid) {
            *existing = flow;
        } else {
            inner.last_seq += 1;
            let seq = inner.last_seq;
            inner.entries.push((seq, flow));
        }
    }

    pub fn get(&self, sid: &str) -> Option<FlexFlow> {
        let inner = self.lock();
        inner
            .entries
            .iter()
            .find(|(_, f)| f.sid == sid)
            .map(|(_, f)| f.clone())
    }

    /// Applies `change` to the flow with `sid`; returns the flow as changed, or `change`'s
    /// error, or `Ok(None)` if there is no such flow.
    pub fn update<E>(
        &self,
        sid: &str,
        change: impl FnOnce(&FlexFlow) -> Result<FlexFlow, E>,
    ) -> Result<Option<FlexFlow>, E> {
        let mut inner = self.lock();
        let Some((_, stored)) = inner.entries.iter_mut().find(|(_, f)| f.sid == sid) else {
            return Ok(None);
        };
        let changed = change(stored)?;
        *stored = changed.clone();
        Ok(Some(changed))
    }

    pub fn remove(&self, sid: &str) -> bool {
        let mut inner = self.lock();
        let before = inner.entries.len();
        inner.entries.retain(|(_, f)| f.sid != sid);
        inner.entries.len() != before
    }

    pub fn all(&self) -> Vec<FlexFlow> {
        self.lock().entries.iter().map(|(_, f)| f.clone()).collect()
    }

    /// Up to `size` flows whose friendly name is `name` (all flows for `None`), from `cursor`.
    pub fn page(&self, name: Option<&str>, size: usize, cursor: Cursor) -> Slice {
        let inner = self.lock();
        let matching: Vec<&(u64, FlexFlow)> = inner
            .entries
            .iter()
            .filter(|(_, f)| name.is_none_or(|n| f.friendly_name.as_deref() == Some(n)))
            .collect();
        let (chosen, low, high): (&[&(u64, FlexFlow)], u64, u64) = match cursor {
            Cursor::Start | Cursor::After(_) => {
                let after = if let Cursor::After(seq) = cursor {
                    seq
                } else {
                    0
                };
                let from = matching.partition_point(|(seq, _)| *seq <= after);
                let chosen = &matching[from..matching.len().min(from + size)];
                (chosen, after.saturating_add(1), after)
            }
            Cursor::Before(before) => {
                let to = matching.partition_point(|(seq, _)| *seq < before);
                let chosen = &matching[to.saturating_sub(size)..to];
                (chosen, before, before.saturating_sub(1))
            }
        };
        // `low`/`high`: the sequence numbers this page covers, also when it is empty.
        let low = chosen.first().map_or(low, |(seq, _)| *seq);
        let high = chosen.last().map_or(high, |(seq, _)| *seq);
        Slice {
            flows: chosen.iter().map(|(_, f)| f.clone()).collect(),
            next_token: matching
                .iter()
                .any(|(seq, _)| *seq > high)
                .then(|| format!("PA{high}")),
            previous_token: matching
                .iter()
                .any(|(seq, _)| *seq < low)
                .then(|| format!("PB{low}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(sid: &str, name: &str) -> FlexFlow {
        serde_json::from_value(serde_json::json!({"sid": sid, "friendly_name": name})).unwrap()
    }

    fn names(slice: &Slice) -> Vec<&str> {
        slice
            .flows
            .iter()
            .map(|f| f.friendly_name.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn fresh_sids_look_like_twilio_and_differ() {
        let store = Store::new();
        let a = store.create(|sid| flow(&sid, "a"));
        let b = store.create(|sid| flow(&sid, "b"));
        for sid in [&a.sid, &b.sid] {
            assert_eq!(sid.len(), 34);
            assert!(sid.starts_with("FO"));
            assert!(
                sid[2..]
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
        assert_ne!(a.sid, b.sid);
        assert_ne!(a.sid, Store::new().create(|sid| flow(&sid, "a")).sid);
    }

    #[test]
    fn pages_forwards_and_back_and_stays_stable_under_writes() {
        let store = Store::new();
        for name in ["a", "b", "c", "d", "e"] {
            store.create(|sid| flow(&sid, name));
        }
        let first = store.page(None, 2, Cursor::Start);
        assert_eq!(names(&first), ["a", "b"]);
        assert_eq!(first.previous_token, None);
        let next = Cursor::parse(first.next_token.as_deref().unwrap()).unwrap();
        // A flow deleted from the first page and one created meanwhile shift nothing.
        assert!(store.remove(&first.flows[0].sid));
        store.create(|sid| flow(&sid, "f"));
        let second = store.page(None, 2, next);
        assert_eq!(names(&second), ["c", "d"]);
        let back = Cursor::parse(second.previous_token.as_deref().unwrap()).unwrap();
        assert_eq!(names(&store.page(None, 2, back)), ["b"]);
        let third = store.page(None, 2, Cursor::parse(&second.next_token.unwrap()).unwrap());
        assert_eq!(names(&third), ["e", "f"]);
        assert_eq!(third.next_token, None);
    }

    #[test]
    fn filters_by_exact_friendly_name() {
        let store = Store::new();
        for name in ["x", "x ", "X", "x"] {
            store.create(|sid| flow(&sid, name));
        }
        let page = store.page(Some("x"), 50, Cursor::Start);
        assert_eq!(names(&page), ["x", "x"]);
        assert_eq!((page.next_token, page.previous_token), (None, None));
    }

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(Cursor::parse("PA12"), Some(Cursor::After(12)));
        assert_eq!(Cursor::parse("PB3"), Some(Cursor::Before(3)));
        for bad in ["", "PA", "PAx", "XX1", "PA-1", "é"] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }
}

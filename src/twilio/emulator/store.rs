//! The emulator's resources of one kind (Flex Flows, address configurations), in creation
//! order, and the cursors that page through them.
//!
//! Each resource gets a sequence number when it is stored; page tokens name a sequence number,
//! not an offset, so that resources created or deleted while a client pages neither repeat nor
//! vanish from the pages it has not read yet.

use parking_lot::Mutex;

use super::sids::Sids;
use crate::twilio::conversations::AddressConfiguration;
use crate::twilio::types::FlexFlow;

/// A resource the store keeps: it has a SID, made with this prefix.
pub trait Resource: Clone {
    const PREFIX: &'static str;
    fn sid(&self) -> &str;
}

impl Resource for FlexFlow {
    const PREFIX: &'static str = "FO";
    fn sid(&self) -> &str {
        &self.sid
    }
}

impl Resource for AddressConfiguration {
    const PREFIX: &'static str = "IG";
    fn sid(&self) -> &str {
        &self.sid
    }
}

#[derive(Debug)]
pub struct Store<T> {
    inner: Mutex<Inner<T>>,
    sids: Sids,
}

#[derive(Debug)]
struct Inner<T> {
    /// Ascending by `seq`.
    entries: Vec<(u64, T)>,
    last_seq: u64,
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

/// One page of resources and the tokens of its neighbours (`None`: there is no such page).
#[derive(Debug)]
pub struct Slice<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
    pub previous_token: Option<String>,
}

impl<T: Resource> Store<T> {
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: Vec::new(),
                last_seq: 0,
            }),
            sids: Sids::new(),
        }
    }

    /// A fresh SID, never one already stored.
    fn fresh_sid(&self, inner: &Inner<T>) -> String {
        loop {
            let sid = self.sids.next(T::PREFIX);
            if !inner.entries.iter().any(|(_, r)| r.sid() == sid) {
                return sid;
            }
        }
    }

    /// Stores a new resource built by `make` from a fresh SID; returns what was stored.
    pub fn create(&self, make: impl FnOnce(String) -> T) -> T {
        self.create_unless(|_| false, make)
            .unwrap_or_else(|_| unreachable!("nothing conflicts"))
    }

    /// Like [`Store::create`], unless a stored resource `conflicts` (checked under the same
    /// lock, so two racing creates cannot both pass): then that resource, and nothing stored.
    pub fn create_unless(
        &self,
        conflicts: impl Fn(&T) -> bool,
        make: impl FnOnce(String) -> T,
    ) -> Result<T, T> {
        let mut inner = self.inner.lock();
        if let Some((_, existing)) = inner.entries.iter().find(|(_, r)| conflicts(r)) {
            return Err(existing.clone());
        }
        let resource = make(self.fresh_sid(&inner));
        inner.last_seq += 1;
        let seq = inner.last_seq;
        inner.entries.push((seq, resource.clone()));
        Ok(resource)
    }

    /// Stores `resource` as is: replaces the one with its SID in place, or appends it.
    pub fn insert(&self, resource: T) {
        let mut inner = self.inner.lock();
        if let Some((_, existing)) = inner
            .entries
            .iter_mut()
            .find(|(_, r)| r.sid() == resource.sid())
        {
            *existing = resource;
        } else {
            inner.last_seq += 1;
            let seq = inner.last_seq;
            inner.entries.push((seq, resource));
        }
    }

    pub fn get(&self, sid: &str) -> Option<T> {
        self.find(|r| r.sid() == sid)
    }

    /// The first resource (in creation order) that `matches`.
    pub fn find(&self, matches: impl Fn(&T) -> bool) -> Option<T> {
        let inner = self.inner.lock();
        inner
            .entries
            .iter()
            .find(|(_, r)| matches(r))
            .map(|(_, r)| r.clone())
    }

    /// Applies `change` to the resource with `sid`; returns it as changed, or `change`'s
    /// error, or `Ok(None)` if there is no such resource.
    pub fn update<E>(
        &self,
        sid: &str,
        change: impl FnOnce(&T) -> Result<T, E>,
    ) -> Result<Option<T>, E> {
        let mut inner = self.inner.lock();
        let Some((_, stored)) = inner.entries.iter_mut().find(|(_, r)| r.sid() == sid) else {
            return Ok(None);
        };
        let changed = change(stored)?;
        *stored = changed.clone();
        Ok(Some(changed))
    }

    pub fn remove(&self, sid: &str) -> bool {
        let mut inner = self.inner.lock();
        let before = inner.entries.len();
        inner.entries.retain(|(_, r)| r.sid() != sid);
        inner.entries.len() != before
    }

    pub fn all(&self) -> Vec<T> {
        self.inner
            .lock()
            .entries
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Up to `size` resources that match `filter`, from `cursor`.
    pub fn page(&self, filter: impl Fn(&T) -> bool, size: usize, cursor: Cursor) -> Slice<T> {
        let inner = self.inner.lock();
        let matching: Vec<&(u64, T)> = inner.entries.iter().filter(|(_, r)| filter(r)).collect();
        let (chosen, low, high): (&[&(u64, T)], u64, u64) = match cursor {
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
            items: chosen.iter().map(|(_, r)| r.clone()).collect(),
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

    fn named(name: &'static str) -> impl Fn(&FlexFlow) -> bool {
        move |f| f.friendly_name.as_deref() == Some(name)
    }

    fn names(slice: &Slice<FlexFlow>) -> Vec<&str> {
        slice
            .items
            .iter()
            .map(|f| f.friendly_name.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn fresh_sids_look_like_twilio_and_differ() {
        let store = Store::<FlexFlow>::new();
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
        assert_ne!(
            a.sid,
            Store::<FlexFlow>::new().create(|sid| flow(&sid, "a")).sid
        );
    }

    #[test]
    fn pages_forwards_and_back_and_stays_stable_under_writes() {
        let store = Store::new();
        for name in ["a", "b", "c", "d", "e"] {
            store.create(|sid| flow(&sid, name));
        }
        let first = store.page(|_| true, 2, Cursor::Start);
        assert_eq!(names(&first), ["a", "b"]);
        assert_eq!(first.previous_token, None);
        let next = Cursor::parse(first.next_token.as_deref().unwrap()).unwrap();
        // A flow deleted from the first page and one created meanwhile shift nothing.
        assert!(store.remove(&first.items[0].sid));
        store.create(|sid| flow(&sid, "f"));
        let second = store.page(|_| true, 2, next);
        assert_eq!(names(&second), ["c", "d"]);
        let back = Cursor::parse(second.previous_token.as_deref().unwrap()).unwrap();
        assert_eq!(names(&store.page(|_| true, 2, back)), ["b"]);
        let third = store.page(
            |_| true,
            2,
            Cursor::parse(&second.next_token.unwrap()).unwrap(),
        );
        assert_eq!(names(&third), ["e", "f"]);
        assert_eq!(third.next_token, None);
    }

    #[test]
    fn filters_by_exact_friendly_name() {
        let store = Store::new();
        for name in ["x", "x ", "X", "x"] {
            store.create(|sid| flow(&sid, name));
        }
        let page = store.page(named("x"), 50, Cursor::Start);
        assert_eq!(names(&page), ["x", "x"]);
        assert_eq!((page.next_token, page.previous_token), (None, None));
    }

    #[test]
    fn a_conflicting_create_stores_nothing() {
        let store = Store::<FlexFlow>::new();
        let first = store
            .create_unless(named("x"), |sid| flow(&sid, "x"))
            .unwrap();
        let again = store.create_unless(named("x"), |sid| flow(&sid, "x"));
        assert_eq!(again.unwrap_err(), first);
        assert_eq!(store.all().len(), 1);
        assert_eq!(store.find(named("x")), Some(first));
        assert_eq!(store.find(named("y")), None);
    }

    #[test]
    fn addresses_get_ig_sids() {
        let address = Store::<AddressConfiguration>::new().create(|sid| AddressConfiguration {
            sid,
            ..Default::default()
        });
        assert!(address.sid.starts_with("IG"), "{}", address.sid);
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

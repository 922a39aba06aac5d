//! Resolved answers, kept as the exact bytes and headers to send, keyed by the configured pair
//! they answer for. Keys only ever come from the routing table (never from a request), so the
//! key space is bounded by the config, and moka bounds the entry count on top of that.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use moka::sync::Cache;
use prometheus::IntCounter;

use crate::address::AddressKind;

/// A (site, language) pair by name, and the kind of address it has, so that entries survive
/// a reload that keeps the pair, and a pair moved to another kind (and back) keeps the address
/// it had of each.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteKey {
    pub site: Arc<str>,
    pub language: Arc<str>,
    pub kind: AddressKind,
}

impl RouteKey {
    /// The pair's slot in a state store: the language for `flex_flow` (as records were before
    /// there were other kinds), `language/kind` for the others (a tag has no `/`).
    pub fn slot(&self) -> Cow<'_, str> {
        slot(&self.language, self.kind)
    }
}

pub fn slot(language: &str, kind: AddressKind) -> Cow<'_, str> {
    match kind {
        AddressKind::FlexFlow => Cow::Borrowed(language),
        other => Cow::Owned(format!("{language}/{other}")),
    }
}

/// Everything needed to answer for one pair without serialising anything.
#[derive(Debug)]
pub struct Prepared {
    pub status: StatusCode,
    pub body: Bytes,
    /// Strong validator of `body` (`None` for errors, which are never revalidated).
    pub etag: Option<HeaderValue>,
    pub content_language: Option<HeaderValue>,
    /// Whether the answer lends another language's address. Browsers and CDNs must then
    /// revalidate rather than keep it for `max-age`: the real address may appear any moment.
    pub degraded: bool,
    /// The pair's fingerprint in the table this answer was built from: a hit is valid only
    /// for a request that resolved against a table with the same fingerprint, so an answer
    /// built from a table a reload just replaced can never stick.
    pub fingerprint: u64,
    /// `flexroute_widget_configs_served_total` for the pair whose address is served.
    pub served: Option<IntCounter>,
}

impl Prepared {
    pub fn ok(
        body: Vec<u8>,
        language: &str,
        degraded: bool,
        fingerprint: u64,
        served: IntCounter,
    ) -> Self {
        let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&body));
        Self {
            status: StatusCode::OK,
            body: Bytes::from(body),
            etag: HeaderValue::from_str(&etag).ok(),
            content_language: HeaderValue::from_str(language).ok(),
            degraded,
            fingerprint,
            served: Some(served),
        }
    }

    /// Whether this answer was built for a pair with `fingerprint`: the one check of a cached
    /// answer's validity, on a hit and when a miss builds one.
    pub fn is_for(&self, fingerprint: u64) -> bool {
        self.fingerprint == fingerprint
    }

    pub fn error(status: StatusCode, body: Vec<u8>) -> Self {
        Self {
            status,
            body: Bytes::from(body),
            etag: None,
            content_language: None,
            degraded: false,
            fingerprint: 0,
            served: None,
        }
    }
}

#[derive(Clone)]
pub struct ResponseCache {
    inner: Cache<RouteKey, Arc<Prepared>, foldhash::fast::RandomState>,
    /// Counts the changes to the cache's entries (an answer built, one dropped): a copy of an
    /// answer taken at one count is what the cache would give for as long as the count stays.
    changes: Arc<AtomicU64>,
}

impl ResponseCache {
    pub fn new(max_entries: u64) -> Self {
        Self {
            // Keys are configured pairs only (unknown input never reaches the cache), so the
            // fast hash of the table's maps is safe here too.
            inner: Cache::builder()
                .max_capacity(max_entries)
                .build_with_hasher(foldhash::fast::RandomState::default()),
            changes: Arc::default(),
        }
    }

    /// The count of changes so far (see `changes`): read it before a lookup, so that a change
    /// made during the lookup is seen as one made after it.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// The answer for `key` if it was built for `fingerprint` (the pair as configured now).
    pub fn get_current(&self, key: &RouteKey, fingerprint: u64) -> Option<Arc<Prepared>> {
        self.inner
            .get(key)
            .filter(|cached| cached.is_for(fingerprint))
    }

    /// The answer for `key` built for `fingerprint`: the cached one if it matches, else
    /// `build`'s, which replaces it. Concurrent callers for one key wait for a single build.
    pub fn get_or_build(
        &self,
        key: RouteKey,
        fingerprint: u64,
        build: impl FnOnce() -> Arc<Prepared>,
    ) -> Arc<Prepared> {
        let built = self
            .inner
            .entry(key)
            .or_insert_with_if(build, |cached| !cached.is_for(fingerprint))
            .into_value();
        self.changes.fetch_add(1, Ordering::SeqCst);
        built
    }

    pub fn invalidate(&self, key: &RouteKey) {
        self.inner.invalidate(key);
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    pub fn entry_count(&self) -> u64 {
        self.inner.run_pending_tasks();
        self.inner.entry_count()
    }
}

//! What [`query::decide`] made of the inputs that can change its decision, remembered per
//! worker thread, so that a request with the same inputs as one before (every page view of a
//! storefront, from visitors with the same browser language) costs copying those inputs,
//! one hash and one comparison instead of reading and resolving its headers again.
//!
//! With a decision, the cached answer it led to is kept, and used for as long as the answer
//! cache has not changed since (its count of changes, `ResponseCache::changes`): a page view
//! then skips the answer cache's lookup too.
//!
//! The key holds only what `decide` reads: the query string, `Origin`, the request's host, the
//! `Referer` up to the end of its first path segment (what its host and path language come
//! from), the value of each cookie a site names in `language_cookie` (not the visitor's other
//! cookies, which differ for every visitor) and `Accept-Language`. The key is compared in
//! full, so a hash collision is a miss, never a wrong answer.
//!
//! Bounded and hard to flush: a fixed number of slots per thread, keys of at most
//! [`MAX_KEY`] bytes (longer inputs are decided every time), slots chosen by a hash with a
//! per-process random seed (so a client cannot aim at one), and an entry banks credit on each
//! hit that a different key landing in its slot must first wear down, one miss at a time, before
//! replacing it. A slot keeps its answer alive after the answer cache dropped it, until the
//! slot is reused: at most one answer per slot. Errors (`400`, `404`) are never remembered. A reload that puts another table in
//! force empties the memo (its decisions are indexes into the table).

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::{Arc, Weak};

use http::Uri;
use http::header::{self, HeaderMap};

use super::query::{self, Decided};
use crate::cache::Prepared;
use crate::http::error::ApiError;
use crate::resolve::cookie_value;
use crate::table::RoutingTable;

/// Entries per worker thread.
const SLOTS: usize = 1024;
/// Longest key remembered: browsers' inputs take ~200 bytes.
pub const MAX_KEY: usize = 512;
/// Distinct `language_cookie` names whose values are read into the key; a table with more
/// keys on the whole `Cookie` header instead.
const MAX_COOKIE_NAMES: usize = 4;
/// The most credit an entry banks: a different key needs this many misses in its slot, with
/// no hit in between, to replace it.
const MAX_CREDIT: u8 = 8;

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::new(SLOTS));
}

/// [`query::decide`], remembered for inputs seen before on this thread, and the cached answer
/// for the decision: the one remembered with it if the answer cache has not changed since
/// (`changes`, its count of changes, read before), else `lookup`'s, then remembered. The flag
/// says whether the answer came from the memo (`lookup` counts its own hits).
pub fn decide(
    table: &Arc<RoutingTable>,
    uri: &Uri,
    headers: &HeaderMap,
    changes: u64,
    lookup: impl FnOnce(&Decided) -> Option<Arc<Prepared>>,
) -> Result<(Decided, Option<Arc<Prepared>>, bool), ApiError> {
    MEMO.with_borrow_mut(|memo| {
        memo.follow(table);
        let mut key = Key::default();
        if !key.read(uri, headers, &memo.cookies) {
            let decided = query::decide(table, uri, headers)?;
            let answer = lookup(&decided);
            return Ok((decided, answer, false));
        }
        let (decided, slot) =
            memo.remembered(key.bytes(), || query::decide(table, uri, headers))?;
        let Some(slot) = slot else {
            let answer = lookup(&decided);
            return Ok((decided, answer, false));
        };
        let slot = &mut memo.slots[slot];
        if let Some((at, answer)) = &slot.answer
            && *at == changes
        {
            return Ok((decided, Some(answer.clone()), true));
        }
        let answer = lookup(&decided);
        slot.answer = answer.clone().map(|answer| (changes, answer));
        Ok((decided, answer, false))
    })
}

struct Memo {
    /// The table the decisions index into (weak: a replaced table is not kept alive, and its
    /// allocation, which a weak reference keeps, cannot be reused by the next one).
    table: Weak<RoutingTable>,
    cookies: CookieNames,
    hasher: foldhash::fast::RandomState,
    slots: Vec<Slot>,
}

#[derive(Default)]
struct Slot {
    hash: u64,
    key: Vec<u8>,
    decided: Option<Decided>,
    /// The cached answer for `decided`, and the answer cache's count of changes when it was
    /// looked up.
    answer: Option<(u64, Arc<Prepared>)>,
    credit: u8,
}

/// Which cookies the key reads.
enum CookieNames {
    /// The values of these cookies (every `language_cookie` of the table).
    Values(Vec<Box<str>>),
    /// The whole header: the table names too many.
    Header,
}

impl Memo {
    fn new(slots: usize) -> Self {
        Self {
            table: Weak::new(),
            cookies: CookieNames::Values(Vec::new()),
            hasher: foldhash::fast::RandomState::default(),
            slots: (0..slots).map(|_| Slot::default()).collect(),
        }
    }

    /// Empties the memo if `table` is not the one its decisions were made against.
    fn follow(&mut self, table: &Arc<RoutingTable>) {
        if std::ptr::eq(self.table.as_ptr(), Arc::as_ptr(table)) {
            return;
        }
        self.table = Arc::downgrade(table);
        let mut names: Vec<Box<str>> = Vec::new();
        for name in table
            .sites
            .iter()
            .filter_map(|s| s.language_cookie.as_ref())
        {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        self.cookies = if names.len() <= MAX_COOKIE_NAMES {
            CookieNames::Values(names)
        } else {
            CookieNames::Header
        };
        for slot in &mut self.slots {
            slot.decided = None;
            slot.answer = None;
            slot.credit = 0;
        }
    }

    /// The decision remembered for `key`, else `decide`'s, remembered if its slot is free or
    /// its entry has no credit left; with the index of the slot that holds it, if one does.
    fn remembered(
        &mut self,
        key: &[u8],
        decide: impl FnOnce() -> Result<Decided, ApiError>,
    ) -> Result<(Decided, Option<usize>), ApiError> {
        let hash = self.hasher.hash_one(key);
        let index = (hash % self.slots.len() as u64) as usize;
        let slot = &mut self.slots[index];
        if let Some(decided) = slot.decided
            && slot.hash == hash
            && slot.key == key
        {
            slot.credit = (slot.credit + 1).min(MAX_CREDIT);
            return Ok((decided, Some(index)));
        }
        let decided = decide()?;
        if slot.decided.is_none() || slot.credit == 0 {
            slot.hash = hash;
            slot.key.clear();
            slot.key.extend_from_slice(key);
            slot.decided = Some(decided);
            slot.answer = None;
            slot.credit = 0;
            Ok((decided, Some(index)))
        } else {
            slot.credit -= 1;
            Ok((decided, None))
        }
    }
}

/// A request's key, built on the stack: each input as a tag byte (absent, present…) and, when
/// present, its length (two bytes) and bytes.
struct Key {
    buf: [u8; MAX_KEY],
    len: usize,
}

impl Default for Key {
    fn default() -> Self {
        Self {
            buf: [0; MAX_KEY],
            len: 0,
        }
    }
}

impl Key {
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Appends `value` (or its absence); false when the key would be too long.
    fn push(&mut self, value: Option<&[u8]>) -> bool {
        let Some(value) = value else {
            return self.tag(0);
        };
        let end = self.len + 3 + value.len();
        if end > MAX_KEY {
            return false;
        }
        self.buf[self.len] = 1;
        // Fits: at most MAX_KEY.
        self.buf[self.len + 1..self.len + 3].copy_from_slice(&(value.len() as u16).to_le_bytes());
        self.buf[self.len + 3..end].copy_from_slice(value);
        self.len = end;
        true
    }

    fn tag(&mut self, tag: u8) -> bool {
        if self.len == MAX_KEY {
            return false;
        }
        self.buf[self.len] = tag;
        self.len += 1;
        true
    }

    /// Reads everything `query::decide` reads from the request, in a fixed order; false if it
    /// cannot be a key (too long, several `Cookie` or `Accept-Language` lines, a `Cookie`
    /// that is not UTF-8): that request is decided as if there were no memo.
    fn read(&mut self, uri: &Uri, headers: &HeaderMap, cookies: &CookieNames) -> bool {
        let Some(seen) = Seen::read(headers) else {
            return false;
        };
        let host = match uri.authority() {
            Some(authority) => Some(authority.as_str().as_bytes()),
            None => seen.host,
        };
        // `decide` reads only a `Referer` of visible ASCII, and of it only the host and the
        // first path segment.
        let referer = seen
            .referer
            .and_then(query::visible_ascii)
            .map(|r| referer_prefix(r).as_bytes());
        if !(self.push(uri.query().map(str::as_bytes))
            && self.push(seen.origin)
            && self.tag(u8::from(uri.authority().is_some()))
            && self.push(host)
            && self.push(referer)
            && self.push(seen.accept_language))
        {
            return false;
        }
        match (cookies, seen.cookie) {
            (_, None) => self.tag(0),
            (CookieNames::Header, Some(cookie)) => self.tag(1) && self.push(Some(cookie)),
            (CookieNames::Values(names), Some(cookie)) => {
                let Ok(cookie) = std::str::from_utf8(cookie) else {
                    return false;
                };
                self.tag(1)
                    && names
                        .iter()
                        .all(|name| self.push(cookie_value(cookie, name).map(str::as_bytes)))
            }
        }
    }
}

/// The first line of each header `decide` reads, found in one pass over the request's few
/// headers rather than one hash probe each.
#[derive(Default)]
struct Seen<'a> {
    origin: Option<&'a [u8]>,
    host: Option<&'a [u8]>,
    referer: Option<&'a [u8]>,
    accept_language: Option<&'a [u8]>,
    cookie: Option<&'a [u8]>,
}

impl<'a> Seen<'a> {
    /// `None` when `Accept-Language` or `Cookie` has several lines, which `decide` joins.
    fn read(headers: &'a HeaderMap) -> Option<Self> {
        let mut seen = Self::default();
        for (name, value) in headers {
            let (slot, single) = match *name {
                header::ORIGIN => (&mut seen.origin, false),
                header::HOST => (&mut seen.host, false),
                header::REFERER => (&mut seen.referer, false),
                header::ACCEPT_LANGUAGE => (&mut seen.accept_language, true),
                header::COOKIE => (&mut seen.cookie, true),
                _ => continue,
            };
            match slot {
                None => *slot = Some(value.as_bytes()),
                Some(_) if single => return None,
                Some(_) => {}
            }
        }
        Some(seen)
    }
}

/// `https://shop.example/fr-ca/cart?x=1` → `https://shop.example/fr-ca`: all of a URL that
/// its host (`lookup::hosts::url_host`) and its first path segment depend on; the whole URL
/// when it has no scheme or no path.
fn referer_prefix(url: &str) -> &str {
    let Some(rest) = crate::text::after_scheme(url) else {
        return url;
    };
    let Some(slash) = rest.bytes().position(|b| b == b'/') else {
        return url;
    };
    let segment = &rest[slash + 1..];
    let end = segment
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(segment.len());
    &url[..url.len() - segment.len() + end]
}

#[cfg(test)]
mod tests;

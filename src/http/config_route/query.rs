//! What a config request asks for: the query parameters flexroute reads and the headers that
//! may decide the site and language, read without copying where possible, and resolved against
//! the routing table. Kept apart from the answer because it is pure (no cache, no provisioner)
//! and the part most exposed to hostile input: the size limits on the query live here.

use std::borrow::Cow;

use http::Uri;
use http::header::{self, HeaderMap, HeaderName};

use crate::http::error::{ApiError, ErrorCode};
use crate::resolve::{self, Inputs};
use crate::table::RoutingTable;
use crate::text::{split_byte, split_once_byte};

/// Longest query string accepted. Page URLs with tracking parameters fit easily; anything
/// longer is not a browser asking for a widget.
const MAX_QUERY_BYTES: usize = 8192;
/// Longest `site` or `lang` value; longer cannot match the table, so it is a client bug.
/// (A long `page` URL is fine: only its host and first path segment are read.)
const MAX_VALUE_BYTES: usize = 2048;

/// What the request asks for, once resolved: indexes into the table it was resolved against.
#[derive(Clone, Copy)]
pub struct Decided {
    pub site: usize,
    pub language: usize,
    pub site_rule: resolve::SiteRule,
    pub language_rule: resolve::LanguageRule,
    /// Whether `Referer` helped decide (no `page` parameter): caches must then key on it.
    pub used_referer: bool,
}

/// The query and headers resolved against `table`: the site and language, or why not
/// (`400 invalid_request` for an oversized query, `404 unknown_site`).
pub fn decide(table: &RoutingTable, uri: &Uri, headers: &HeaderMap) -> Result<Decided, ApiError> {
    let query = parse_query(uri)?;
    let lists = ListHeaders::read(headers);
    let decision = resolve::resolve(table, &inputs(&query, &lists, uri, headers))
        .map_err(|unknown| unknown_site(unknown.explicit))?;
    Ok(Decided {
        site: decision.site,
        language: decision.language,
        site_rule: decision.site_rule,
        language_rule: decision.language_rule,
        used_referer: decision.used_referer,
    })
}

/// The site a request resolves to, or `None` (whatever the reason): for a preflight, which
/// never answers an error.
pub fn site_of(table: &RoutingTable, uri: &Uri, headers: &HeaderMap) -> Option<usize> {
    let query = parse_query(uri).ok()?;
    let lists = ListHeaders::read(headers);
    let decision = resolve::resolve(table, &inputs(&query, &lists, uri, headers)).ok()?;
    Some(decision.site)
}

fn unknown_site(explicit: bool) -> ApiError {
    let message = if explicit {
        "no site has this id"
    } else {
        "no configured site matches this request (site, Origin, page, Referer or Host)"
    };
    ApiError::new(ErrorCode::UnknownSite, message)
}

/// The query parameters flexroute reads; everything else (cache-busters…) is ignored. Values
/// borrow from the URI unless percent-decoding had to change them.
#[derive(Default)]
struct Query<'a> {
    site: Option<Cow<'a, str>>,
    lang: Option<Cow<'a, str>>,
    page: Option<Cow<'a, str>>,
}

impl<'a> Query<'a> {
    /// Keeps `value` if `key` is one flexroute reads and it is the first non-empty one.
    fn take(&mut self, key: Cow<'a, str>, value: Cow<'a, str>) -> Result<(), ApiError> {
        let (slot, limited) = match key.as_ref() {
            "site" => (&mut self.site, true),
            "lang" => (&mut self.lang, true),
            "page" => (&mut self.page, false),
            _ => return Ok(()),
        };
        if value.is_empty() {
            return Ok(()); // `?site=&lang=` from a template left blank means "not given"
        }
        if limited && value.len() > MAX_VALUE_BYTES {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("parameter `{key}` is longer than {MAX_VALUE_BYTES} bytes"),
            ));
        }
        if slot.is_none() {
            *slot = Some(value);
        }
        Ok(())
    }
}

fn parse_query(uri: &Uri) -> Result<Query<'_>, ApiError> {
    let raw = uri.query().unwrap_or("");
    if raw.len() > MAX_QUERY_BYTES {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("query string longer than {MAX_QUERY_BYTES} bytes"),
        ));
    }
    let mut query = Query::default();
    // Most queries have nothing to decode (`site=acme&lang=es-MX`): those are split in place,
    // every pair borrowed, at a fraction of `form_urlencoded`'s byte-by-byte cost.
    if raw.bytes().any(|b| b == b'%' || b == b'+') {
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            query.take(key, value)?;
        }
    } else {
        for pair in split_byte(raw, b'&').filter(|pair| !pair.is_empty()) {
            let (key, value) = split_once_byte(pair, b'=').unwrap_or((pair, ""));
            query.take(Cow::Borrowed(key), Cow::Borrowed(value))?;
        }
    }
    Ok(query)
}

/// A single-valued header as text; absent when missing or not visible ASCII (never an error).
fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| visible_ascii(v.as_bytes()))
}

/// What `HeaderValue::to_str` accepts (visible ASCII and tab), checked without an early exit
/// so that the compiler checks many bytes at once: a `Referer` is long.
pub fn visible_ascii(bytes: &[u8]) -> Option<&str> {
    let visible = bytes.iter().fold(true, |ok, &b| {
        ok & ((b' '..=b'~').contains(&b) | (b == b'\t'))
    });
    visible.then(|| std::str::from_utf8(bytes).ok()).flatten()
}

/// A header line as text, invalid bytes replaced; borrowed when it is valid UTF-8 (checked
/// first, at the speed of ASCII, before the slower repairing decoder is needed).
fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// A list-valued header as text, with any invalid byte replaced, so that one bad entry is
/// skipped by the parser rather than costing the whole header. Several lines of it are read as
/// one, joined by `separator` (RFC 9110 §5.3: `, ` for `Accept-Language`; RFC 6265 §5.4: `; `
/// for `Cookie`). Borrowed, with no allocation, when there is one line and it needs no repair.
fn header_list<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    separator: &str,
) -> Option<Cow<'a, str>> {
    let mut lines = headers.get_all(name).iter();
    let first = lossy(lines.next()?.as_bytes());
    let Some(second) = lines.next() else {
        return Some(first);
    };
    let mut joined = first.into_owned();
    for line in std::iter::once(second).chain(lines) {
        joined.push_str(separator);
        joined.push_str(&lossy(line.as_bytes()));
    }
    Some(Cow::Owned(joined))
}

/// The list-valued headers, held for the duration of a request so that [`Inputs`] can borrow.
struct ListHeaders<'a> {
    cookie: Option<Cow<'a, str>>,
    accept_language: Option<Cow<'a, str>>,
}

impl<'a> ListHeaders<'a> {
    fn read(headers: &'a HeaderMap) -> Self {
        Self {
            cookie: header_list(headers, &header::COOKIE, "; "),
            accept_language: header_list(headers, &header::ACCEPT_LANGUAGE, ", "),
        }
    }
}

/// The host the request was sent to: the authority of an absolute-form request target
/// (`GET http://acme.example/… HTTP/1.1`), which RFC 9112 §3.2.2 says wins over `Host`, else
/// `Host`.
fn request_host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    match uri.authority() {
        Some(authority) => Some(authority.as_str()),
        None => header_str(headers, &header::HOST),
    }
}

fn inputs<'a>(
    query: &'a Query<'_>,
    lists: &'a ListHeaders<'_>,
    uri: &'a Uri,
    headers: &'a HeaderMap,
) -> Inputs<'a> {
    Inputs {
        site: query.site.as_deref(),
        lang: query.lang.as_deref(),
        page: query.page.as_deref(),
        origin: header_str(headers, &header::ORIGIN),
        referer: header_str(headers, &header::REFERER),
        host: request_host(uri, headers),
        cookie: lists.cookie.as_deref(),
        accept_language: lists.accept_language.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> (Option<String>, Option<String>, Option<String>) {
        let (parts, ()) = http::Request::get(format!("/v1/webchat/config?{raw}"))
            .body(())
            .unwrap()
            .into_parts();
        let query = parse_query(&parts.uri).unwrap();
        let owned = |v: Option<Cow<'_, str>>| v.map(Cow::into_owned);
        (owned(query.site), owned(query.lang), owned(query.page))
    }

    /// What `form_urlencoded` (the reference) makes of the same query.
    fn reference(raw: &str) -> (Option<String>, Option<String>, Option<String>) {
        let mut found = (None, None, None);
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            let slot = match key.as_ref() {
                "site" => &mut found.0,
                "lang" => &mut found.1,
                "page" => &mut found.2,
                _ => continue,
            };
            if !value.is_empty() && slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        found
    }

    #[test]
    fn the_split_in_place_reads_queries_as_form_urlencoded_does() {
        for raw in [
            "site=acme&lang=es-MX",
            "lang=&lang=fr-CA&site=acme",
            "&&site=acme&&",
            "site",
            "site=a=b&lang==x",
            "=x&page=https://shop.example/fr/cart?x=1",
            "site=acme;lang=fr",
            "site=ac%6De&lang=es+MX",
            "page=https%3A%2F%2Fshop.example%2Ffr&site=acme",
            "",
        ] {
            assert_eq!(parsed(raw), reference(raw), "{raw:?}");
        }
    }
}

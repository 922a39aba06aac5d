//! Shared by the fuzz targets: the routing table they resolve against, how an input splits into
//! request fields, and reference checks written from the README's rules rather than from the
//! library's code, so that a target can tell a wrong answer from a right one.
#![allow(dead_code)] // each target uses part of this module

use std::borrow::Cow;
use std::sync::LazyLock;

use flexroute::config::{Config, Environment};
use flexroute::table::RoutingTable;

/// A table with the shapes negotiation and host matching have to tell apart: tags sharing a
/// prefix (`en-US`/`en-GB`, `es-*`), a default that is not listed first, scripts, a region
/// code, a private-use tag, bare languages next to regional ones, nested wildcards claimed by
/// different sites, an exact name under another site's wildcard, and a site with no hosts.
pub const SITES: &str = r#"
[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"

[provisioning]
enabled = false

[[sites]]
id = "acme"
hosts = ["acme.example", "*.acme.example", "localhost", "xn--bcher-kva.example"]
default_language = "en-US"
languages = ["en-GB", "en-US", "es-MX", "es-ES", "es-419", "fr-CA", "fr", "de-DE", "de-CH-1996", "pt-BR", "zh-Hant-TW", "zh-Hans-CN", "sr-Latn-RS", "x-klingon"]
path_language = true
language_cookie = "locale"

[[sites]]
id = "eu"
hosts = ["*.eu.acme.example", "special.acme.example", "eu.example", "127.0.0.1"]
default_language = "de-DE"
languages = ["de-DE", "de-AT", "fr-FR", "it", "nl"]
path_language = true

[[sites]]
id = "globex"
hosts = ["globex.example", "*.globex.example", "Shop_1.Example."]
default_language = "ja"
languages = ["ja", "ko-KR", "zh-TW", "zh", "en"]
language_cookie = "lang"

[[sites]]
id = "initech"
hosts = ["initech.example", "*.shop.globex.example"]
default_language = "en-US"
languages = ["en-US"]

[[sites]]
id = "hostless"
default_language = "he-IL"
languages = ["ar", "he-IL"]
path_language = true
language_cookie = "locale"
"#;

pub struct Fixture {
    pub table: RoutingTable,
    /// Per site, its configured languages in canonical form.
    pub languages: Vec<Vec<String>>,
    /// Per site, the host patterns as written in the config.
    pub hosts: Vec<Vec<String>>,
}

pub static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let loaded =
        Config::from_toml_str(SITES, &Environment::default()).expect("fuzz table is valid");
    let config = loaded.config;
    Fixture {
        table: RoutingTable::build(&config),
        languages: config
            .sites
            .iter()
            .map(|s| {
                s.languages
                    .iter()
                    .map(|t| flexroute::lookup::languages::canonical_tag(t).unwrap())
                    .collect()
            })
            .collect(),
        hosts: config.sites.iter().map(|s| s.hosts.clone()).collect(),
    }
});

/// The input as newline-separated request fields, each decoded like the HTTP layer decodes
/// list headers (invalid UTF-8 replaced). Missing fields are `None`.
pub fn fields<const N: usize>(data: &[u8]) -> [Option<Cow<'_, str>>; N] {
    let mut parts = data.split(|b| *b == b'\n');
    std::array::from_fn(|_| parts.next().map(String::from_utf8_lossy))
}

/// `raw` lower-cased with `_` read as `-`, as tags compare.
pub fn tag_key(raw: &str) -> String {
    raw.to_ascii_lowercase().replace('_', "-")
}

/// The primary language subtag, lower-cased: fallback never leaves it.
pub fn primary(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Whether a language range covers a tag under RFC 4647 basic filtering (`es` covers `es-MX`,
/// `es-MX` covers only `es-MX…`), as a `q=0` refusal does.
pub fn covers(range: &str, tag: &str) -> bool {
    let (range, tag) = (tag_key(range), tag_key(tag));
    tag.strip_prefix(&range)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// Whether `inner` is a slice of `outer` (the library hands back borrowed request values).
pub fn borrows_from(inner: &str, outer: &str) -> bool {
    let (start, end) = (
        outer.as_ptr() as usize,
        outer.as_ptr() as usize + outer.len(),
    );
    let at = inner.as_ptr() as usize;
    at >= start && at + inner.len() <= end
}

/// How strongly a host pattern claims a request host, from the README: an exact name beats
/// any wildcard, and a longer wildcard suffix beats a shorter one. `None`: not claimed.
///
/// The request host may carry a port and a trailing dot and any case. A wildcard claims
/// subdomains: one or more non-empty labels before `.suffix` (not the suffix itself).
pub fn claim(pattern: &str, request_host: &str) -> Option<usize> {
    let host = request_host_name(request_host)?;
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            let labels = host.strip_suffix(suffix)?.strip_suffix('.')?;
            (!labels.is_empty() && labels.split('.').all(|l| !l.is_empty())).then_some(suffix.len())
        }
        None => (host == pattern).then_some(usize::MAX),
    }
}

/// The best claim any site makes on `request_host`: `(site, strength)`.
pub fn best_claim(hosts: &[Vec<String>], request_host: &str) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for (site, patterns) in hosts.iter().enumerate() {
        for pattern in patterns {
            if let Some(strength) = claim(pattern, request_host) {
                assert!(
                    best.is_none_or(|(_, s)| s != strength),
                    "two sites claim {request_host:?} equally: the table is ambiguous"
                );
                if best.is_none_or(|(_, s)| strength > s) {
                    best = Some((site, strength));
                }
            }
        }
    }
    best
}

/// A request host as a bare lower-case name: without `:port` (digits, possibly none) and one
/// trailing dot; an IPv6 literal (`[…]`, which no pattern names) loses only what follows it.
/// Names over 253 characters are never configured names. `None` unless what is left is a host
/// name: non-empty labels of letters, digits, `-` and `_`, between dots.
fn request_host_name(raw: &str) -> Option<String> {
    let host = match raw.rsplit_once(':') {
        _ if raw.starts_with('[') => raw.find(']').map_or(raw, |end| &raw[..=end]),
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => raw,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let is_name = host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    (is_name && host.len() <= 253).then(|| host.to_ascii_lowercase())
}

/// Whether a path segment is shaped like a language prefix: `de`, `es-ar`, `pt_br`, `es-419`.
pub fn language_shaped(segment: &str) -> bool {
    let mut subtags = segment.split(['-', '_']);
    let language = subtags.next().unwrap_or("");
    let region = subtags.next();
    let alpha = |s: &str| s.bytes().all(|b| b.is_ascii_alphabetic());
    (2..=3).contains(&language.len())
        && alpha(language)
        && region.is_none_or(|r| {
            (r.len() == 2 && alpha(r)) || (r.len() == 3 && r.bytes().all(|b| b.is_ascii_digit()))
        })
        && subtags.next().is_none()
}

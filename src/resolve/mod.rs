//! Which site and which language a request is for, and why. Pure functions of the
//! routing table and the request's inputs: the HTTP handler and `flexroute resolve` share them.

pub mod accept_language;

use std::fmt;

use crate::lookup::hosts::{url_host, url_path};
use crate::lookup::languages::{Exclusions, TagMatch};
use crate::table::{RoutingTable, Site};

/// What a request says about its site and language. Every field is optional and untrusted.
#[derive(Debug, Default, Clone, Copy)]
pub struct Inputs<'a> {
    pub site: Option<&'a str>,
    pub lang: Option<&'a str>,
    pub page: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub referer: Option<&'a str>,
    /// The host the request was sent to: an absolute-form target's authority, else `Host`.
    pub host: Option<&'a str>,
    pub cookie: Option<&'a str>,
    pub accept_language: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteRule {
    Parameter,
    Origin,
    Page,
    Referer,
    Host,
}

impl fmt::Display for SiteRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SiteRule::Parameter => "`site` parameter",
            SiteRule::Origin => "Origin header host",
            SiteRule::Page => "`page` parameter host",
            SiteRule::Referer => "Referer header host",
            SiteRule::Host => "Host header",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LanguageRule {
    Parameter,
    PathPrefix,
    Cookie,
    AcceptLanguage,
    Default,
}

impl fmt::Display for LanguageRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LanguageRule::Parameter => "`lang` parameter",
            LanguageRule::PathPrefix => "page path prefix",
            LanguageRule::Cookie => "language cookie",
            LanguageRule::AcceptLanguage => "Accept-Language",
            LanguageRule::Default => "site default",
        })
    }
}

/// The outcome for a known site.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    pub site: usize,
    pub site_rule: SiteRule,
    pub language: usize,
    pub language_rule: LanguageRule,
    /// The value that matched (`es-AR` for an `Accept-Language: es-AR` that reached `es-MX`).
    pub matched: Option<&'a str>,
    /// True when the match went along subtags rather than naming the language exactly.
    pub fallback: bool,
    /// Whether `Referer` was read to decide; the answer then varies with it.
    pub used_referer: bool,
}

/// No configured site claims the request. `explicit` is true when a `site` parameter named an
/// id that does not exist (headers are then not consulted: a typo should not be masked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownSite {
    pub explicit: bool,
}

pub fn resolve<'a>(table: &RoutingTable, inputs: &Inputs<'a>) -> Result<Decision<'a>, UnknownSite> {
    let (site_index, site_rule) = resolve_site(table, inputs)?;
    let site = &table.sites[site_index];
    let (language_rule, found) = resolve_language(site, inputs);
    let referer_read_for_site = matches!(site_rule, SiteRule::Referer | SiteRule::Host);
    let referer_read_for_language = site.path_language
        && inputs.page.is_none()
        && !matches!(language_rule, LanguageRule::Parameter);
    let (language, matched, fallback) = match found {
        Some((m, matched)) => (m.index, Some(matched), m.fallback),
        None => (site.languages.default_index(), None, false),
    };
    Ok(Decision {
        site: site_index,
        site_rule,
        language,
        language_rule,
        matched,
        fallback,
        used_referer: inputs.referer.is_some()
            && (referer_read_for_site || referer_read_for_language),
    })
}

fn resolve_site(
    table: &RoutingTable,
    inputs: &Inputs<'_>,
) -> Result<(usize, SiteRule), UnknownSite> {
    if let Some(id) = inputs.site {
        return table
            .site_by_id(id)
            .map(|s| (s, SiteRule::Parameter))
            .ok_or(UnknownSite { explicit: true });
    }
    let candidates = [
        (inputs.origin.and_then(url_host), SiteRule::Origin),
        (inputs.page.and_then(url_host), SiteRule::Page),
        (inputs.referer.and_then(url_host), SiteRule::Referer),
        (inputs.host, SiteRule::Host),
    ];
    candidates
        .into_iter()
        .find_map(|(host, rule)| Some((table.site_by_host(host?)?, rule)))
        .ok_or(UnknownSite { explicit: false })
}

fn resolve_language<'a>(
    site: &Site,
    inputs: &Inputs<'a>,
) -> (LanguageRule, Option<(TagMatch, &'a str)>) {
    let none = Exclusions::default();
    if let Some(lang) = inputs.lang
        && let Some(m) = site.languages.match_tag(lang, &none)
    {
        return (LanguageRule::Parameter, Some((m, lang)));
    }
    if site.path_language
        && let Some(segment) = inputs.page.or(inputs.referer).and_then(first_segment)
        && let Some(m) = path_language(site, segment)
    {
        return (LanguageRule::PathPrefix, Some((m, segment)));
    }
    if let (Some(name), Some(cookies)) = (&site.language_cookie, inputs.cookie)
        && let Some(value) = cookie_value(cookies, name)
        && let Some(m) = site.languages.match_tag(value, &none)
    {
        return (LanguageRule::Cookie, Some((m, value)));
    }
    if let Some(header) = inputs.accept_language
        && let Some(found) = negotiate(site, header)
    {
        return (LanguageRule::AcceptLanguage, Some(found));
    }
    (LanguageRule::Default, None)
}

/// The site language the header prefers most: highest weight first, header order among equal
/// weights, `q=0` ranges never chosen (not even through fallback or `*`).
pub fn negotiate<'a>(site: &Site, header: &'a str) -> Option<(TagMatch, &'a str)> {
    let header = accept_language::bounded(header);
    // The refusals must be known before the first choice, so the entries are read twice:
    // from a copy on the stack when there are few (browsers send 1 to 8), else parsed again.
    let mut parsed = [accept_language::Entry::default(); PARSED_ONCE];
    let mut count = 0;
    for entry in accept_language::entries(header) {
        if count == PARSED_ONCE {
            return choose(site, accept_language::entries(header));
        }
        parsed[count] = entry;
        count += 1;
    }
    choose(site, parsed[..count].iter().copied())
}

/// Entries of `Accept-Language` kept on the stack by [`negotiate`]; beyond, it parses twice.
const PARSED_ONCE: usize = 16;

/// [`negotiate`] over the header's well-formed `entries`, in order.
fn choose<'a>(
    site: &Site,
    entries: impl Iterator<Item = accept_language::Entry<'a>> + Clone,
) -> Option<(TagMatch, &'a str)> {
    let mut excluded = Exclusions::default();
    for entry in entries.clone().filter(|e| e.quality == 0 && e.range != "*") {
        excluded.push(entry.range);
    }
    let mut best: Option<(u16, TagMatch, &'a str)> = None;
    for entry in entries {
        if entry.quality == 0 || best.is_some_and(|(q, _, _)| q >= entry.quality) {
            continue;
        }
        let found = if entry.range == "*" {
            site.languages.any(&excluded).map(|index| TagMatch {
                index,
                fallback: true,
            })
        } else {
            site.languages.match_tag(entry.range, &excluded)
        };
        if let Some(m) = found {
            if entry.quality == 1000 {
                return Some((m, entry.range));
            }
            best = Some((entry.quality, m, entry.range));
        }
    }
    best.map(|(_, m, range)| (m, range))
}

/// A page path's first segment as a language: one of the site's tags exactly, or shaped like
/// a bare language (`/de/`) or language-region (`/es-ar/`, `/pt_br/`, `/es-419/`), which then
/// falls back along subtags. Anything else (`/de-luxe/`, `/it-jobs/`) is not a language prefix.
fn path_language(site: &Site, segment: &str) -> Option<TagMatch> {
    if let Some(index) = site.languages.position(segment) {
        return Some(TagMatch {
            index,
            fallback: false,
        });
    }
    let mut subtags = segment.split(['-', '_']);
    let language = subtags.next()?;
    let region = subtags.next();
    let is_language =
        (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_alphabetic());
    let is_region = region.is_none_or(|r| {
        (r.len() == 2 && r.bytes().all(|b| b.is_ascii_alphabetic()))
            || (r.len() == 3 && r.bytes().all(|b| b.is_ascii_digit()))
    });
    if is_language && is_region && subtags.next().is_none() {
        site.languages.match_tag(segment, &Exclusions::default())
    } else {
        None
    }
}

/// `/fr-ca/cart` → `fr-ca`.
fn first_segment(url: &str) -> Option<&str> {
    let path = url_path(url).strip_prefix('/')?;
    let segment = path.split('/').next()?;
    (!segment.is_empty()).then_some(segment)
}

/// The value of cookie `name` in a `Cookie` header (`a=1; locale=es-MX`), quotes removed.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    // A cookie can only be named `name` if the header holds it: a fast scan first, since
    // browsers send many cookies and seldom the one asked for.
    if !header.contains(name) {
        return None;
    }
    crate::text::split_byte(header, b';').find_map(|pair| {
        let (key, value) = crate::text::split_once_byte(pair, b'=')?;
        (trim(key) == name).then(|| trim(value).trim_matches('"'))
    })
}

/// `str::trim`, without decoding characters when the text is ASCII at both ends (a cookie
/// header nearly always is): only then can a multi-byte whitespace be there to remove.
fn trim(text: &str) -> &str {
    // The ASCII characters `char::is_whitespace` accepts: `\t`, `\n`, VT, FF, `\r`, space.
    let blank = |b: &u8| matches!(b, b'\t'..=b'\r' | b' ');
    let bytes = text.as_bytes();
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    let ascii_edges = bytes.get(start).is_none_or(u8::is_ascii)
        && bytes.get(end.wrapping_sub(1)).is_none_or(u8::is_ascii);
    if ascii_edges {
        &text[start..end.max(start)]
    } else {
        text.trim()
    }
}

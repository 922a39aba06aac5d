//! A site's languages and RFC 4647 matching against them: case-insensitive, `_` read as `-`,
//! and "lookup" fallback along subtags (`es-AR` → `es` → the site's `es-MX`; `de` → `de-DE`).
//! Everything a request needs is precomputed here, so matching costs a few hash probes and no
//! allocation.

use std::collections::HashMap;
use std::sync::Arc;

use super::FastMap;

/// Longest tag we try to match; real tags are far shorter (RFC 5646 §4.4.1 suggests 35).
const MAX_TAG: usize = 64;

/// A configured tag, checked with `language-tags` (RFC 5646 well-formedness) and written in the
/// conventional case (`fr-ca` → `fr-CA`, `zh-hant-tw` → `zh-Hant-TW`).
pub fn canonical_tag(raw: &str) -> Result<String, String> {
    if raw.len() > MAX_TAG {
        return Err(format!(
            "`{raw}` is longer than {MAX_TAG} characters, which no request could match"
        ));
    }
    if let Err(e) = language_tags::LanguageTag::parse(raw) {
        return Err(format!("`{raw}` is not a valid language tag ({e})"));
    }
    let mut out = String::with_capacity(raw.len());
    let mut private = false;
    for (i, subtag) in raw.split('-').enumerate() {
        if i > 0 {
            out.push('-');
        }
        private |= i > 0 && subtag.len() == 1;
        let alpha = subtag.bytes().all(|b| b.is_ascii_alphabetic());
        if i == 0 || private || !alpha || !(subtag.len() == 2 || subtag.len() == 4) {
            out.push_str(&subtag.to_ascii_lowercase());
        } else if subtag.len() == 2 {
            out.push_str(&subtag.to_ascii_uppercase());
        } else {
            out.push_str(&subtag[..1].to_ascii_uppercase());
            out.push_str(&subtag[1..].to_ascii_lowercase());
        }
    }
    Ok(out)
}

/// [`canonical_tag`] remembered per distinct input: a large table repeats a handful of tags
/// across thousands of sites, and RFC 5646 parsing is the costly part of loading it. Equal
/// tags also share one allocation.
#[derive(Default)]
pub struct TagCache {
    seen: HashMap<String, Result<Arc<str>, String>>,
}

impl TagCache {
    pub fn canonical(&mut self, raw: &str) -> Result<Arc<str>, String> {
        if let Some(known) = self.seen.get(raw) {
            return known.clone();
        }
        let result = canonical_tag(raw).map(Arc::from);
        self.seen.insert(raw.to_string(), result.clone());
        result
    }
}

/// Which of a site's languages a requested tag reached, and whether it took a fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagMatch {
    pub index: usize,
    /// True when the tag did not name the language exactly (`es-AR` → `es-MX`).
    pub fallback: bool,
}

/// The languages of one site, indexed for matching.
#[derive(Debug)]
pub struct SiteLanguages {
    /// Canonical tags, in the order the config lists them.
    tags: Vec<Arc<str>>,
    lower: Vec<Box<str>>,
    default: usize,
    /// Lower-case tag or tag prefix → candidate languages, best first: the exact tag, then the
    /// default language, then config order.
    ranges: FastMap<Box<str>, Vec<usize>>,
}

impl SiteLanguages {
    /// `tags` must be canonical and `default` one of them (validation guarantees both).
    pub fn new(tags: Vec<Arc<str>>, default: usize) -> Self {
        let lower: Vec<Box<str>> = tags.iter().map(|t| t.to_ascii_lowercase().into()).collect();
        let mut ranges: FastMap<Box<str>, Vec<usize>> = FastMap::default();
        for (i, tag) in lower.iter().enumerate() {
            ranges.entry(tag.clone()).or_default().insert(0, i);
        }
        let preference = std::iter::once(default).chain((0..tags.len()).filter(|i| *i != default));
        for i in preference {
            let tag: &str = &lower[i];
            let shorter = tag
                .match_indices('-')
                .map(|(end, _)| tag[..end].to_string())
                .chain(without_script(tag));
            for range in shorter {
                let candidates = ranges.entry(range.into()).or_default();
                if !candidates.contains(&i) {
                    candidates.push(i);
                }
            }
        }
        Self {
            tags,
            lower,
            default,
            ranges,
        }
    }

    pub fn tags(&self) -> &[Arc<str>] {
        &self.tags
    }

    pub fn default_index(&self) -> usize {
        self.default
    }

    pub fn tag(&self, index: usize) -> &Arc<str> {
        &self.tags[index]
    }

    /// The index of a configured tag, compared case-insensitively with `_` read as `-`.
    pub fn position(&self, tag: &str) -> Option<usize> {
        let same = |lower: &str| {
            lower.len() == tag.len()
                && lower.bytes().zip(tag.bytes()).all(|(l, t)| {
                    l == if t == b'_' {
                        b'-'
                    } else {
                        t.to_ascii_lowercase()
                    }
                })
        };
        self.lower.iter().position(|t| same(t))
    }

    /// RFC 4647 lookup of one requested tag: exact, then dropping subtags from the right
    /// (and a dangling singleton such as `-x`), each step also reaching the site's longer tags
    /// that start with it. Languages that `excluded` rules out are skipped, unless the visitor
    /// asked for them more specifically than they refused them (`en;q=0, en-US` gets `en-US`).
    pub fn match_tag(&self, requested: &str, excluded: &Exclusions<'_>) -> Option<TagMatch> {
        let mut buf = [0u8; MAX_TAG];
        let mut range = normalize(requested, &mut buf)?;
        let mut fallback = false;
        loop {
            if let Some(candidates) = self.ranges.get(range) {
                let found = candidates
                    .iter()
                    .copied()
                    .find(|&i| !excluded.rules_out(&self.lower[i], range.len()));
                if let Some(index) = found {
                    let exact = !fallback && self.lower[index].len() == range.len();
                    return Some(TagMatch {
                        index,
                        fallback: !exact,
                    });
                }
            }
            let cut = range.rfind('-')?;
            range = &range[..cut];
            if range.len() >= 2 && range.as_bytes()[range.len() - 2] == b'-' {
                range = &range[..range.len() - 2];
            }
            fallback = true;
        }
    }

    /// What `*` in `Accept-Language` stands for: the default language unless it is excluded,
    /// else the first language that is not.
    pub fn any(&self, excluded: &Exclusions<'_>) -> Option<usize> {
        std::iter::once(self.default)
            .chain(0..self.tags.len())
            .find(|&i| !excluded.rules_out(&self.lower[i], 0))
    }
}

/// `zh-hant-tw` → `zh-tw`: visitors send language-region without the script far more often
/// than with it, and `zh-TW` should reach Traditional Chinese rather than the default.
fn without_script(lower_tag: &str) -> Option<String> {
    let mut subtags = lower_tag.split('-');
    let (language, script, region) = (subtags.next()?, subtags.next()?, subtags.next()?);
    let is_script = script.len() == 4 && script.bytes().all(|b| b.is_ascii_alphabetic());
    let is_region = (region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic()))
        || (region.len() == 3 && region.bytes().all(|b| b.is_ascii_digit()));
    (is_script && is_region).then(|| format!("{language}-{region}"))
}

/// Lower-cases `raw` into `buf`, reading `_` as `-`. `None` for anything that is not shaped
/// like a tag: empty, too long, a character other than ASCII letters, digits and `-`, or an
/// empty or over-long subtag.
fn normalize<'b>(raw: &str, buf: &'b mut [u8; MAX_TAG]) -> Option<&'b str> {
    let bytes = raw.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_TAG {
        return None;
    }
    let out = &mut buf[..bytes.len()];
    for (o, &b) in out.iter_mut().zip(bytes) {
        *o = match b {
            b'_' | b'-' => b'-',
            b if b.is_ascii_alphanumeric() => b.to_ascii_lowercase(),
            _ => return None,
        };
    }
    let tag = std::str::from_utf8(out).ok()?;
    tag.split('-')
        .all(|s| (1..=8).contains(&s.len()))
        .then_some(tag)
}

/// Language ranges a visitor refused with `q=0`. A range rules out every tag it matches under
/// RFC 4647 basic filtering (`es` rules out `es-MX`; `es-MX` rules out only `es-MX…`).
#[derive(Debug, Default)]
pub struct Exclusions<'a> {
    ranges: [&'a str; MAX_EXCLUSIONS],
    len: usize,
}

/// A header listing more refusals than this is not a browser; the rest are ignored.
const MAX_EXCLUSIONS: usize = 16;

impl<'a> Exclusions<'a> {
    pub fn push(&mut self, range: &'a str) {
        if self.len < MAX_EXCLUSIONS {
            self.ranges[self.len] = range;
            self.len += 1;
        }
    }

    /// Whether a refusal covers `lower_tag` while matching a requested range of
    /// `requested_len` bytes: only refusals at least as specific as the request count.
    fn rules_out(&self, lower_tag: &str, requested_len: usize) -> bool {
        self.ranges[..self.len].iter().any(|range| {
            if range.len() < requested_len {
                return false;
            }
            let range = range.as_bytes();
            let tag = lower_tag.as_bytes();
            let prefix_ok = tag.len() >= range.len()
                && tag[..range.len()]
                    .iter()
                    .zip(range)
                    .all(|(t, r)| *t == r.to_ascii_lowercase() || (*t == b'-' && *r == b'_'));
            prefix_ok && (tag.len() == range.len() || tag[range.len()] == b'-')
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(tags: &[&str], default: usize) -> SiteLanguages {
        SiteLanguages::new(tags.iter().map(|t| Arc::from(*t)).collect(), default)
    }

    #[test]
    fn canonical_case() {
        assert_eq!(canonical_tag("fr-ca").unwrap(), "fr-CA");
        assert_eq!(canonical_tag("ZH-hant-tw").unwrap(), "zh-Hant-TW");
        assert_eq!(canonical_tag("es-419").unwrap(), "es-419");
        assert_eq!(canonical_tag("en-US-x-ab").unwrap(), "en-US-x-ab");
        assert!(canonical_tag("en_US").is_err());
        assert!(canonical_tag("").is_err());
    }

    #[test]
    fn lookup_falls_back_along_subtags() {
        let langs = site(&["en-US", "en-GB", "es-MX", "zh-Hant-HK", "de"], 1);
        let none = Exclusions::default();
        let m = |t: &str| {
            langs
                .match_tag(t, &none)
                .map(|m| (langs.tag(m.index).to_string(), m.fallback))
        };
        assert_eq!(m("en-us"), Some(("en-US".into(), false)));
        assert_eq!(
            m("en"),
            Some(("en-GB".into(), true)),
            "the default wins among en-*"
        );
        assert_eq!(m("es-AR"), Some(("es-MX".into(), true)));
        assert_eq!(m("zh-Hant-TW"), Some(("zh-Hant-HK".into(), true)));
        assert_eq!(m("de-CH-x-phonebk"), Some(("de".into(), true)));
        assert_eq!(m("es_mx"), Some(("es-MX".into(), false)));
        assert_eq!(
            m("zh-TW"),
            Some(("zh-Hant-HK".into(), true)),
            "script-less alias, then zh"
        );
        assert_eq!(m("fr"), None);
        assert_eq!(m("e$"), None);
    }

    #[test]
    fn script_less_tags_reach_their_script() {
        let langs = site(&["zh-Hans-CN", "zh-Hant-TW", "sr-Latn-RS"], 0);
        let none = Exclusions::default();
        let m = |t: &str| {
            langs
                .match_tag(t, &none)
                .map(|m| langs.tag(m.index).to_string())
        };
        assert_eq!(m("zh-TW").as_deref(), Some("zh-Hant-TW"));
        assert_eq!(m("zh-CN").as_deref(), Some("zh-Hans-CN"));
        assert_eq!(
            m("zh-SG").as_deref(),
            Some("zh-Hans-CN"),
            "zh, then the default"
        );
        assert_eq!(m("sr-RS").as_deref(), Some("sr-Latn-RS"));
    }

    #[test]
    fn exclusions_skip_candidates() {
        let langs = site(&["en-US", "es-MX", "es-ES"], 0);
        let mut ex = Exclusions::default();
        ex.push("es-MX");
        let m = langs.match_tag("es-AR", &ex).unwrap();
        assert_eq!(langs.tag(m.index).as_ref(), "es-ES");
        let mut all_es = Exclusions::default();
        all_es.push("ES");
        assert_eq!(langs.match_tag("es", &all_es), None);
        assert_eq!(langs.any(&all_es), Some(0));
        // A more specific request beats a broader refusal.
        let mut all_en = Exclusions::default();
        all_en.push("en");
        assert_eq!(langs.match_tag("en-US", &all_en).map(|m| m.index), Some(0));
        assert_eq!(langs.match_tag("en-GB", &all_en), None);
    }
}

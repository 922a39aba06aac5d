//! Properties of negotiation and host matching, checked against the library directly (no
//! HTTP) on generated inputs. The table and the reference rules are the fuzz targets'
//! (`fuzz/fuzz_targets/common`), so that both check the same claims; `fuzz/run.sh` explores
//! further, these run on every test run.

use flexroute::resolve::{self, Inputs, LanguageRule, SiteRule};
use flexroute::table::Site;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;

#[path = "../../fuzz/fuzz_targets/common/mod.rs"]
mod reference;

use reference::{FIXTURE, best_claim, covers, tag_key};

/// Cases set per property, enough to cover the table's shapes while all six take about two
/// seconds; failures are reported with their shrunk input rather than persisted.
fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn sites() -> impl Iterator<Item = &'static Site> {
    FIXTURE.table.sites.iter()
}

fn all_tags() -> Vec<String> {
    FIXTURE.languages.iter().flatten().cloned().collect()
}

/// The language `Accept-Language` resolves to for `site` (falling back to the default).
fn resolve_language(site: &Site, header: &str) -> (usize, LanguageRule) {
    let inputs = Inputs {
        site: Some(&site.id),
        accept_language: Some(header),
        ..Inputs::default()
    };
    let decision = resolve::resolve(&FIXTURE.table, &inputs).expect("known id");
    (decision.language, decision.language_rule)
}

fn is_site_language(site: &Site, index: usize) -> bool {
    let at = FIXTURE.table.site_by_id(&site.id).unwrap();
    FIXTURE.languages[at]
        .iter()
        .any(|t| t == &**site.languages.tag(index))
}

/// `raw` in any ASCII case.
fn recased(raw: String) -> impl Strategy<Value = String> {
    any::<u64>().prop_map(move |case| {
        raw.chars()
            .enumerate()
            .map(|(i, c)| match case >> (i % 64) & 1 {
                1 => c.to_ascii_uppercase(),
                _ => c.to_ascii_lowercase(),
            })
            .collect()
    })
}

/// A tag as a visitor may write it: any case, `_` for `-`.
fn respelled(tag: String) -> impl Strategy<Value = String> {
    (recased(tag), any::<bool>()).prop_map(|(tag, underscore)| match underscore {
        true => tag.replace('-', "_"),
        false => tag,
    })
}

/// A language range: a configured tag, one of its prefixes, a made-up tag, or `*`.
fn range() -> impl Strategy<Value = String> {
    let tags = all_tags();
    let prefixes: Vec<String> = tags
        .iter()
        .flat_map(|t| t.match_indices('-').map(|(end, _)| t[..end].to_string()))
        .collect();
    prop_oneof![
        4 => select(tags).prop_flat_map(respelled),
        2 => select(prefixes).prop_flat_map(respelled),
        2 => "[a-z]{2,3}(-[A-Za-z]{2}|-[0-9]{3}|-[A-Za-z]{4}){0,2}",
        1 => Just("*".to_string()),
    ]
}

/// A weight in thousandths, or none (1000); refusals are common so their rules get exercised.
fn quality() -> impl Strategy<Value = Option<u16>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(0)),
        3 => (1..=1000u16).prop_map(Some),
    ]
}

fn header(entries: &[(String, Option<u16>)]) -> String {
    let written: Vec<String> = entries
        .iter()
        .map(|(range, q)| match q {
            None => range.clone(),
            Some(1000) => format!("{range};q=1"),
            Some(q) => format!("{range};q=0.{q:03}"),
        })
        .collect();
    written.join(", ")
}

fn weight(q: Option<u16>) -> u16 {
    q.unwrap_or(1000)
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn any_header_resolves_to_one_of_the_sites_languages(
        header in prop_oneof![any::<String>(), "[a-zA-Z0-9_*;=,. \t-]{0,60}"],
    ) {
        for site in sites() {
            let (language, _) = resolve_language(site, &header);
            prop_assert!(is_site_language(site, language));
            if let Some((m, _)) = resolve::negotiate(site, &header) {
                prop_assert!(is_site_language(site, m.index));
            }
        }
    }
}

proptest! {
    #![proptest_config(config(2000))]

    /// Against a model of the README's rules: a refused language is chosen only through a
    /// request more specific than every refusal covering it; the winner has the highest weight
    /// among entries that name an acceptable language exactly (or `*` with one left); and
    /// whenever such an entry exists, negotiation does not fall back to the default.
    #[test]
    fn structured_headers_honour_weights_and_refusals(
        entries in prop::collection::vec((range(), quality()), 0..10),
    ) {
        let header = header(&entries);
        let refusals: Vec<&str> = entries
            .iter()
            .filter(|(r, q)| *q == Some(0) && r != "*")
            .map(|(r, _)| r.as_str())
            .collect();
        for site in sites() {
            let tags = site.languages.tags();
            let refused = |tag: &str, requested_len: usize| {
                refusals
                    .iter()
                    .any(|r| covers(r, tag) && r.len() >= requested_len)
            };
            // The best weight of an entry that certainly reaches something acceptable.
            let acceptable = entries
                .iter()
                .filter(|(_, q)| *q != Some(0))
                .filter(|(range, _)| {
                    if range == "*" {
                        tags.iter().any(|t| !refused(t, 0))
                    } else {
                        tags.iter().any(|t| {
                            tag_key(t) == tag_key(range) && !refused(t, range.len())
                        })
                    }
                })
                .map(|(_, q)| weight(*q))
                .max();
            let found = resolve::negotiate(site, &header);
            let (language, rule) = resolve_language(site, &header);
            prop_assert!(is_site_language(site, language));
            let Some((m, matched)) = found else {
                prop_assert_eq!(acceptable, None, "{} found nothing in {:?}", &site.id, header);
                prop_assert_eq!(rule, LanguageRule::Default);
                continue;
            };
            prop_assert_eq!((m.index, rule), (language, LanguageRule::AcceptLanguage));
            let chosen = site.languages.tag(m.index);
            let requested_len = if matched == "*" { 0 } else { matched.len() };
            prop_assert!(
                !refused(chosen, requested_len),
                "{} chose {} through {:?} despite a refusal in {:?}",
                &site.id, chosen, matched, header
            );
            let won = entries
                .iter()
                .filter(|(r, q)| *q != Some(0) && r == matched)
                .map(|(_, q)| weight(*q))
                .max()
                .expect("the winner is an entry");
            prop_assert!(
                acceptable.is_none_or(|best| won >= best),
                "{} chose {:?} (q={}) over an acceptable q={:?} in {:?}",
                &site.id, matched, won, acceptable, header
            );
        }
    }
}

proptest! {
    #![proptest_config(config(500))]

    /// Refusing some of a site's languages by name and accepting anything else never lands on
    /// a refused one while one is left, default included.
    #[test]
    fn refusals_with_a_wildcard_leave_the_rest(
        site in 0..FIXTURE.table.sites.len(),
        refused in prop::collection::vec(any::<prop::sample::Index>(), 1..4),
        star_q in 1..=1000u16,
    ) {
        let site = &FIXTURE.table.sites[site];
        let tags = site.languages.tags();
        let refused: Vec<&str> = refused.iter().map(|i| &*tags[i.index(tags.len())]).collect();
        let mut entries: Vec<(String, Option<u16>)> =
            refused.iter().map(|t| (t.to_string(), Some(0))).collect();
        entries.push(("*".to_string(), Some(star_q)));
        let header = header(&entries);
        let is_refused = |tag: &str| refused.iter().any(|r| covers(r, tag));
        let (language, _) = resolve_language(site, &header);
        if tags.iter().any(|t| !is_refused(t)) {
            let chosen = site.languages.tag(language);
            prop_assert!(!is_refused(chosen), "{} for {:?}", chosen, header);
        }
    }

    /// `en;q=0, en-US` still gets `en-US`: naming a language beats refusing its prefix.
    #[test]
    fn a_specific_request_beats_a_broader_refusal(
        tag in select(all_tags().into_iter().filter(|t| t.contains('-')).collect::<Vec<_>>()),
        cut in any::<prop::sample::Index>(),
        q in 1..=1000u16,
    ) {
        let prefixes: Vec<&str> = tag.match_indices('-').map(|(end, _)| &tag[..end]).collect();
        let prefix = prefixes[cut.index(prefixes.len())];
        let header = header(&[(prefix.to_string(), Some(0)), (tag.clone(), Some(q))]);
        for site in sites().filter(|s| s.languages.position(&tag).is_some()) {
            let (language, rule) = resolve_language(site, &header);
            prop_assert_eq!(rule, LanguageRule::AcceptLanguage);
            prop_assert_eq!(&**site.languages.tag(language), tag.as_str(), "for {:?}", header);
        }
    }
}

/// A request host a site's pattern claims: the name itself, or any subdomain under a wildcard;
/// in any case, with or without a trailing dot and a port.
fn claimed_host() -> impl Strategy<Value = String> {
    let patterns: Vec<String> = FIXTURE.hosts.iter().flatten().cloned().collect();
    (
        select(patterns),
        prop::collection::vec("[a-z0-9][a-z0-9-]{0,8}", 1..3),
    )
        .prop_map(|(pattern, labels)| {
            let name = pattern.trim_end_matches('.');
            match name.strip_prefix("*.") {
                Some(suffix) => format!("{}.{suffix}", labels.join(".")),
                None => name.to_string(),
            }
        })
        .prop_flat_map(respelled_host)
}

fn respelled_host(host: String) -> impl Strategy<Value = String> {
    (recased(host), any::<bool>(), prop::option::of(1..=65535u32)).prop_map(|(host, dot, port)| {
        let dot = if dot { "." } else { "" };
        match port {
            Some(port) => format!("{host}{dot}:{port}"),
            None => format!("{host}{dot}"),
        }
    })
}

/// Hosts near the configured ones: labels from them and from elsewhere, in any order.
fn nearby_host() -> impl Strategy<Value = String> {
    let mut labels: Vec<String> = FIXTURE
        .hosts
        .iter()
        .flatten()
        .flat_map(|p| p.split('.').map(str::to_string).collect::<Vec<_>>())
        .filter(|l| !l.is_empty())
        .collect();
    labels.extend(["com", "example", "www", "", "acme-example"].map(String::from));
    prop_oneof![
        3 => prop::collection::vec(select(labels), 1..5).prop_map(|l| l.join(".")),
        1 => "[a-z0-9.:\\[\\]-]{0,30}",
        1 => any::<String>(),
    ]
    .prop_flat_map(respelled_host)
}

proptest! {
    #![proptest_config(config(2000))]

    /// A host a site claims is found, for that site (or one claiming it more specifically),
    /// by every header and parameter that carries a host.
    #[test]
    fn a_claimed_host_is_found(host in claimed_host()) {
        let (site, _) = best_claim(&FIXTURE.hosts, &host).expect("the pattern claims it");
        prop_assert_eq!(FIXTURE.table.site_by_host(&host), Some(site));
        let url = format!("https://user@{host}/de/page?x#y");
        for (inputs, rule) in [
            (Inputs { host: Some(&host), ..Inputs::default() }, SiteRule::Host),
            (Inputs { origin: Some(&url), ..Inputs::default() }, SiteRule::Origin),
            (Inputs { page: Some(&url), ..Inputs::default() }, SiteRule::Page),
            (Inputs { referer: Some(&url), ..Inputs::default() }, SiteRule::Referer),
        ] {
            let decision = resolve::resolve(&FIXTURE.table, &inputs);
            prop_assert_eq!(decision.map(|d| (d.site, d.site_rule)), Ok((site, rule)));
        }
    }

    /// Any other host gives the site that claims it under the README's rules, or none.
    #[test]
    fn an_unclaimed_host_finds_no_site(host in nearby_host()) {
        let expected = best_claim(&FIXTURE.hosts, &host).map(|(site, _)| site);
        prop_assert_eq!(FIXTURE.table.site_by_host(&host), expected, "for {:?}", host);
    }
}

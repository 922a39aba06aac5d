//! Site resolution: the input is `Host`, then (one per line, each optional) `Origin`,
//! `Referer`, the `page` URL and the `site` parameter. Never panics; a site is returned only
//! when it claims the deciding host (exact, or a wildcard over a subdomain) more specifically
//! than any other site, and none is returned when no site claims any of them. The page-path
//! language rule only takes a segment shaped like a language, and stays within its language.
#![no_main]

mod common;

use common::{FIXTURE, best_claim, borrows_from, fields, language_shaped, primary, tag_key};
use flexroute::resolve::{self, Inputs, LanguageRule, SiteRule, UnknownSite};
use flexroute::lookup::hosts::url_host;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [host, origin, referer, page, site] = fields::<5>(data);
    let site = site.filter(|s| !s.is_empty()); // blank parameters count as absent
    let inputs = Inputs {
        site: site.as_deref(),
        page: page.as_deref(),
        origin: origin.as_deref(),
        referer: referer.as_deref(),
        host: host.as_deref(),
        ..Inputs::default()
    };
    let table = &FIXTURE.table;
    let result = resolve::resolve(table, &inputs);
    if let Some(id) = inputs.site {
        let by_id = table.sites.iter().position(|s| &*s.id == id);
        match result {
            Ok(d) => assert_eq!((Some(d.site), d.site_rule), (by_id, SiteRule::Parameter)),
            Err(e) => assert_eq!((by_id, e), (None, UnknownSite { explicit: true })),
        }
    } else {
        let candidates = [
            (inputs.origin.and_then(checked_url_host), SiteRule::Origin),
            (inputs.page.and_then(checked_url_host), SiteRule::Page),
            (inputs.referer.and_then(checked_url_host), SiteRule::Referer),
            (inputs.host, SiteRule::Host),
        ];
        let expected = candidates.iter().find_map(|(host, rule)| {
            let host = (*host)?;
            best_claim(&FIXTURE.hosts, host).map(|(site, _)| (site, *rule, host))
        });
        match (result, expected) {
            (Ok(d), Some((site, rule, _))) => assert_eq!(
                (d.site, d.site_rule),
                (site, rule),
                "the wrong site or rule for {candidates:?}"
            ),
            (Ok(d), None) => panic!(
                "{} by {} although no site claims any of {candidates:?}",
                table.sites[d.site].id, d.site_rule
            ),
            (Err(e), Some((site, rule, host))) => panic!(
                "{e:?}, but {} claims the {rule} {host:?}",
                table.sites[site].id
            ),
            (Err(e), None) => assert!(!e.explicit),
        }
    }
    let Ok(decision) = result else { return };
    let site = &table.sites[decision.site];
    if decision.language_rule == LanguageRule::PathPrefix {
        assert!(site.path_language);
        let segment = decision.matched.expect("a path rule names its segment");
        let url = inputs
            .page
            .or(inputs.referer)
            .expect("a path came from somewhere");
        assert!(borrows_from(segment, url));
        assert!(!segment.is_empty() && !segment.contains(['/', '?', '#']));
        let chosen = site.languages.tag(decision.language);
        assert!(
            language_shaped(segment) || tag_key(segment) == tag_key(chosen),
            "/{segment}/ is not a language prefix, yet chose {chosen}"
        );
        assert_eq!(primary(segment), primary(chosen));
    } else {
        assert_eq!(decision.language_rule, LanguageRule::Default);
        assert_eq!(decision.language, site.languages.default_index());
    }
    let url_read = inputs.page.is_none() && site.path_language;
    let site_read = matches!(decision.site_rule, SiteRule::Referer | SiteRule::Host);
    assert_eq!(
        decision.used_referer,
        inputs.referer.is_some() && (url_read || site_read)
    );
});

/// The library's URL host, checked: a non-empty slice of an absolute URL's authority, without
/// user info, path, query or fragment.
fn checked_url_host(url: &str) -> Option<&str> {
    let host = url_host(url)?;
    assert!(url.contains("://") && borrows_from(host, url));
    assert!(!host.is_empty() && !host.contains(['/', '?', '#', '@']));
    Some(host)
}

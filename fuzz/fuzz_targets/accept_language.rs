//! Language negotiation: the input is `Accept-Language`, then (one per line, each optional)
//! `Cookie`, the `lang` parameter and the `page` URL, resolved for every site of a fixed table.
//! Never panics; the language chosen is always one of the site's; a `q=0` refusal is never
//! overridden except by a request more specific than it; the weight and header order rules hold.
#![no_main]

mod common;

use common::{FIXTURE, borrows_from, covers, fields, primary, tag_key};
use flexroute::resolve::accept_language::{self, Entry};
use flexroute::resolve::{self, Inputs, LanguageRule};
use flexroute::table::Site;
use flexroute::lookup::languages::Exclusions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [accept_language, cookie, lang, page] = fields::<4>(data);
    let accept_language = accept_language.unwrap_or_default();
    check_parser(&accept_language);
    let table = &FIXTURE.table;
    for (index, site) in table.sites.iter().enumerate() {
        check_negotiation(site, &accept_language);
        let inputs = Inputs {
            site: Some(&site.id),
            lang: lang.as_deref(),
            page: page.as_deref(),
            cookie: cookie.as_deref(),
            accept_language: Some(&accept_language),
            ..Inputs::default()
        };
        let decision = resolve::resolve(table, &inputs).expect("the site is named by id");
        assert_eq!(decision.site, index);
        let chosen = site.languages.tag(decision.language);
        assert!(
            FIXTURE.languages[index].iter().any(|t| t == &**chosen),
            "{chosen} is not one of {}'s languages",
            site.id
        );
        assert_eq!(&*site.pairs[decision.language].language, &**chosen);
        let Some(matched) = decision.matched else {
            assert_eq!(decision.language_rule, LanguageRule::Default);
            assert_eq!(decision.language, site.languages.default_index());
            continue;
        };
        let source = match decision.language_rule {
            LanguageRule::Parameter => lang.as_deref(),
            LanguageRule::PathPrefix => page.as_deref(),
            LanguageRule::Cookie => cookie.as_deref(),
            LanguageRule::AcceptLanguage => Some(&*accept_language),
            LanguageRule::Default => panic!("the default rule matches nothing"),
        };
        assert!(
            source.is_some_and(|s| borrows_from(matched, s)),
            "{matched:?} is not from the {} input",
            decision.language_rule
        );
        if matched != "*" {
            assert_eq!(
                primary(matched),
                primary(chosen),
                "fallback left the language"
            );
        }
        if !decision.fallback {
            assert_eq!(
                tag_key(matched),
                tag_key(chosen),
                "exact match names another tag"
            );
        }
        let exact = site.languages.position(matched);
        if decision.language_rule != LanguageRule::AcceptLanguage && exact.is_some() {
            assert_eq!(exact, Some(decision.language), "a tag named exactly loses");
            assert!(!decision.fallback);
        }
    }
});

/// Entries are slices of the header, with weights in range, and read back the same.
fn check_parser(header: &str) {
    let bounded = accept_language::bounded(header);
    assert!(bounded.len() <= accept_language::MAX_HEADER_BYTES);
    assert!(header.starts_with(bounded));
    for Entry { range, quality } in accept_language::entries(bounded) {
        assert!(borrows_from(range, bounded));
        assert!(!range.is_empty() && !range.contains([',', ';', ' ']));
        assert!(quality <= 1000);
        let again = format!("{range};q={}.{:03}", quality / 1000, quality % 1000);
        let reparsed: Vec<Entry> = accept_language::entries(&again).collect();
        assert_eq!(reparsed, [Entry { range, quality }]);
    }
}

/// `negotiate` against the header's own entries: the winner has the highest weight any
/// acceptable entry has, comes first among equals, and no refusal at least as specific as the
/// entry that chose it covers it.
fn check_negotiation(site: &Site, header: &str) {
    let Some((m, matched)) = resolve::negotiate(site, header) else {
        return;
    };
    let chosen = site.languages.tag(m.index);
    let header = accept_language::bounded(header);
    let entries: Vec<Entry> = accept_language::entries(header).collect();
    let refusals: Vec<&str> = entries
        .iter()
        .filter(|e| e.quality == 0 && e.range != "*")
        .map(|e| e.range)
        .take(16) // the refusals `Exclusions` keeps; a browser sends a handful
        .collect();
    for refusal in &refusals {
        assert!(
            !covers(refusal, chosen) || (matched != "*" && refusal.len() < matched.len()),
            "{chosen} chosen through {matched:?} despite the refusal {refusal:?}"
        );
    }
    let winner = entries
        .iter()
        .position(|e| std::ptr::eq(e.range, matched))
        .expect("the winner is one of the entries");
    let quality = entries[winner].quality;
    assert!(quality > 0, "a refused range was chosen");
    let mut excluded = Exclusions::default();
    for refusal in refusals {
        excluded.push(refusal);
    }
    for (i, entry) in entries.iter().enumerate() {
        let better = entry.quality > quality || (entry.quality == quality && i < winner);
        if !better || entry.quality == 0 {
            continue;
        }
        let acceptable = if entry.range == "*" {
            site.languages.any(&excluded).is_some()
        } else {
            site.languages.match_tag(entry.range, &excluded).is_some()
        };
        assert!(
            !acceptable,
            "{:?} (q={}) should have won over {matched:?}",
            entry.range, entry.quality
        );
    }
}

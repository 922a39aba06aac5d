//! The configuration pipeline on arbitrary text: TOML parse, environment overlay, unknown-key
//! walk, typed sections, validation, and for a valid file the routing table. Never panics;
//! the outcome is a usable table or at least one problem; a valid table answers for every
//! site, language and host it was built from.
#![no_main]

mod common;

use std::sync::LazyLock;

use common::best_claim;
use flexroute::config::{Config, ConfigError, Environment};
use flexroute::resolve::{self, Inputs, LanguageRule, SiteRule};
use flexroute::table::RoutingTable;
use flexroute::lookup::languages::canonical_tag;
use libfuzzer_sys::fuzz_target;

/// Overrides of known and unknown keys, so that the overlay runs too.
static ENVIRONMENT: LazyLock<Environment> = LazyLock::new(|| {
    Environment::from_pairs([
        ("FLEXROUTE_SERVER_CACHE_MAX_ENTRIES", "7"),
        (
            "FLEXROUTE_DEFAULTS_WIDGET",
            "{ theme = { isLight = false } }",
        ),
        ("FLEXROUTE_PROVISIONING_NOPE", "1"),
        ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
    ])
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let empty = Environment::default();
    for env in [&empty, &*ENVIRONMENT] {
        match Config::from_toml_str(&text, env) {
            Ok(loaded) => check_table(&loaded.config),
            Err(error) => {
                if let ConfigError::Invalid { problems, .. } = &error {
                    assert!(!problems.is_empty(), "invalid without a problem");
                }
                assert!(!error.problems().is_empty());
                let _ = error.to_string();
            }
        }
    }
});

fn check_table(config: &Config) {
    let table = RoutingTable::build(config);
    assert_eq!(table.sites.len(), config.sites.len());
    let hosts: Vec<Vec<String>> = config.sites.iter().map(|s| s.hosts.clone()).collect();
    for (index, (site, built)) in config.sites.iter().zip(&table.sites).enumerate() {
        assert_eq!(table.site_by_id(&site.id), Some(index));
        assert_eq!(built.languages.tags().len(), site.languages.len());
        for tag in &site.languages {
            let canonical = canonical_tag(tag).expect("validated");
            assert!(
                table.pair(&site.id, &canonical).is_some(),
                "{tag} has no pair"
            );
        }
        let inputs = Inputs {
            site: Some(&site.id),
            ..Inputs::default()
        };
        let decision = resolve::resolve(&table, &inputs).expect("known id");
        assert_eq!(decision.language_rule, LanguageRule::Default);
        let default = built.languages.tag(decision.language);
        assert_eq!(**default, canonical_tag(&site.default_language).unwrap());
        for host in &site.hosts {
            // A configured name as a request sends it (`*.x` as one of its subdomains).
            let request = host.replace('*', "any");
            let (claimer, _) = best_claim(&hosts, &request).expect("a configured host is claimed");
            let inputs = Inputs {
                host: Some(&request),
                ..Inputs::default()
            };
            let decision = resolve::resolve(&table, &inputs).expect("a configured host resolves");
            assert_eq!(
                (decision.site, decision.site_rule),
                (claimer, SiteRule::Host)
            );
        }
    }
}

//! Micro-benchmarks for the per-request decision (issue 5, point 3): language negotiation,
//! site matching and the whole `resolve`, on a 10-pair and a 100,000-pair table, plus how long
//! the 100k table takes to load. Run with `cargo bench --bench resolve`.
//!
//! The load benchmark (`benches/load.sh`) answers "is the server fast"; these answer "which
//! step got slower" when it is not. Every request-path benchmark should stay flat between the
//! two table sizes (hash probes, not scans) and allocate nothing: the allocation columns are
//! part of the result, so the profiler below is on for every benchmark.

use std::sync::LazyLock;

use divan::{Bencher, black_box};
use flexroute::config::{Config, Environment};
use flexroute::lookup::languages::Exclusions;
use flexroute::resolve::{Inputs, accept_language};
use flexroute::table::{RoutingTable, Site};

// Counts allocations per iteration; costs a few ns per allocation, nothing on alloc-free paths.
#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

// Request-path benchmarks run a fixed 1000 iterations per sample: divan's auto-tuning stops at
// one iteration when its first (cold) sample is slow, and then the 20 ns timer dominates.

/// Languages in the shapes the matcher treats differently: language-region, a script subtag
/// (`zh-Hant-TW`, reached from `zh-TW` through a script-less alias).
const LANGUAGES: [&str; 6] = ["en-US", "es-MX", "fr-CA", "de-DE", "pt-BR", "zh-Hant-TW"];

/// The table sizes issue 5 compares: 2 sites × 5 languages, and 25,000 sites × 4 languages.
const SIZES: [usize; 2] = [10, 100_000];

/// A valid config of `sites` sites, each with an exact host `siteN.example`, a wildcard
/// `*.siteN.example`, a language cookie, and every language pinned to a Flex Flow SID derived
/// from the pair's index (so nothing is provisioned and every SID is distinct).
fn config_toml(sites: usize, languages: &[&str]) -> String {
    let mut toml = String::from(
        "[twilio]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\n\n\
         [provisioning]\nenabled = false\n",
    );
    for site in 0..sites {
        let list = languages
            .iter()
            .map(|l| format!("\"{l}\""))
            .collect::<Vec<_>>();
        toml += &format!(
            "\n[[sites]]\nid = \"site{site}\"\nhosts = [\"site{site}.example\", \"*.site{site}.example\"]\n\
             allowed_origins = [\"https://site{site}.example\"]\nlanguage_cookie = \"locale\"\n\
             default_language = \"{}\"\nlanguages = [{}]\n",
            languages[0],
            list.join(", "),
        );
        for (i, language) in languages.iter().enumerate() {
            let pair = site * languages.len() + i;
            toml += &format!("[sites.language.{language}]\nflex_flow_sid = \"FO{pair:032x}\"\n");
        }
    }
    toml
}

fn load(toml: &str) -> Config {
    match Config::from_toml_str(toml, &Environment::default()) {
        Ok(loaded) => loaded.config,
        Err(e) => panic!("generated config is invalid: {e}"),
    }
}

// Built once, on first use, outside every measured closure.
static LARGE_TOML: LazyLock<String> = LazyLock::new(|| config_toml(25_000, &LANGUAGES[..4]));
static LARGE_CONFIG: LazyLock<Config> = LazyLock::new(|| load(&LARGE_TOML));
static LARGE: LazyLock<RoutingTable> = LazyLock::new(|| RoutingTable::build(&LARGE_CONFIG));
static SMALL: LazyLock<RoutingTable> =
    LazyLock::new(|| RoutingTable::build(&load(&config_toml(2, &LANGUAGES[..5]))));
/// One site with all six languages, for negotiation and tag matching.
static SIX: LazyLock<RoutingTable> =
    LazyLock::new(|| RoutingTable::build(&load(&config_toml(1, &LANGUAGES))));

fn table<const PAIRS: usize>() -> &'static RoutingTable {
    let table: &RoutingTable = match PAIRS {
        10 => &SMALL,
        100_000 => &LARGE,
        _ => unreachable!("no table of {PAIRS} pairs"),
    };
    assert_eq!(
        table.summary().pairs,
        PAIRS,
        "the name must say the table's size"
    );
    table
}

/// The site id a lookup reached, so each benchmark checks its answer before timing it: a
/// change that breaks matching must fail here, not show up as a faster number.
fn site_id(table: &RoutingTable, index: Option<usize>) -> Option<&str> {
    index.map(|i| &*table.sites[i].id)
}

fn six_languages() -> &'static Site {
    &SIX.sites[0]
}

/// A hostile header: ~4 KB of well-formed ranges that match nothing, all with q < 1, so each
/// goes through the subtag fallback. `bounded` reads up to 16 KB, about 4x this much work.
static JUNK_4K: LazyLock<String> = LazyLock::new(|| {
    let mut header = String::new();
    for i in 0.. {
        if header.len() >= 4096 {
            break;
        }
        header += &format!("x{:02}-Y{:02}-abcd;q=0.{},", i % 100, i % 97, 1 + i % 9);
    }
    header
});

const CHROME: &str = "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7";

/// Accept-Language shapes by name (divan prints the argument, and 4 KB is not a name), with
/// the language each must reach.
fn header(name: &str) -> (&'static str, Option<&'static str>) {
    match name {
        "exact" => ("en-US", Some("en-US")),
        "chrome" => (CHROME, Some("de-DE")),
        // No es-AR here: falls back through `es` to es-MX.
        "fallback" => ("es-AR,es;q=0.9", Some("es-MX")),
        // it-IT matches nothing; `*` would be the default en-US, but `en;q=0` refuses it.
        "exclusions_star" => ("it-IT,en;q=0,fr-CA;q=0,*;q=0.1", Some("es-MX")),
        "no_match" => ("ja-JP,ja;q=0.9,ko;q=0.8", None),
        _ => unreachable!("no header named {name}"),
    }
}

#[divan::bench_group(sample_size = 1000)]
mod negotiate {
    use super::*;

    fn negotiate(bencher: Bencher, (header, expected): (&str, Option<&str>)) {
        let site = six_languages();
        let reached = flexroute::resolve::negotiate(site, header).map(|(m, _)| m.index);
        assert_eq!(reached.map(|i| &**site.languages.tag(i)), expected);
        bencher.bench(|| {
            flexroute::resolve::negotiate(black_box(site), black_box(header)).map(|(m, _)| m)
        });
    }

    #[divan::bench(args = ["exact", "chrome", "fallback", "exclusions_star", "no_match"])]
    fn headers(bencher: Bencher, name: &str) {
        negotiate(bencher, header(name));
    }

    /// Hundreds of times a browser header's cost: fewer iterations per sample.
    #[divan::bench(sample_size = 10)]
    fn junk_4k(bencher: Bencher) {
        negotiate(bencher, (&JUNK_4K, None));
    }

    /// The parse alone, to tell parsing from matching when `chrome` moves.
    #[divan::bench]
    fn entries_parse_chrome() {
        for entry in accept_language::entries(black_box(CHROME)) {
            black_box(entry);
        }
    }
}

/// One requested tag against the six languages: exact, case/underscore variant, subtag
/// fallback, script-less alias (`zh-TW` → `zh-Hant-TW`), no match.
#[divan::bench(args = ["en-US", "EN_us", "es-AR", "zh-TW", "ja-JP"], sample_size = 1000)]
fn match_tag(bencher: Bencher, tag: &str) {
    let (languages, none) = (&six_languages().languages, Exclusions::default());
    bencher.bench(|| languages.match_tag(black_box(tag), &none));
}

/// Host lookups: one hash probe for an exact name, one more per label stripped for wildcards.
#[divan::bench_group(sample_size = 1000)]
mod site_by_host {
    use super::*;

    fn lookup<const PAIRS: usize>(bencher: Bencher, host: &str, expected: Option<&str>) {
        let table = table::<PAIRS>();
        assert_eq!(site_id(table, table.site_by_host(host)), expected);
        bencher.bench(|| table.site_by_host(black_box(host)));
    }

    #[divan::bench(consts = SIZES)]
    fn exact<const PAIRS: usize>(bencher: Bencher) {
        lookup::<PAIRS>(bencher, "site1.example", Some("site1"));
    }

    #[divan::bench(consts = SIZES)]
    fn wildcard_1_level<const PAIRS: usize>(bencher: Bencher) {
        lookup::<PAIRS>(bencher, "shop.site1.example", Some("site1"));
    }

    #[divan::bench(consts = SIZES)]
    fn wildcard_2_levels<const PAIRS: usize>(bencher: Bencher) {
        lookup::<PAIRS>(bencher, "eu.shop.site1.example:443", Some("site1"));
    }

    /// Misses probe every suffix: the most work a host can cost.
    #[divan::bench(consts = SIZES)]
    fn miss<const PAIRS: usize>(bencher: Bencher) {
        lookup::<PAIRS>(bencher, "eu.shop.nowhere.example", None);
    }

    /// Exact hits spread over every site, as real traffic is: one host repeated stays in
    /// cache, so only this shows what the 100k table's size costs in cache misses.
    #[divan::bench(consts = SIZES)]
    fn exact_any_site<const PAIRS: usize>(bencher: Bencher) {
        let (table, mut next) = (table::<PAIRS>(), 0usize);
        bencher
            .with_inputs(|| {
                next = (next + 7919) % table.sites.len(); // a prime stride: not sequential
                format!("site{next}.example")
            })
            .bench_local_refs(|host| table.site_by_host(black_box(host)));
    }

    #[divan::bench(consts = SIZES)]
    fn by_id<const PAIRS: usize>(bencher: Bencher) {
        let table = table::<PAIRS>();
        assert_eq!(site_id(table, table.site_by_id("site1")), Some("site1"));
        bencher.bench(|| table.site_by_id(black_box("site1")));
    }
}

/// The whole decision for one request, as the handler calls it.
#[divan::bench_group(sample_size = 1000)]
mod resolve {
    use super::*;

    fn decide<const PAIRS: usize>(bencher: Bencher, inputs: Inputs<'static>, language: &str) {
        let table = table::<PAIRS>();
        let decision = flexroute::resolve::resolve(table, &inputs).expect("site1 is known");
        let site = &table.sites[decision.site];
        assert_eq!(
            (&*site.id, &**site.languages.tag(decision.language)),
            ("site1", language)
        );
        bencher.bench(|| {
            flexroute::resolve::resolve(black_box(table), black_box(&inputs))
                .map(|d| (d.site, d.language))
        });
    }

    /// Widget snippet with `?site=`, browser sends Accept-Language: an id probe, then negotiation.
    #[divan::bench(consts = SIZES)]
    fn site_param<const PAIRS: usize>(bencher: Bencher) {
        let inputs = Inputs {
            site: Some("site1"),
            accept_language: Some(CHROME),
            ..Inputs::default()
        };
        decide::<PAIRS>(bencher, inputs, "de-DE");
    }

    /// No parameters: the site comes from Origin (a wildcard host), the cookie jar has no
    /// `locale`, so every rule runs before Accept-Language decides (es-AR → es-MX).
    #[divan::bench(consts = SIZES)]
    fn origin_cookie_accept_language<const PAIRS: usize>(bencher: Bencher) {
        let inputs = Inputs {
            origin: Some("https://www.site1.example"),
            host: Some("chat.flexroute.example"),
            cookie: Some("_ga=GA1.2.1234567890.1700000000; session=abc123; consent=yes"),
            accept_language: Some("es-AR,es;q=0.9,en;q=0.8"),
            ..Inputs::default()
        };
        decide::<PAIRS>(bencher, inputs, "es-MX");
    }
}

/// Config load of the 100k table, split in its two steps; issue 5 wants the sum under 1 s.
/// Ten single runs each: enough for a median, short enough to run by default.
#[divan::bench_group(sample_count = 10, sample_size = 1)]
mod build_table {
    use super::*;

    /// TOML parse, environment overlay and validation (`Config::from_toml_str`).
    #[divan::bench]
    fn from_toml_str_100k(bencher: Bencher) {
        let (text, env) = (LARGE_TOML.as_str(), Environment::default());
        bencher.bench(|| Config::from_toml_str(black_box(text), &env));
    }

    /// Compiling the validated config into indexes and merged widgets (`RoutingTable::build`).
    #[divan::bench]
    fn routing_table_100k(bencher: Bencher) {
        let config = &*LARGE_CONFIG;
        bencher.bench(|| RoutingTable::build(black_box(config)));
    }
}

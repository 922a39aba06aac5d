//! The memo decides as `query::decide` does, and keeps what it should.

use http::Request;

use super::*;
use crate::config::{Config, Environment};

const TABLE: &str = r#"
[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
[provisioning]
enabled = false
[[sites]]
id = "acme"
hosts = ["acme.example", "*.acme.example"]
default_language = "en-US"
languages = ["en-US", "es-MX", "fr-CA"]
path_language = true
language_cookie = "locale"
[sites.language."en-US"]
flex_flow_sid = "FO0123456789abcdef0123456789abcdef"
[sites.language."es-MX"]
flex_flow_sid = "FO0123456789abcdef0123456789abcdee"
[sites.language."fr-CA"]
flex_flow_sid = "FO0123456789abcdef0123456789abcded"
[[sites]]
id = "globex"
hosts = ["globex.example"]
default_language = "de-DE"
languages = ["de-DE", "fr-FR"]
language_cookie = "lang"
[sites.language."de-DE"]
flex_flow_sid = "FO0123456789abcdef0123456789abcdec"
[sites.language."fr-FR"]
flex_flow_sid = "FO0123456789abcdef0123456789abcdeb"
"#;

fn new_table() -> Arc<RoutingTable> {
    let config = Config::from_toml_str(TABLE, &Environment::default())
        .unwrap()
        .config;
    Arc::new(RoutingTable::build(&config))
}

/// A request's headers, as (name, raw value).
type Headers<'a> = Vec<(&'a str, &'a [u8])>;

fn request(uri: &str, headers: &[(&str, &[u8])]) -> http::request::Parts {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(()).unwrap().into_parts().0
}

fn outcome(decided: &Result<Decided, ApiError>) -> String {
    match decided {
        Ok(d) => format!(
            "{} {} {:?} {:?} {}",
            d.site, d.language, d.site_rule, d.language_rule, d.used_referer
        ),
        Err(e) => format!("error {:?}", e.code),
    }
}

#[test]
fn remembered_decisions_are_what_decide_decides() {
    let table = new_table();
    let browser: &[(&str, &[u8])] = &[
        ("host", b"api.example"),
        ("origin", b"https://shop.acme.example"),
        ("referer", b"https://shop.acme.example/products/x?color=red"),
        ("accept-language", b"es-AR,es;q=0.9,en-US;q=0.8,en;q=0.7"),
        ("cookie", b"_ga=GA1.1.1; cart=3f; session_id=7b"),
    ];
    let cases: Vec<(&str, Headers)> = vec![
        ("/v1/webchat/config", browser.to_vec()),
        ("/v1/webchat/config?site=acme&lang=es-MX", browser.to_vec()),
        ("/v1/webchat/config?site=nope", browser.to_vec()),
        ("/v1/webchat/config?site=globex", browser.to_vec()),
        ("/v1/webchat/config", vec![("host", b"acme.example")]),
        ("/v1/webchat/config", vec![("host", b"nowhere.example")]),
        ("/v1/webchat/config", vec![]),
        (
            "http://globex.example/v1/webchat/config",
            vec![("host", b"acme.example")],
        ),
        (
            "/v1/webchat/config",
            vec![
                ("host", b"x"),
                ("referer", b"https://acme.example/fr-ca/cart"),
            ],
        ),
        (
            "/v1/webchat/config",
            vec![
                ("host", b"x"),
                ("referer", b"https://acme.example/fr-ca?q=1"),
            ],
        ),
        (
            "/v1/webchat/config",
            vec![
                ("host", b"x"),
                ("referer", b"https://acme.example/de-luxe/x"),
            ],
        ),
        (
            "/v1/webchat/config",
            vec![("host", b"x"), ("referer", b"https://acme.example?x=/fr/")],
        ),
        (
            "/v1/webchat/config",
            vec![("host", b"x"), ("referer", b"https://acme.example#/es/")],
        ),
        (
            "/v1/webchat/config",
            vec![("host", b"x"), ("referer", b"/fr-ca/cart")],
        ),
        (
            "/v1/webchat/config",
            vec![
                ("host", b"x"),
                ("referer", "https://acme.example/fr-ca/é".as_bytes()),
            ],
        ),
        (
            "/v1/webchat/config",
            vec![("host", b"acme.example"), ("cookie", b"a=1; locale=fr-CA")],
        ),
        (
            "/v1/webchat/config",
            vec![("host", b"acme.example"), ("cookie", b"a=1; locale=es-MX")],
        ),
        (
            "/v1/webchat/config",
            vec![
                ("host", b"acme.example"),
                ("cookie", b"a=1"),
                ("cookie", b"locale=fr-CA"),
            ],
        ),
        (
            "/v1/webchat/config",
            vec![
                ("host", b"globex.example"),
                ("cookie", b"lang=fr-FR; locale=es-MX"),
            ],
        ),
        (
            "/v1/webchat/config",
            vec![("host", b"globex.example"), ("cookie", b"lang=\xff")],
        ),
        (
            "/v1/webchat/config",
            vec![
                ("host", b"acme.example"),
                ("accept-language", b"fr"),
                ("accept-language", b"es"),
            ],
        ),
        (
            "/v1/webchat/config",
            vec![("host", b"acme.example"), ("accept-language", b"fr;q=0, *")],
        ),
        (
            "/v1/webchat/config?page=https%3A%2F%2Facme.example%2Ffr-ca%2F",
            vec![("host", b"x")],
        ),
        (
            "/v1/webchat/config?lang=fr",
            vec![
                ("origin", b"https://globex.example"),
                ("host", b"acme.example"),
            ],
        ),
    ];
    let memo_decide = |memo: &mut Memo, parts: &http::request::Parts| {
        memo.follow(&table);
        let mut key = Key::default();
        if key.read(&parts.uri, &parts.headers, &memo.cookies) {
            memo.remembered(key.bytes(), || {
                query::decide(&table, &parts.uri, &parts.headers)
            })
            .map(|(decided, _)| decided)
        } else {
            query::decide(&table, &parts.uri, &parts.headers)
        }
    };
    let mut memo = Memo::new(SLOTS);
    // Twice over: the second time, every decision that can be comes from the memo.
    for _ in 0..2 {
        for (uri, headers) in &cases {
            let parts = request(uri, headers);
            let expected = outcome(&query::decide(&table, &parts.uri, &parts.headers));
            assert_eq!(
                outcome(&memo_decide(&mut memo, &parts)),
                expected,
                "{uri} {headers:?}"
            );
        }
    }
    // Only the language cookie's value is in the key: other cookies share one entry.
    let a = request(
        "/v1/webchat/config",
        &[("host", b"acme.example"), ("cookie", b"s=1; locale=fr-CA")],
    );
    let b = request(
        "/v1/webchat/config",
        &[("host", b"acme.example"), ("cookie", b"s=2; locale=fr-CA")],
    );
    let (mut ka, mut kb) = (Key::default(), Key::default());
    assert!(
        ka.read(&a.uri, &a.headers, &memo.cookies) && kb.read(&b.uri, &b.headers, &memo.cookies)
    );
    assert_eq!(ka.bytes(), kb.bytes());
    // Another table in force: nothing remembered is used.
    memo.follow(&new_table());
    assert!(memo.slots.iter().all(|slot| slot.decided.is_none()));
}

#[test]
fn an_answer_is_remembered_until_the_answer_cache_changes() {
    let table = new_table();
    let parts = request("/v1/webchat/config?site=acme", &[("host", b"x")]);
    let answer = Arc::new(Prepared::error(http::StatusCode::OK, b"{}".to_vec()));
    let lookups = std::cell::Cell::new(0);
    let ask = |changes| {
        let (_, found, remembered) = decide(&table, &parts.uri, &parts.headers, changes, |_| {
            lookups.set(lookups.get() + 1);
            Some(answer.clone())
        })
        .unwrap();
        assert!(found.is_some());
        remembered
    };
    assert!(!ask(7));
    assert!(ask(7) && ask(7));
    assert_eq!(lookups.get(), 1);
    // The cache changed: looked up again, then remembered at the new count.
    assert!(!ask(8));
    assert!(ask(8));
    assert_eq!(lookups.get(), 2);
}

#[test]
fn a_flood_of_new_inputs_wears_an_entry_down_one_miss_per_hit_it_banked() {
    let decided = |site| Decided {
        site,
        language: 0,
        site_rule: crate::resolve::SiteRule::Parameter,
        language_rule: crate::resolve::LanguageRule::Default,
        used_referer: false,
    };
    // One slot: every key collides.
    let mut memo = Memo::new(1);
    let good = b"good".as_slice();
    memo.remembered(good, || Ok(decided(1))).unwrap();
    for _ in 0..3 {
        let (hit, _) = memo.remembered(good, || panic!("remembered")).unwrap();
        assert_eq!(hit.site, 1);
    }
    // Three hits banked: three new keys only wear it down, the fourth replaces it.
    for i in 0..3u8 {
        memo.remembered(&[i], || Ok(decided(2))).unwrap();
        assert_eq!(memo.slots[0].key, good, "after {} misses", i + 1);
    }
    memo.remembered(b"new", || Ok(decided(2))).unwrap();
    assert_eq!(memo.slots[0].key, b"new");
    // Credit is capped, so a long-hot entry is not immortal either.
    for _ in 0..1000 {
        memo.remembered(b"new", || panic!("remembered")).unwrap();
    }
    assert_eq!(memo.slots[0].credit, MAX_CREDIT);
    // Keys too long are never kept; errors are not remembered.
    let mut key = Key::default();
    assert!(!key.push(Some(&[b'x'; MAX_KEY])));
    let error = || {
        Err(ApiError::new(
            crate::http::error::ErrorCode::UnknownSite,
            "no",
        ))
    };
    let mut memo = Memo::new(1);
    assert!(memo.remembered(b"bad", error).is_err());
    assert!(memo.slots[0].decided.is_none());
}

#[test]
fn the_referer_prefix_is_what_its_host_and_first_segment_are_read_from() {
    for (url, prefix) in [
        (
            "https://shop.example/fr-ca/cart?x=1",
            "https://shop.example/fr-ca",
        ),
        (
            "https://shop.example/fr-ca?x=1",
            "https://shop.example/fr-ca",
        ),
        ("https://shop.example/", "https://shop.example/"),
        ("https://shop.example", "https://shop.example"),
        ("https://shop.example?x=/fr/y", "https://shop.example?x=/fr"),
        ("/fr/cart", "/fr/cart"),
    ] {
        assert_eq!(referer_prefix(url), prefix, "{url}");
    }
}

//! Language resolution, table-driven over real HTTP: `lang`, page path prefix,
//! cookie, `Accept-Language`, default — in that order, with RFC 4647 subtag fallback.

use crate::support::{Server, json};

struct Case {
    name: &'static str,
    site: &'static str,
    lang: Option<&'static str>,
    page: Option<&'static str>,
    referer: Option<&'static str>,
    cookie: Option<&'static str>,
    accept_language: Option<String>,
    expect: &'static str,
}

const BASE: Case = Case {
    name: "",
    site: "acme",
    lang: None,
    page: None,
    referer: None,
    cookie: None,
    accept_language: None,
    expect: "",
};

fn al(header: &str) -> Option<String> {
    Some(header.to_string())
}

fn cases() -> Vec<Case> {
    let junk: String = (0..700).map(|i| format!("x{i}-zz;q=0.9,")).collect();
    let long_header = format!("{junk}pt-BR;q=0.95");
    assert!(long_header.len() > 8 * 1024);
    vec![
        Case {
            name: "nothing sent: site default",
            expect: "en-US",
            ..BASE
        },
        Case {
            name: "lang exact",
            lang: Some("es-MX"),
            expect: "es-MX",
            ..BASE
        },
        Case {
            name: "lang case-insensitive",
            lang: Some("ES-mx"),
            expect: "es-MX",
            ..BASE
        },
        Case {
            name: "lang with underscore",
            lang: Some("es_MX"),
            expect: "es-MX",
            ..BASE
        },
        Case {
            name: "lang region fallback es-AR",
            lang: Some("es-AR"),
            expect: "es-MX",
            ..BASE
        },
        Case {
            name: "lang primary only",
            lang: Some("de"),
            expect: "de-DE",
            ..BASE
        },
        Case {
            name: "lang not offered falls to Accept-Language",
            lang: Some("it"),
            accept_language: al("fr"),
            expect: "fr-CA",
            ..BASE
        },
        Case {
            name: "lang malformed is skipped",
            lang: Some("de;DROP"),
            expect: "en-US",
            ..BASE
        },
        Case {
            name: "page path prefix",
            page: Some("https://acme.example/fr-ca/cart"),
            expect: "fr-CA",
            ..BASE
        },
        Case {
            name: "page path prefix fallback",
            page: Some("https://acme.example/de/produkte?x=1"),
            expect: "de-DE",
            ..BASE
        },
        Case {
            name: "page path that is not a language",
            page: Some("https://acme.example/cart/fr"),
            accept_language: al("pt"),
            expect: "pt-BR",
            ..BASE
        },
        Case {
            name: "lang beats path",
            lang: Some("pt-BR"),
            page: Some("https://acme.example/fr-ca/"),
            expect: "pt-BR",
            ..BASE
        },
        Case {
            name: "Referer path when no page",
            referer: Some("https://shop.acme.example/es-mx/p/1"),
            expect: "es-MX",
            ..BASE
        },
        Case {
            name: "cookie",
            cookie: Some("sid=1; locale=de-DE; x=y"),
            expect: "de-DE",
            ..BASE
        },
        Case {
            name: "cookie with underscore and quotes",
            cookie: Some("locale=\"pt_BR\""),
            expect: "pt-BR",
            ..BASE
        },
        Case {
            name: "cookie of another name is ignored",
            cookie: Some("lang=fr-CA"),
            accept_language: al("es"),
            expect: "es-MX",
            ..BASE
        },
        Case {
            name: "path beats cookie",
            page: Some("https://acme.example/fr-ca"),
            cookie: Some("locale=de-DE"),
            expect: "fr-CA",
            ..BASE
        },
        Case {
            name: "cookie beats Accept-Language",
            cookie: Some("locale=de-DE"),
            accept_language: al("es"),
            expect: "de-DE",
            ..BASE
        },
        Case {
            name: "AL region fallback",
            accept_language: al("es-AR,es;q=0.9,en;q=0.8"),
            expect: "es-MX",
            ..BASE
        },
        Case {
            name: "AL q-values order",
            accept_language: al("fr;q=0.5, de;q=0.8"),
            expect: "de-DE",
            ..BASE
        },
        Case {
            name: "AL equal q keeps header order",
            accept_language: al("de;q=0.8, fr;q=0.8"),
            expect: "de-DE",
            ..BASE
        },
        Case {
            name: "AL case-insensitive",
            accept_language: al("FR-ca"),
            expect: "fr-CA",
            ..BASE
        },
        Case {
            name: "AL skips languages not offered",
            accept_language: al("it, ja;q=0.9, pt;q=0.5"),
            expect: "pt-BR",
            ..BASE
        },
        Case {
            name: "AL star means the default, at its own weight",
            accept_language: al("it, *;q=0.9, de;q=0.5"),
            expect: "en-US",
            ..BASE
        },
        Case {
            name: "AL star skips a refused default",
            accept_language: al("en;q=0, *"),
            expect: "es-MX",
            ..BASE
        },
        Case {
            name: "AL q=0 refuses the fallback target",
            accept_language: al("es-MX;q=0, es-AR"),
            expect: "en-US",
            ..BASE
        },
        Case {
            name: "AL q=0 refuses a whole prefix",
            accept_language: al("de-AT, de;q=0, fr;q=0.1"),
            expect: "fr-CA",
            ..BASE
        },
        Case {
            name: "AL specific request beats a broader refusal",
            accept_language: al("en;q=0, en-US;q=0.5, de;q=0.1"),
            expect: "en-US",
            ..BASE
        },
        Case {
            name: "AL broader refusal still covers other variants",
            accept_language: al("en;q=0, en-GB, de;q=0.1"),
            expect: "de-DE",
            ..BASE
        },
        Case {
            name: "page segment shaped like a word is not a language",
            page: Some("https://acme.example/de-luxe/sofa"),
            accept_language: al("pt"),
            expect: "pt-BR",
            ..BASE
        },
        Case {
            name: "page segment language-region falls back",
            page: Some("https://acme.example/es_ar/"),
            expect: "es-MX",
            ..BASE
        },
        Case {
            name: "AL star loses to a higher q",
            accept_language: al("*;q=0.1, de;q=0.5"),
            expect: "de-DE",
            ..BASE
        },
        Case {
            name: "AL script fallback zh-Hant-HK",
            accept_language: al("zh-Hant-HK"),
            expect: "zh-Hant-TW",
            ..BASE
        },
        Case {
            name: "AL primary reaches script+region",
            accept_language: al("zh"),
            expect: "zh-Hant-TW",
            ..BASE
        },
        Case {
            name: "AL NaN q skipped",
            accept_language: al("es;q=NaN, de"),
            expect: "de-DE",
            ..BASE
        },
        Case {
            name: "AL q above 1 skipped",
            accept_language: al("es;q=2, pt;q=0.3"),
            expect: "pt-BR",
            ..BASE
        },
        Case {
            name: "AL malformed entries skipped",
            accept_language: al("@@@, , ;q=1, de-DE-1996"),
            expect: "de-DE",
            ..BASE
        },
        Case {
            name: "AL private-use singleton dropped",
            accept_language: al("de-CH-x-phonebk"),
            expect: "de-DE",
            ..BASE
        },
        Case {
            name: "AL English variant to en-US",
            accept_language: al("en-GB"),
            expect: "en-US",
            ..BASE
        },
        Case {
            name: "AL empty header",
            accept_language: al(""),
            expect: "en-US",
            ..BASE
        },
        Case {
            name: "AL over 8 KB",
            accept_language: Some(long_header),
            expect: "pt-BR",
            ..BASE
        },
        Case {
            name: "no path_language: path ignored",
            site: "globex",
            page: Some("https://globex.example/en-gb/"),
            expect: "de-DE",
            ..BASE
        },
        Case {
            name: "no language_cookie: cookie ignored",
            site: "globex",
            cookie: Some("locale=en-GB"),
            expect: "de-DE",
            ..BASE
        },
        Case {
            name: "other site's fallback",
            site: "globex",
            accept_language: al("en-US, de;q=0.5"),
            expect: "en-GB",
            ..BASE
        },
    ]
}

#[tokio::test]
async fn language_resolution_table() {
    let server = Server::start().await;
    let cases = cases();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for case in &cases {
        let mut query = vec![("site", case.site)];
        if let Some(lang) = case.lang {
            query.push(("lang", lang));
        }
        if let Some(page) = case.page {
            query.push(("page", page));
        }
        let mut request = server.get("/v1/webchat/config").query(&query);
        if let Some(referer) = case.referer {
            request = request.header("Referer", referer);
        }
        if let Some(cookie) = case.cookie {
            request = request.header("Cookie", cookie);
        }
        if let Some(header) = &case.accept_language {
            request = request.header("Accept-Language", header.as_str());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_language = response
            .headers()
            .get("content-language")
            .map(|v| v.to_str().unwrap().to_string());
        let body = json(response).await;
        let got = body["language"].as_str().unwrap_or("?").to_string();
        if status != 200 || got != case.expect || content_language.as_deref() != Some(case.expect) {
            failures.push(format!(
                "{}: expected {}, got {status} {got} (Content-Language {content_language:?})",
                case.name, case.expect
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    server.stop().await;
}

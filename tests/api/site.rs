//! Site resolution: `site` parameter, then the host of `Origin`, of the page URL
//! (`page` parameter, then `Referer`), then `Host`; exact hosts and `*.` wildcards.

use crate::support::{Server, answer};

async fn site_of(
    server: &Server,
    query: &str,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut request = server.config(query);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    answer(request.send().await.unwrap()).await
}

/// (case name, query string, request headers, expected site id)
type SiteCase = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[tokio::test]
async fn each_source_and_their_order() {
    let server = Server::start().await;
    let cases: &[SiteCase] = &[
        (
            "site parameter",
            "site=globex",
            &[("Origin", "https://acme.example")],
            "globex",
        ),
        (
            "Origin host",
            "",
            &[("Origin", "https://acme.example")],
            "acme",
        ),
        (
            "Origin beats page",
            "page=https%3A%2F%2Facme.example%2F",
            &[("Origin", "https://globex.example")],
            "globex",
        ),
        (
            "page host",
            "page=https%3A%2F%2Fwww.globex.example%2Fde%2F",
            &[],
            "globex",
        ),
        (
            "page beats Referer",
            "page=https%3A%2F%2Facme.example%2F",
            &[("Referer", "https://globex.example/")],
            "acme",
        ),
        (
            "Referer host",
            "",
            &[("Referer", "https://globex.example/x")],
            "globex",
        ),
        (
            "Referer beats Host",
            "",
            &[
                ("Referer", "https://globex.example/"),
                ("Host", "acme.example"),
            ],
            "globex",
        ),
        ("Host header", "", &[("Host", "acme.example")], "acme"),
        (
            "Host with port",
            "",
            &[("Host", "acme.example:8080")],
            "acme",
        ),
        (
            "wildcard one level",
            "",
            &[("Origin", "https://shop.acme.example")],
            "acme",
        ),
        (
            "wildcard two levels",
            "",
            &[("Origin", "https://eu.shop.acme.example:8443")],
            "acme",
        ),
        (
            "host case-insensitive",
            "",
            &[("Host", "WWW.Globex.EXAMPLE")],
            "globex",
        ),
        (
            "unknown Origin falls through to Referer",
            "",
            &[
                ("Origin", "https://cdn.other.example"),
                ("Referer", "https://initech.example/"),
            ],
            "initech",
        ),
        (
            "Origin null falls through to Host",
            "",
            &[("Origin", "null"), ("Host", "initech.example")],
            "initech",
        ),
    ];
    for (name, query, headers, expect) in cases {
        let (status, body) = site_of(&server, query, headers).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["site"], *expect, "{name}");
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_sites_are_404_json() {
    let server = Server::start().await;
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("site=nope", &[("Host", "acme.example")]),
        ("", &[("Host", "unknown.example")]),
        (
            "",
            &[
                ("Origin", "https://evil.example"),
                ("Referer", "https://evil.example/"),
            ],
        ),
        ("", &[("Host", "acme.example.evil.example")]),
        ("", &[("Host", "xacme.example")]),
    ];
    for (query, headers) in cases {
        let (status, body) = site_of(&server, query, headers).await;
        assert_eq!(status, 404, "{query} {headers:?}");
        assert_eq!(body["error"]["code"], "unknown_site", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().len() > 5);
    }
    server.stop().await;
}

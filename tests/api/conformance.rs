//! HTTP/1.1 as RFC 9110 and 9112 have it, with raw requests on a socket (what clients like
//! reqwest will not send): exactly one `Host` (else `400`, on both listeners), the authority of
//! an absolute-form target over `Host`, `Host` values that are not host names matching no site
//! (not even a wildcard), and a list header sent as several lines read whole.

use flexroute::config::Environment;

use crate::support::{FIXTURE, Server, metric, raw_exchange};

/// The status, the head and the JSON body of `request` (which should ask the server to close).
async fn exchange(
    listener: std::net::SocketAddr,
    request: &str,
) -> (u16, String, serde_json::Value) {
    let answer = raw_exchange(listener, request.as_bytes()).await;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {answer:?}"));
    let body = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    (status, head.to_ascii_lowercase(), body)
}

/// `GET {target} HTTP/1.1` with `headers` (each line `Name: value`), asking to close.
fn get(target: &str, headers: &[&str]) -> String {
    let mut request = format!("GET {target} HTTP/1.1\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    request
}

#[tokio::test]
async fn a_request_needs_exactly_one_host_on_both_listeners() {
    let server = Server::start().await;
    let config = "/v1/webchat/config?site=acme";
    for listener in [server.public, server.ops] {
        let target = if listener == server.public {
            config
        } else {
            "/metrics"
        };
        for (what, request) in [
            (
                "two Host lines",
                get(target, &["Host: acme.example", "Host: globex.example"]),
            ),
            (
                "the same Host twice",
                get(target, &["Host: acme.example", "Host: acme.example"]),
            ),
            ("no Host on HTTP/1.1", get(target, &[])),
            (
                "no Host, absolute form",
                get(&format!("http://acme.example{target}"), &[]),
            ),
        ] {
            let (status, head, body) = exchange(listener, &request).await;
            assert_eq!(status, 400, "{what} on {listener}: {head}");
            assert_eq!(body["error"]["code"], "invalid_request", "{what}: {body}");
            assert!(
                body["error"]["message"].as_str().unwrap().contains("Host"),
                "{body}"
            );
            assert!(head.contains("connection: close"), "{what}: {head}");
            assert!(head.contains("content-type: application/json"), "{head}");
        }
        // One Host: served. HTTP/1.0 may leave it out.
        let (status, ..) = exchange(listener, &get(target, &["Host: acme.example"])).await;
        assert_eq!(status, 200, "{listener}");
        let old = format!("GET {target} HTTP/1.0\r\n\r\n");
        let (status, head, _) = exchange(listener, &old).await;
        assert_eq!(status, 200, "HTTP/1.0 without Host on {listener}: {head}");
    }
    // The admin API refuses it before looking at the token.
    let admin = get(
        "/admin/routes",
        &["Host: ops", "Host: ops", "Authorization: Bearer x"],
    );
    let (status, _, body) = exchange(server.ops, &admin).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &"invalid_request".into())
    );
    // Public refusals are counted like any answer.
    let metrics = server.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"flexroute_http_requests_total{route="/v1/webchat/config",status="400"}"#
        ),
        Some(4.0)
    );
    server.stop().await;
}

/// RFC 9112 §3.2.2: with an absolute-form request target, its authority is the host and `Host`
/// is ignored; on a cache miss (the router) and a hit (the shortcut) alike.
#[tokio::test]
async fn an_absolute_form_target_names_the_site_over_host() {
    let server = Server::start().await;
    for (target, host, expected) in [
        (
            "http://acme.example/v1/webchat/config",
            "globex.example",
            Some("acme"),
        ),
        (
            "http://globex.example/v1/webchat/config",
            "acme.example",
            Some("globex"),
        ),
        (
            "http://shop.acme.example:8080/v1/webchat/config?lang=de",
            "globex.example",
            Some("acme"),
        ),
        // User info is no host name: no site, and `Host` is still not consulted.
        (
            "http://a@acme.example/v1/webchat/config",
            "acme.example",
            None,
        ),
    ] {
        for round in ["miss", "hit"] {
            let request = get(target, &[&format!("Host: {host}")]);
            let (status, head, body) = exchange(server.public, &request).await;
            match expected {
                Some(site) => {
                    assert_eq!(status, 200, "{target} ({round}): {head}");
                    assert_eq!(body["site"], site, "{target} ({round})");
                }
                None => {
                    assert_eq!(status, 404, "{target} ({round}): {head}");
                    assert_eq!(body["error"]["code"], "unknown_site");
                }
            }
        }
    }
    server.stop().await;
}

/// A `Host` that is not a host name matches no site: not an exact one, not a wildcard it ends
/// like. Names with one trailing dot, a port or any case still match.
#[tokio::test]
async fn hosts_that_are_not_host_names_match_no_site() {
    let table = FIXTURE.replace(
        r#"hosts = ["initech.example"]"#,
        r#"hosts = ["initech.example", "localhost"]"#,
    );
    let server = Server::start_with(&table, Environment::default()).await;
    for host in [
        "evil.com#.acme.example",
        "evil.com/.acme.example",
        "a@b.acme.example",
        "a@acme.example",
        "a b.acme.example",
        "localhost..",
        "localhost..:8080",
        ".localhost",
        "shop..acme.example",
        "shop.acme.example..",
        "[::1].acme.example",
    ] {
        for round in ["first", "again"] {
            let (status, head, body) = exchange(
                server.public,
                &get("/v1/webchat/config", &[&format!("Host: {host}")]),
            )
            .await;
            assert_eq!(status, 404, "{host:?} ({round}): {head}");
            assert_eq!(body["error"]["code"], "unknown_site", "{host:?}");
        }
    }
    for (host, site) in [
        ("localhost", "initech"),
        ("localhost.", "initech"),
        ("LocalHost:8080", "initech"),
        ("shop.acme.example.", "acme"),
        ("Shop_1.ACME.example", "acme"),
    ] {
        let (status, head, body) = exchange(
            server.public,
            &get("/v1/webchat/config", &[&format!("Host: {host}")]),
        )
        .await;
        assert_eq!(status, 200, "{host:?}: {head}");
        assert_eq!(body["site"], site, "{host:?}");
    }
    server.stop().await;
}

/// RFC 9110 §5.3: a list header sent as several lines is one list (`Accept-Language` joined with
/// `, `); RFC 6265 §5.4: `Cookie` lines are one cookie string (joined with `; `). Every line is
/// read, not only the first.
#[tokio::test]
async fn list_headers_sent_as_several_lines_are_read_whole() {
    let server = Server::start().await;
    for (headers, language) in [
        (&["Cookie: session=1", "Cookie: locale=fr-CA"][..], "fr-CA"),
        (&["Cookie: locale=de-DE", "Cookie: x=1"][..], "de-DE"),
        (
            &["Accept-Language: xx-YY", "Accept-Language: de-DE"][..],
            "de-DE",
        ),
        // Weights compare across lines: the second line's es-MX (q=1) beats the first's de.
        (
            &["Accept-Language: de;q=0.5", "Accept-Language: es-MX"][..],
            "es-MX",
        ),
        (
            &[
                "Accept-Language: zz",
                "Accept-Language: yy",
                "Accept-Language: pt-BR;q=0.9",
            ][..],
            "pt-BR",
        ),
        // The cookie still comes before Accept-Language.
        (
            &[
                "Accept-Language: es-MX",
                "Cookie: a=1",
                "Cookie: locale=zh-Hant-TW",
            ][..],
            "zh-Hant-TW",
        ),
    ] {
        let mut lines = vec!["Host: acme.example"];
        lines.extend_from_slice(headers);
        for round in ["miss", "hit"] {
            let (status, head, body) =
                exchange(server.public, &get("/v1/webchat/config", &lines)).await;
            assert_eq!(status, 200, "{headers:?} ({round}): {head}");
            assert_eq!(body["language"], language, "{headers:?} ({round})");
        }
    }
    server.stop().await;
}

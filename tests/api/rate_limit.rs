//! The optional per-client rate limit of `/v1/webchat/config` over real HTTP: off by default,
//! `429 rate_limited` with `Retry-After` once a client's burst is spent, health and readiness
//! never limited, the client header believed only from a trusted proxy (and then its
//! right-most untrusted address), and bounded state however many addresses appear.
//!
//! The rate is one request per 100 s, so that no token comes back while a test runs on a slow
//! machine: every verdict below is deterministic.

use flexroute::config::Environment;

use crate::support::{FIXTURE, Server, json, metric};

fn limited(extra: &[(&str, &str)]) -> Environment {
    let mut pairs = vec![
        ("FLEXROUTE_SERVER_RATE_LIMIT_PER_SECOND", "0.01"),
        ("FLEXROUTE_SERVER_RATE_LIMIT_BURST", "3"),
    ];
    pairs.extend_from_slice(extra);
    Environment::from_pairs(pairs)
}

async fn status(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn off_by_default() {
    let server = Server::start().await;
    for _ in 0..100 {
        assert_eq!(status(server.config("site=acme")).await, 200);
    }
    let metrics = server.metrics().await;
    assert_eq!(metric(&metrics, "flexroute_rate_limited_total"), Some(0.0));
    assert_eq!(metric(&metrics, "flexroute_rate_limit_clients"), Some(0.0));
    server.stop().await;
}

#[tokio::test]
async fn over_the_rate_a_client_gets_429_with_retry_after() {
    let server = Server::start_with(FIXTURE, limited(&[])).await;
    for _ in 0..3 {
        assert_eq!(status(server.config("site=acme")).await, 200);
    }
    let refused = server.config("site=acme").send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "100");
    assert_eq!(refused.headers()["cache-control"], "no-store");
    let body = json(refused).await;
    assert_eq!(body["error"]["code"], "rate_limited");
    // Unknown sites and preflights count too: the limit is on the client, not the answer.
    assert_eq!(status(server.config("site=nope")).await, 429);
    assert_eq!(
        status(
            server
                .client
                .request(reqwest::Method::OPTIONS, server.url("/v1/webchat/config"))
        )
        .await,
        429
    );
    // The peer (127.0.0.1) is not a trusted proxy: a forwarded-for header changes nothing.
    for i in 0..5 {
        let spoofed = server
            .config("site=acme")
            .header("X-Forwarded-For", format!("198.51.100.{i}"));
        assert_eq!(status(spoofed).await, 429);
    }
    // Probes are never limited.
    for _ in 0..10 {
        assert_eq!(status(server.get("/healthz")).await, 200);
        assert_eq!(status(server.get("/readyz")).await, 200);
    }
    let metrics = server.metrics().await;
    assert_eq!(metric(&metrics, "flexroute_rate_limited_total"), Some(8.0));
    assert_eq!(
        metric(
            &metrics,
            r#"flexroute_http_requests_total{route="/v1/webchat/config",status="429"}"#
        ),
        Some(8.0)
    );
    assert_eq!(metric(&metrics, "flexroute_rate_limit_clients"), Some(1.0));
    server.stop().await;
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_by_its_right_most_untrusted_address() {
    let server = Server::start_with(
        FIXTURE,
        limited(&[
            (
                "FLEXROUTE_SERVER_TRUSTED_PROXIES",
                r#"["127.0.0.1", "10.0.0.0/8"]"#,
            ),
            ("FLEXROUTE_SERVER_RATE_LIMIT_MAX_CLIENTS", "50"),
        ]),
    )
    .await;
    let from = |forwarded: &str| {
        server
            .config("site=acme")
            .header("X-Forwarded-For", forwarded.to_string())
    };
    for _ in 0..3 {
        assert_eq!(status(from("203.0.113.1")).await, 200);
    }
    assert_eq!(status(from("203.0.113.1")).await, 429);
    // Another client behind the same proxy has its own allowance.
    assert_eq!(status(from("203.0.113.2")).await, 200);
    // Client 1 cannot pass as client 2 by writing its address first: the proxy appended the
    // real one on the right.
    assert_eq!(status(from("203.0.113.2, 203.0.113.1")).await, 429);
    // Trusted hops (10.0.0.0/8) are skipped; a port or two header lines change nothing.
    assert_eq!(status(from("203.0.113.1:5000, 10.0.0.7")).await, 429);
    let split = server
        .config("site=acme")
        .header("X-Forwarded-For", "203.0.113.1")
        .header("X-Forwarded-For", "10.0.0.7");
    assert_eq!(status(split).await, 429);
    // Without the header the proxy itself is the client, with its own allowance.
    assert_eq!(status(server.config("site=acme")).await, 200);

    // Addresses without end: each gets its first request, and the state stays bounded.
    for i in 0..500u32 {
        let address = format!("198.18.{}.{}", i / 250, i % 250);
        assert_eq!(status(from(&address)).await, 200, "{address}");
    }
    let metrics = server.metrics().await;
    let clients = metric(&metrics, "flexroute_rate_limit_clients").unwrap();
    println!("rate-limit state after 503 client addresses: {clients} entries (cap 50)");
    assert!((1.0..=50.0).contains(&clients), "{clients}");
    assert_eq!(metric(&metrics, "flexroute_rate_limited_total"), Some(4.0));
    server.stop().await;
}

#[tokio::test]
async fn bad_rate_limit_settings_are_named() {
    let env = Environment::from_pairs([
        ("FLEXROUTE_SERVER_RATE_LIMIT_PER_SECOND", "-1"),
        ("FLEXROUTE_SERVER_RATE_LIMIT_BURST", "0"),
        ("FLEXROUTE_SERVER_RATE_LIMIT_MAX_CLIENTS", "0"),
        (
            "FLEXROUTE_SERVER_TRUSTED_PROXIES",
            r#"["10.0.0.0/8", "proxy.internal"]"#,
        ),
        ("FLEXROUTE_SERVER_CLIENT_IP_HEADER", "\"X Forwarded\""),
        ("FLEXROUTE_SERVER_HEADER_READ_TIMEOUT_MS", "0"),
    ]);
    let error = flexroute::config::Config::from_toml_str(FIXTURE, &env).unwrap_err();
    let problems = error.problems().join("\n");
    for key in [
        "server.rate_limit_per_second",
        "server.rate_limit_burst",
        "server.rate_limit_max_clients",
        "server.trusted_proxies[1]",
        "server.client_ip_header",
        "server.header_read_timeout_ms",
    ] {
        assert!(problems.contains(key), "{key} not named in:\n{problems}");
    }
    assert!(!problems.contains("trusted_proxies[0]"), "{problems}");
}

//! Bad input gets a clear JSON error and costs nothing: no 500, no panic, no cache entry and
//! no metric series for requests that name no configured site.

use reqwest::header::HeaderValue;

use crate::support::{Server, json, metric, raw_exchange, series};

#[tokio::test]
async fn oversized_and_malformed_input_is_a_clean_4xx_or_ignored() {
    let server = Server::start().await;

    let long_query = format!("site=acme&page={}", "a".repeat(9000));
    let response = server.config(&long_query).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json(response).await["error"]["code"], "invalid_request");

    let long_lang = format!("site=acme&lang={}", "x".repeat(3000));
    let response = server.config(&long_lang).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "invalid_request");
    assert!(body["error"]["message"].as_str().unwrap().contains("lang"));

    // A long page URL is fine (only its host and first segment matter), and blank values
    // from a template (`?site=&lang=&page=`) mean "not given".
    let long_page = format!(
        "page=https%3A%2F%2Fshop.acme.example%2Fde%2F%3Fq%3D{}",
        "a".repeat(5000)
    );
    let response = server.config(&long_page).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json(response).await["language"], "de-DE");
    let response = server
        .config("site=&lang=&page=")
        .header("Host", "globex.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json(response).await["site"], "globex");

    // Invalid UTF-8 in headers and in percent-encoded query values: ignored, never a 500.
    let response = server
        .config("site=acme&lang=%FF%FE")
        .header(
            "Accept-Language",
            HeaderValue::from_bytes(b"de-\xffDE, es").unwrap(),
        )
        .header(
            "Cookie",
            HeaderValue::from_bytes(b"locale=\xc3\x28").unwrap(),
        )
        .header(
            "Referer",
            HeaderValue::from_bytes(b"https://acme.example/\xfe/").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The one bad entry is skipped, not the whole header; the bad cookie matches nothing.
    assert_eq!(json(response).await["language"], "es-MX");

    let response = server
        .config("")
        .header(
            "Host",
            HeaderValue::from_bytes(b"acme.\xffexample").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(json(response).await["error"]["code"], "unknown_site");

    // A 32 KB cookie is served normally; a request head past 64 KiB is refused with 431 before
    // any handler runs, and the connection closed.
    let big_cookie = format!("junk={}; locale=de-DE", "z".repeat(32 * 1024));
    let response = server
        .config("site=acme")
        .header("Cookie", big_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json(response).await["language"], "de-DE");
    let huge_cookie = format!("junk={}", "z".repeat(1024 * 1024));
    match server
        .config("site=acme")
        .header("Cookie", huge_cookie)
        .send()
        .await
    {
        Ok(response) => assert!(response.status().is_client_error(), "{}", response.status()),
        Err(e) => assert!(e.is_request() || e.is_connect() || e.is_body(), "{e}"),
    }

    let head = format!(
        "GET /v1/webchat/config?site=acme HTTP/1.1\r\nHost: acme.example\r\nCookie: junk={}\r\n\r\n",
        "z".repeat(flexroute::http::MAX_HEADER_BYTES)
    );
    let answer = raw_exchange(server.public, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    // The same on the ops listener.
    let head = format!(
        "GET /metrics HTTP/1.1\r\nHost: ops\r\nX-Junk: {}\r\n\r\n",
        "z".repeat(flexroute::http::MAX_HEADER_BYTES)
    );
    let answer = raw_exchange(server.ops, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");

    // Unknown paths and methods: JSON errors too.
    let response = server.get("/v1/nope").send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(json(response).await["error"]["code"], "not_found");
    let response = server
        .client
        .post(server.url("/v1/webchat/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(json(response).await["error"]["code"], "method_not_allowed");

    // The server is still healthy after all of that.
    assert_eq!(server.get("/healthz").send().await.unwrap().status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn unknown_sites_cost_no_cache_entry_and_no_series() {
    let server = Server::start().await;
    // The baseline has the series that any request creates: one pair served, one unknown
    // site and one unknown path (whose counters are then expected to move, not multiply).
    server.config("site=acme").send().await.unwrap();
    server.config("site=first-unknown").send().await.unwrap();
    server.get("/nope").send().await.unwrap();
    let before = server.metrics().await;
    assert_eq!(metric(&before, "flexroute_cache_entries"), Some(1.0));

    for i in 0..300 {
        let (query, host) = match i % 3 {
            0 => (
                format!("site=site{i}&lang=xx-{i}"),
                "acme.invalid".to_string(),
            ),
            1 => (
                format!("page=https%3A%2F%2Fh{i}.example%2F"),
                format!("h{i}.example"),
            ),
            _ => (String::new(), format!("random{i}.example")),
        };
        let response = server
            .config(&query)
            .header("Host", host)
            .header("Accept-Language", format!("q{i}-ZZ"))
            .header("Origin", format!("https://o{i}.example"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        server
            .get(&format!("/random/path/{i}"))
            .send()
            .await
            .unwrap();
    }

    // Unknown languages for a known site resolve to a configured one: no entry of their own.
    for i in 0..100 {
        let response = server
            .config(&format!("site=acme&lang=xx-{i}"))
            .header("Accept-Language", format!("yy-{i}, zz;q=0.{i}"))
            .header("Cookie", format!("locale=qq-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(json(response).await["language"], "en-US");
    }

    let after = server.metrics().await;
    assert_eq!(series(&before), series(&after), "no new series");
    assert_eq!(metric(&after, "flexroute_cache_entries"), Some(1.0));
    assert_eq!(
        metric(
            &after,
            r#"flexroute_http_requests_total{route="/v1/webchat/config",status="404"}"#
        ),
        Some(301.0)
    );
    assert_eq!(
        metric(
            &after,
            r#"flexroute_http_requests_total{route="unmatched",status="404"}"#
        ),
        Some(301.0)
    );
    assert_eq!(metric(&after, "flexroute_cache_misses_total"), Some(1.0));
    server.stop().await;
}

/// No endpoint reads a request body: a declared one over 16 KiB is refused with `413
/// payload_too_large` before any handler runs, on both listeners, and the connection closed;
/// an endless chunked one is never read, and the server closes the connection after answering.
#[tokio::test]
async fn request_bodies_are_refused_beyond_a_small_limit() {
    let server = Server::start().await;
    let over = flexroute::http::MAX_BODY_BYTES + 1;

    let response = server
        .config("site=acme")
        .body(vec![b'x'; over])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["connection"], "close");
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "payload_too_large");
    // A small body (some clients send `{}`) is ignored.
    let response = server.config("site=acme").body("{}").send().await.unwrap();
    assert_eq!(response.status(), 200);

    // A declared gigabyte, of which nothing is sent: answered at once.
    let answer = raw_exchange(
        server.public,
        b"GET /v1/webchat/config?site=acme HTTP/1.1\r\nHost: acme.example\r\nContent-Length: 1073741824\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains(r#""code":"payload_too_large""#), "{answer}");

    // Admin POSTs, before the token is even looked at.
    let response = server
        .client
        .post(format!("http://{}/admin/reload", server.ops))
        .body(vec![b'x'; over])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(json(response).await["error"]["code"], "payload_too_large");

    // Chunked, without an end: answered without reading it, then the connection is closed.
    let mut request =
        b"GET /v1/webchat/config?site=acme HTTP/1.1\r\nHost: acme.example\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..16 {
        request.extend_from_slice(format!("1000\r\n{}\r\n", "y".repeat(4096)).as_bytes());
    }
    let answer = raw_exchange(server.public, &request).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");

    let metrics = server.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"flexroute_http_requests_total{route="/v1/webchat/config",status="413"}"#
        ),
        Some(2.0)
    );
    assert_eq!(server.get("/healthz").send().await.unwrap().status(), 200);
    server.stop().await;
}

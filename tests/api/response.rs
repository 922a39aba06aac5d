//! The answer itself: body with merged `appConfig`, caching headers and `304`,
//! degraded and unavailable answers, and per-site CORS.

use serde_json::json;

use crate::support::{Server, json};

#[tokio::test]
async fn body_merges_widget_config_and_sets_owned_fields() {
    let server = Server::start().await;
    let response = server.config("site=acme&lang=es-MX").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = json(response).await;
    assert_eq!(
        body,
        json!({
            "site": "acme",
            "language": "es-MX",
            "address": { "kind": "flex_flow", "sid": "FO00000000000000000000000000000002" },
            "appConfig": {
                "accountSid": "AC0123456789abcdef0123456789abcdef",
                "flexFlowSid": "FO00000000000000000000000000000002",
                "startEngagementOnInit": false,
                "context": { "brand": "ACME", "site": "acme", "language": "es-MX" },
                "theme": { "isLight": true, "colors": { "primary": "red", "text": "green" } },
                "preEngagementConfig": { "description": "¡Hola!" }
            }
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn caching_headers_and_conditional_requests() {
    let server = Server::start().await;
    let first = server.config("site=acme&lang=fr-CA").send().await.unwrap();
    let headers = first.headers().clone();
    let body = first.bytes().await.unwrap();
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert!(
        etag.len() == 18 && etag.starts_with('"') && etag.ends_with('"'),
        "strong ETag: {etag}"
    );
    assert_eq!(headers["cache-control"], "public, max-age=60");
    assert_eq!(headers["vary"], "Origin, Accept-Language, Cookie");
    assert_eq!(headers["content-language"], "fr-CA");

    // The cached answer is byte-for-byte the first one.
    let again = server.config("site=acme&lang=fr-CA").send().await.unwrap();
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(again.bytes().await.unwrap(), body);

    for validator in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"nope\", {etag}"),
        "*".into(),
    ] {
        let response = server
            .config("site=acme&lang=fr-CA")
            .header("If-None-Match", validator.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 304, "If-None-Match: {validator}");
        assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
        assert_eq!(response.headers()["cache-control"], "public, max-age=60");
        assert!(response.bytes().await.unwrap().is_empty());
    }
    let stale = server
        .config("site=acme&lang=fr-CA")
        .header("If-None-Match", "\"0000000000000000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);

    let other = server.config("site=acme&lang=de-DE").send().await.unwrap();
    assert_ne!(
        other.headers()["etag"].to_str().unwrap(),
        etag,
        "ETag follows the bytes"
    );
    server.stop().await;

    // Same table, same bytes, same ETag: replicas agree.
    let replica = Server::start().await;
    let response = replica.config("site=acme&lang=fr-CA").send().await.unwrap();
    assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
    replica.stop().await;
}

#[tokio::test]
async fn missing_address_is_degraded_or_unavailable() {
    let server = Server::start().await;
    let response = server
        .config("site=initech&lang=it-IT")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-language"], "it-IT");
    // Revalidate, don't keep: the pair's own address may appear at any moment.
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let body = json(response).await;
    // The visitor keeps their language (widget texts, context); only the address is lent.
    assert_eq!(body["degraded"], true);
    assert_eq!(body["language"], "it-IT");
    assert_eq!(body["addressLanguage"], "en-US");
    assert_eq!(body["address"]["sid"], "FO00000000000000000000000000000009");
    assert_eq!(
        body["appConfig"]["flexFlowSid"],
        "FO00000000000000000000000000000009"
    );
    assert_eq!(body["appConfig"]["context"]["language"], "it-IT");
    assert_eq!(
        body["appConfig"]["preEngagementConfig"]["description"],
        "Ciao!"
    );

    let normal = server.config_json("site=initech").await;
    assert!(normal.get("degraded").is_none(), "{normal}");

    let response = server.config("site=hooli").send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers().get("etag").is_none());
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "address_unavailable");
    server.stop().await;
}

#[tokio::test]
async fn cors_is_per_site_and_never_a_wildcard() {
    let server = Server::start().await;
    let allowed = server
        .config("site=acme")
        .header("Origin", "https://shop.acme.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.acme.example"
    );
    assert!(
        allowed.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("ETag")
    );

    // Claimed by the site's hosts, but not an allowed origin; and another site's origin.
    for (query, origin) in [
        ("", "https://eu.acme.example"),
        ("site=acme", "https://initech.example"),
    ] {
        let response = server
            .config(query)
            .header("Origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{origin}"
        );
    }

    let preflight = server
        .client
        .request(
            reqwest::Method::OPTIONS,
            server.url("/v1/webchat/config?site=acme"),
        )
        .header("Origin", "https://acme.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "if-none-match")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "https://acme.example");
    assert_eq!(h["access-control-allow-methods"], "GET, OPTIONS");
    assert_eq!(h["access-control-allow-headers"], "if-none-match");
    assert_eq!(h["access-control-max-age"], "600");

    let refused = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/v1/webchat/config"))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 204);
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    server.stop().await;
}

#[tokio::test]
async fn the_cache_is_bounded_by_config() {
    let toml = crate::support::FIXTURE.replace(
        "admin_listen = \"127.0.0.1:0\"",
        "admin_listen = \"127.0.0.1:0\"\ncache_max_entries = 2",
    );
    let server = Server::start_with(&toml, Default::default()).await;
    for lang in ["en-US", "es-MX", "fr-CA", "de-DE", "pt-BR", "zh-Hant-TW"] {
        let response = server
            .config(&format!("site=acme&lang={lang}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-language"], lang);
    }
    let text = server.metrics().await;
    let entries = crate::support::metric(&text, "flexroute_cache_entries").unwrap();
    assert!(entries <= 2.0, "cache holds {entries} entries, bound is 2");
    assert_eq!(
        crate::support::metric(&text, "flexroute_cache_misses_total"),
        Some(6.0)
    );
    server.stop().await;
}

/// When the Referer decides (no `page` parameter), caches must key on it: the same URL from
/// `/fr-ca/…` and `/de/…` pages gives different answers.
#[tokio::test]
async fn vary_names_referer_when_it_decided() {
    let server = Server::start().await;
    let mut languages = Vec::new();
    for referer in [
        "https://acme.example/fr-ca/cart",
        "https://acme.example/de/cart",
    ] {
        let response = server
            .config("site=acme")
            .header("Referer", referer)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["vary"],
            "Origin, Accept-Language, Cookie, Referer"
        );
        languages.push(json(response).await["language"].clone());
    }
    assert_eq!(languages, [json!("fr-CA"), json!("de-DE")]);

    // With an explicit page (or no Referer at all) the Referer played no part.
    let response = server
        .config("site=acme&page=https%3A%2F%2Facme.example%2Fde%2F")
        .header("Referer", "https://acme.example/fr-ca/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["vary"],
        "Origin, Accept-Language, Cookie"
    );
    assert_eq!(json(response).await["language"], "de-DE");
    // globex reads no path, and the site came from the parameter.
    let response = server
        .config("site=globex")
        .header("Referer", "https://globex.example/en-gb/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["vary"],
        "Origin, Accept-Language, Cookie"
    );
    server.stop().await;
}

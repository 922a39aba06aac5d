//! Health, readiness and the ops listener's `/metrics` with exact values.

use crate::support::{Server, metric};

#[tokio::test]
async fn health_readiness_and_exact_metrics() {
    let server = Server::start().await;
    assert_eq!(server.get("/healthz").send().await.unwrap().status(), 200);
    let ready = server.get("/readyz").send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), r#"{"status":"ready"}"#);

    let etag = {
        let first = server.config("site=acme&lang=es-MX").send().await.unwrap();
        first.headers()["etag"].to_str().unwrap().to_string()
    };
    server.config("site=acme&lang=es-MX").send().await.unwrap();
    server.config("site=acme&lang=es").send().await.unwrap();
    let not_modified = server
        .config("site=acme&lang=es-MX")
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    server.config("site=initech&lang=it").send().await.unwrap(); // it-IT, degraded
    server.config("site=hooli").send().await.unwrap(); // 503
    server.config("site=unknown").send().await.unwrap(); // 404
    server.get("/not/a/route").send().await.unwrap();

    let text = server.metrics().await;
    let m = |series: &str| metric(&text, series);
    let requests = |route: &str, status: u16| {
        m(&format!(
            r#"flexroute_http_requests_total{{route="{route}",status="{status}"}}"#
        ))
    };
    assert_eq!(requests("/v1/webchat/config", 200), Some(4.0));
    assert_eq!(requests("/v1/webchat/config", 304), Some(1.0));
    assert_eq!(requests("/v1/webchat/config", 503), Some(1.0));
    assert_eq!(requests("/v1/webchat/config", 404), Some(1.0));
    assert_eq!(requests("unmatched", 404), Some(1.0));
    assert_eq!(requests("/healthz", 200), Some(1.0));
    assert_eq!(requests("/readyz", 200), Some(1.0));
    assert_eq!(
        m(r#"flexroute_http_request_duration_seconds_count{route="/v1/webchat/config"}"#),
        Some(7.0)
    );
    // es-MX: miss then 3 hits; initech it-IT and hooli en-US: one miss each, and no entry
    // (without an address of their own their answers are never cached).
    assert_eq!(m("flexroute_cache_hits_total"), Some(3.0));
    assert_eq!(m("flexroute_cache_misses_total"), Some(3.0));
    assert_eq!(m("flexroute_cache_entries"), Some(1.0));
    assert_eq!(
        m(r#"flexroute_widget_configs_served_total{language="es-MX",site="acme"}"#),
        Some(4.0)
    );
    assert_eq!(
        m(r#"flexroute_widget_configs_served_total{language="it-IT",site="initech"}"#),
        Some(1.0)
    );
    assert_eq!(
        m(r#"flexroute_widget_configs_served_total{language="en-US",site="hooli"}"#),
        None
    );
    // acme 6 + globex 2 + initech 1 pinned; initech it-IT and hooli en-US missing.
    assert_eq!(m(r#"flexroute_routes{state="ready"}"#), Some(9.0));
    assert_eq!(m(r#"flexroute_routes{state="missing"}"#), Some(2.0));
    assert_eq!(m(r#"flexroute_routes{state="failing"}"#), Some(0.0));
    assert_eq!(
        m(r#"flexroute_config_reloads_total{outcome="success"}"#),
        Some(0.0)
    );
    assert_eq!(
        m(r#"flexroute_config_reloads_total{outcome="failure"}"#),
        Some(0.0)
    );
    let loaded = m("flexroute_config_last_reload_success_timestamp_seconds").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(loaded > now - 300.0 && loaded <= now, "{loaded} vs {now}");

    // The public listener does not serve metrics, and the ops listener does not serve configs.
    assert_eq!(server.get("/metrics").send().await.unwrap().status(), 404);
    let ops_config = server
        .client
        .get(format!("http://{}/v1/webchat/config?site=acme", server.ops))
        .send()
        .await
        .unwrap();
    assert_eq!(ops_config.status(), 404);
    server.stop().await;
}

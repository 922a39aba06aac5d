//! `GET /v1/webchat/embed.js` over HTTP (its behaviour in a browser is `tests/browser`), and
//! the `widget_script` key that tells it which script to load: layered per kind, refused when
//! malformed.

use flexroute::config::{Config, Environment};
use serde_json::Value;

use crate::support::conversations::SERVICE;
use crate::support::{ACCOUNT, Server, json};

#[tokio::test]
async fn the_script_is_cacheable_revalidates_and_any_page_may_load_it() {
    let server = Server::start().await;
    let response = server
        .get("/v1/webchat/embed.js")
        .header("Origin", "https://anyone.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(headers["cache-control"], "public, max-age=300");
    assert_eq!(headers["access-control-allow-origin"], "*");
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
    let script = response.text().await.unwrap();
    assert!(script.contains("/v1/webchat/config?"), "{script}");
    assert!(
        !script.lines().any(|line| line.starts_with("//")),
        "comments are not served"
    );
    for sent in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
        let again = server
            .get("/v1/webchat/embed.js")
            .header("If-None-Match", sent)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        assert_eq!(again.headers()["etag"], etag.as_str());
        assert!(again.bytes().await.unwrap().is_empty());
    }
    server.stop().await;
}

fn table(kinds: &str) -> String {
    format!(
        r#"
[server]
shutdown_drain_ms = 0
public_url = "https://chat.example"
[twilio]
account_sid = "{ACCOUNT}"
conversations_service_sid = "{SERVICE}"
[provisioning]
enabled = false
[defaults.widget_script]
flex_flow = "https://cdn.example/webchat-2.js"
conversations = {{ src = "https://cdn.example/react.js", integrity = "sha384-AAAA" }}

[[sites]]
id = "shop"
hosts = ["shop.example"]
default_language = "en"
languages = ["en", "fr", "de"]
widget_script = {{ conversations = "https://shop.example/react.js" }}
[sites.language."en"]
flex_flow_sid = "FO0123456789abcdef0123456789abcdef"
[sites.language."fr"]
{kinds}
[sites.language."de"]
address_kind = "webchat3"
deployment_key = "CVaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
widget_script = {{ webchat3 = {{ src = "https://media.example/webchat3.js" }} }}
"#
    )
}

async fn script_of(server: &Server, lang: &str) -> Value {
    let response = server
        .config(&format!("site=shop&lang={lang}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    json(response).await["widgetScript"].clone()
}

#[tokio::test]
async fn each_kind_gets_its_own_script_and_the_most_specific_wins() {
    let fr =
        "address_kind = \"conversations\"\naddress_sid = \"IG0123456789abcdef0123456789abcdef\"";
    let server = Server::start_with(&table(fr), Environment::default()).await;
    assert_eq!(
        script_of(&server, "en").await,
        serde_json::json!({"src": "https://cdn.example/webchat-2.js"})
    );
    // The site's conversations script replaces the defaults' whole, integrity included.
    assert_eq!(
        script_of(&server, "fr").await,
        serde_json::json!({"src": "https://shop.example/react.js"})
    );
    assert_eq!(
        script_of(&server, "de").await,
        serde_json::json!({"src": "https://media.example/webchat3.js"})
    );
    server.stop().await;

    // Rolling fr back to flex_flow needs no script edit: the kind picks its script.
    let fr = "flex_flow_sid = \"FO0123456789abcdef0123456789abcdee\"";
    let server = Server::start_with(&table(fr), Environment::default()).await;
    assert_eq!(
        script_of(&server, "fr").await["src"],
        "https://cdn.example/webchat-2.js"
    );
    server.stop().await;
}

#[test]
fn malformed_scripts_are_problems_naming_the_kind() {
    let fr = "flex_flow_sid = \"FO0123456789abcdef0123456789abcdee\"\nwidget_script = { flex_flow = { src = \"/relative.js\", integrity = \"md5-x\" } }";
    let problems = match Config::from_toml_str(&table(fr), &Environment::default()) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.problems(),
    };
    let at = "sites[0].language.\"fr\".widget_script.flex_flow";
    assert!(
        problems
            .iter()
            .any(|p| p.contains(at) && p.contains("not an absolute http(s) URL")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains(at) && p.contains("integrity")),
        "{problems:?}"
    );
    let unknown = table(
        "widget_script = { flex_flow = \"https://a.example/x.js\", flexflow = \"https://a.example/y.js\" }\nflex_flow_sid = \"FO0123456789abcdef0123456789abcdee\"",
    );
    assert!(Config::from_toml_str(&unknown, &Environment::default()).is_err());
}

/// `data-credentials="include"` needs `Access-Control-Allow-Credentials: true` from the config
/// route, on the answer and on a preflight, for allowed origins only.
#[tokio::test]
async fn credentialed_reads_are_granted_to_allowed_origins_only() {
    let server = Server::start().await;
    for (origin, granted) in [
        ("https://shop.acme.example", true),
        ("https://initech.example", false),
    ] {
        let answer = server
            .config("site=acme")
            .header("Origin", origin)
            .send()
            .await
            .unwrap();
        let preflight = server
            .client
            .request(
                reqwest::Method::OPTIONS,
                server.url("/v1/webchat/config?site=acme"),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .send()
            .await
            .unwrap();
        for response in [answer, preflight] {
            let credentials = response.headers().get("access-control-allow-credentials");
            match granted {
                true => assert_eq!(credentials.unwrap(), "true", "{origin}"),
                false => assert!(credentials.is_none(), "{origin}"),
            }
        }
    }
    server.stop().await;
}

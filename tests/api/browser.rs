//! The embed script in a real browser: Debian's headless Chromium, driven over WebDriver
//! ([`crate::support::webdriver`]), loads storefront pages from their own loopback origins
//! (`shop.acme.test`, `cdn.acme.test`, … mapped to 127.0.0.1 by Chromium's host resolver rules,
//! so `Origin`, CORS, preflights and the HTTP cache behave as on the internet), each with the
//! one-line snippet pointing at flexroute (`chat.flexroute.test`):
//!
//! - `flex_flow` with Twilio's real Webchat 2.x bundle (`tests/browser/fetch-webchat.sh` puts
//!   it in `target/browser/`): the pre-engagement form shows the visitor's language, a run-time
//!   language switch restarts it, and a screenshot of it is written to `target/browser/`;
//! - `conversations` with a stand-in for `twilio-webchat-react-app`'s session calls, against
//!   flexroute's session backend and the emulator;
//! - `webchat3` with a stand-in `Twilio.initWebchat` (and Subresource Integrity);
//! - failures (unknown site, disallowed origin, flexroute down, 503s, slow answers, the snippet
//!   twice) and the browser's HTTP cache of the config answer.
//!
//! One test, one browser: each start of Chromium costs seconds on a small machine.
//! `FLEXROUTE_SKIP_BROWSER=1` skips it on purpose (not under `CI=true`); otherwise a missing
//! browser or bundle fails it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::support::conversations::{SERVICE, emulator, start};
use crate::support::webdriver::{self, Browser};
use crate::support::{ACCOUNT, metric};

const WEBCHAT_VERSION: &str = "2.9.4";
const BUNDLE: &str = "twilio-flex-webchat.prod.browser.js";
const DEPLOYMENT_KEY: &str = "CVbrowser-test-deployment-key";
/// `server.cache_max_age_secs` of the flexroute under test: short, for the cache test.
const MAX_AGE_SECS: u64 = 4;

/// Records what a test page does before any other script: console lines, uncaught errors,
/// `DOMContentLoaded` and when Webchat's entry point first appears.
const HARNESS: &str = r#"<script>
window.__log = [];
['log', 'info', 'warn', 'error'].forEach(function (k) {
  var original = console[k];
  console[k] = function () { __log.push(k + ': ' + Array.prototype.join.call(arguments, ' ')); return original.apply(console, arguments); };
});
window.__errors = [];
window.onerror = function (message) { __errors.push(String(message)); };
addEventListener('unhandledrejection', function (e) { __errors.push('unhandled rejection: ' + e.reason); });
document.addEventListener('DOMContentLoaded', function () { window.__domready = performance.now(); });
new MutationObserver(function () {
  if (!window.__entry && document.querySelector('.Twilio-EntryPoint')) window.__entry = performance.now();
}).observe(document.documentElement, { childList: true, subtree: true });
</script>"#;

/// Stands in for Webchat 3: records what it is started with.
const WEBCHAT3_STANDIN: &str = r#"window.Twilio = window.Twilio || {};
window.Twilio.initWebchat = function (config) {
  (window.__webchat3 = window.__webchat3 || []).push(JSON.parse(JSON.stringify(config)));
  window.__webchat3At = performance.now();
};
"#;

/// Behaves as `twilio-webchat-react-app`'s session handler does when a visitor sends the
/// pre-engagement form: `POST {serverUrl}/initWebchat` with `{formData}` (JSON, so the browser
/// sends a CORS preflight first), keeps the answer, then `POST {serverUrl}/refreshToken`.
const REACT_APP_STANDIN: &str = r#"window.Twilio = window.Twilio || {};
window.Twilio.initWebchat = function (config) {
  var session = window.__session = { serverUrl: config.serverUrl, root: !!document.getElementById('twilio-webchat-widget-root') };
  var post = function (route, body) {
    return fetch(config.serverUrl + '/' + route, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (json) { return { status: r.status, body: json }; }); });
  };
  post('initWebchat', { formData: { friendlyName: 'Ana', query: 'Where is my order?' } })
    .then(function (init) {
      session.init = init;
      localStorage.setItem('TWILIO_WEBCHAT_WIDGET', JSON.stringify(init.body));
      return post('refreshToken', { token: init.body.token });
    })
    .then(function (refresh) { session.refresh = refresh; }, function (e) { session.error = String(e); });
};
"#;

/// The page server: storefront pages, widget scripts, and a fake flexroute for the answers
/// the real one does not give on demand (503s, slow answers).
#[derive(Default)]
struct Pages {
    files: Mutex<HashMap<String, (&'static str, Bytes)>>,
    /// `host path` of every request, in order.
    hits: Mutex<Vec<String>>,
    /// The answer of the fake flexroute's slow modes.
    answer: Mutex<String>,
    /// An answer whose widget script's integrity does not match the script.
    tampered: Mutex<String>,
}

impl Pages {
    fn put(&self, path: &str, content_type: &'static str, body: impl Into<Bytes>) {
        self.files
            .lock()
            .unwrap()
            .insert(path.to_string(), (content_type, body.into()));
    }

    fn hits(&self, suffix: &str) -> usize {
        let hits = self.hits.lock().unwrap();
        hits.iter().filter(|hit| hit.ends_with(suffix)).count()
    }
}

async fn serve_page(State(pages): State<Arc<Pages>>, request: Request) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let path = request.uri().path().to_string();
    pages.hits.lock().unwrap().push(format!("{host} {path}"));
    let cors = [
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (header::ACCESS_CONTROL_EXPOSE_HEADERS, "Retry-After"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    match path.as_str() {
        "/fake/503/v1/webchat/config" => {
            let body = r#"{"error":{"code":"address_unavailable","message":"not yet"}}"#;
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                cors,
                [(header::RETRY_AFTER, "1")],
                body,
            )
                .into_response();
        }
        "/fake/slow/v1/webchat/config" | "/fake/late/v1/webchat/config" => {
            let delay = if path.contains("/slow/") { 1200 } else { 3000 };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let body = pages.answer.lock().unwrap().clone();
            return (cors, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        }
        "/fake/tampered/v1/webchat/config" => {
            let body = pages.tampered.lock().unwrap().clone();
            return (cors, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        }
        _ => {}
    }
    let file = pages.files.lock().unwrap().get(&path).cloned();
    match file {
        Some((content_type, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("max-age=600"),
                ),
                (
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                ),
            ],
            body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A storefront page: the harness, then `snippet` in its head, and some content of its own.
fn page(snippet: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>ACME</title>{HARNESS}\n{snippet}\n</head>\
         <body><main id=\"content\">Our products</main></body></html>"
    )
}

fn bundle_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/browser")
        .join(format!("flex-webchat-ui-{WEBCHAT_VERSION}"))
}

/// Why the browser test cannot run here, if it cannot.
fn missing() -> Option<String> {
    webdriver::available().err().or_else(|| {
        let bundle = bundle_dir().join(BUNDLE);
        (!bundle.exists()).then(|| {
            format!(
                "{} is missing: run `bash tests/browser/fetch-webchat.sh` (npm)",
                bundle.display()
            )
        })
    })
}

fn sri_sha384(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA384, bytes);
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

fn table(cdn: &str, pages_port: u16) -> String {
    let origin = |host: &str| format!("http://{host}.acme.test:{pages_port}");
    let form = |description: &str, name: &str, submit: &str| {
        format!(
            "widget = {{ preEngagementConfig = {{ description = \"{description}\", submitLabel = \"{submit}\", \
             fields = [{{ label = \"{name}\", type = \"InputItem\", attributes = {{ name = \"friendlyName\", type = \"text\", required = true }} }}] }} }}"
        )
    };
    format!(
        r#"
[server]
shutdown_drain_ms = 0
cache_max_age_secs = {MAX_AGE_SECS}

[twilio]
account_sid = "{ACCOUNT}"
conversations_service_sid = "{SERVICE}"

[defaults]
studio_flow_sid = "FW0123456789abcdef0123456789abcdef"

[defaults.widget]
startEngagementOnInit = false

[defaults.widget_script]
flex_flow = "{cdn}/webchat2/{BUNDLE}"
conversations = "{cdn}/react-app-standin.js"
webchat3 = {{ src = "{cdn}/webchat3-standin.js", integrity = "{integrity}" }}

[[sites]]
id = "acme"
hosts = ["shop.acme.test"]
allowed_origins = ["{shop}"]
default_language = "en-US"
languages = ["en-US", "es-MX", "fr-CA"]
path_language = true
[sites.language."en-US"]
flex_flow_sid = "FO00000000000000000000000000000001"
{en}
[sites.language."es-MX"]
flex_flow_sid = "FO00000000000000000000000000000002"
{es}
[sites.language."fr-CA"]
flex_flow_sid = "FO00000000000000000000000000000003"
{fr}

[[sites]]
id = "initech"
hosts = ["initech.acme.test"]
allowed_origins = ["{initech}"]
default_language = "en-US"
languages = ["en-US"]
address_kind = "conversations"

[[sites]]
id = "globex"
hosts = ["globex.acme.test"]
allowed_origins = ["{globex}"]
default_language = "de-DE"
languages = ["de-DE"]
address_kind = "webchat3"
widget = {{ theme = "light" }}
[sites.language."de-DE"]
deployment_key = "{DEPLOYMENT_KEY}"

# Its pages' origin is not allowed: browsers must not read its answers.
[[sites]]
id = "hooli"
hosts = ["hooli.acme.test"]
default_language = "en-US"
languages = ["en-US"]
[sites.language."en-US"]
flex_flow_sid = "FO00000000000000000000000000000009"
"#,
        integrity = sri_sha384(WEBCHAT3_STANDIN.as_bytes()),
        shop = origin("shop"),
        initech = origin("initech"),
        globex = origin("globex"),
        en = form("Hi! What can we do for you?", "Name", "Start chat"),
        es = form("¡Hola! ¿En qué podemos ayudarte?", "Nombre", "Empezar"),
        fr = form(
            "Bonjour ! Que pouvons-nous faire pour vous ?",
            "Nom",
            "Commencer"
        ),
    )
}

/// `flexroute.ready`, settled: `{"ok": {site, language, kind}}` or `{"error": message}`.
async fn ready(browser: &Browser) -> Value {
    browser
        .run(
            "return window.flexroute.ready.then(function (r) { return { ok: r }; }, \
             function (e) { return { error: e.message }; });",
        )
        .await
}

/// The console lines the embed script wrote on this page.
async fn embed_lines(browser: &Browser) -> Vec<String> {
    let log = browser.run("return window.__log").await;
    log.as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|line| line.contains("flexroute:"))
        .map(String::from)
        .collect()
}

/// Nothing was thrown into the page, and its own content is there.
async fn assert_page_unharmed(browser: &Browser, what: &str) {
    let state = browser
        .run(
            "return { errors: window.__errors, content: document.getElementById('content').textContent, \
             domready: typeof window.__domready };",
        )
        .await;
    assert_eq!(state["errors"], json!([]), "{what}: {state}");
    assert_eq!(state["content"], "Our products", "{what}");
    assert_eq!(state["domready"], "number", "{what}");
}

/// The text of Webchat 2.x's pre-engagement form, opening the widget first if it is closed.
async fn pre_engagement_form(browser: &Browser) -> String {
    browser
        .wait_for(
            "document.querySelector('.Twilio-EntryPoint')",
            Duration::from_secs(30),
        )
        .await;
    let open = browser
        .run("return !!document.querySelector('.Twilio-DynamicForm')")
        .await;
    if open != true {
        browser.click(".Twilio-EntryPoint").await;
    }
    let text = browser
        .wait_for(
            "document.querySelector('.Twilio-DynamicForm') && document.querySelector('.Twilio-DynamicForm').innerText",
            Duration::from_secs(10),
        )
        .await;
    text.as_str().unwrap().to_string()
}

fn config_requests(metrics: &str, status: &str) -> f64 {
    metric(
        metrics,
        &format!(
            r#"flexroute_http_requests_total{{route="/v1/webchat/config",status="{status}"}}"#
        ),
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embed_script_in_chromium() {
    if std::env::var("FLEXROUTE_SKIP_BROWSER").is_ok_and(|v| v == "1")
        && !std::env::var("CI").is_ok_and(|v| v == "true")
    {
        eprintln!("FLEXROUTE_SKIP_BROWSER=1: not testing the embed script in Chromium");
        return;
    }
    if let Some(why) = missing() {
        panic!(
            "the browser test cannot run: {why} (FLEXROUTE_SKIP_BROWSER=1 skips it, except under CI=true)"
        );
    }
    let began = Instant::now();

    // The storefronts' server, on its own port; then flexroute, whose table names it.
    let pages = Arc::new(Pages::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pages_port = listener.local_addr().unwrap().port();
    let router = Router::new().fallback(serve_page).with_state(pages.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let cdn = format!("http://cdn.acme.test:{pages_port}");
    let (emulator, base) = emulator().await;
    let server = start(&table(&cdn, pages_port), &base).await;
    let flexroute = format!("http://chat.flexroute.test:{}", server.public.port());
    let shop = format!("http://shop.acme.test:{pages_port}");
    let snippet = |attributes: &str| {
        format!("<script src=\"{flexroute}/v1/webchat/embed.js\" async{attributes}></script>")
    };

    let bundle = std::fs::read(bundle_dir().join(BUNDLE)).unwrap();
    pages.put(&format!("/webchat2/{BUNDLE}"), "text/javascript", bundle);
    pages.put("/webchat3-standin.js", "text/javascript", WEBCHAT3_STANDIN);
    pages.put(
        "/react-app-standin.js",
        "text/javascript",
        REACT_APP_STANDIN,
    );
    for path in ["/es-mx/index.html", "/es-mx/shoes.html", "/fr-ca/"] {
        pages.put(path, "text/html", page(&snippet("")));
    }
    for i in 0..10 {
        pages.put(
            &format!("/en-us/p{i}.html"),
            "text/html",
            page(&snippet("")),
        );
    }

    // The script as served, and its size.
    let embed = server
        .get("/v1/webchat/embed.js")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let gzipped = gzip_len(&embed);
    println!(
        "embed.js: {} bytes served, {} gzipped",
        embed.len(),
        gzipped.map_or("?".into(), |n| n.to_string())
    );

    let browser =
        Browser::start("MAP *.acme.test 127.0.0.1, MAP chat.flexroute.test 127.0.0.1").await;
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser");

    // flex_flow, Twilio's Webchat 2.x: an es-MX page shows the es-MX form.
    browser.goto(&format!("{shop}/es-mx/index.html")).await;
    assert_eq!(
        ready(&browser).await,
        json!({"ok": {"site": "acme", "language": "es-MX", "kind": "flex_flow"}})
    );
    let form = pre_engagement_form(&browser).await;
    assert!(form.contains("¡Hola! ¿En qué podemos ayudarte?"), "{form}");
    assert!(form.to_lowercase().contains("empezar"), "{form}");
    assert!(form.contains("Nombre"), "{form}");
    let png = browser.screenshot().await;
    std::fs::create_dir_all(&target).unwrap();
    let shot = target.join("flex-webchat-es-MX.png");
    std::fs::write(&shot, png).unwrap();
    println!("screenshot: {}", shot.display());
    assert_page_unharmed(&browser, "es-MX page").await;
    assert_eq!(embed_lines(&browser).await, Vec::<String>::new());
    let log = browser.run("return window.__log").await;
    println!("Webchat 2.x console on the es-MX page: {log}");

    // A single-page storefront switching language restarts the widget, in French.
    let switched = browser
        .run(
            "return flexroute.setLanguage('fr-CA').then(function (r) { return { ok: r }; }, \
             function (e) { return { error: e.message }; });",
        )
        .await;
    assert_eq!(
        switched,
        json!({"ok": {"site": "acme", "language": "fr-CA", "kind": "flex_flow"}})
    );
    let form = pre_engagement_form(&browser).await;
    assert!(
        form.contains("Bonjour ! Que pouvons-nous faire pour vous ?"),
        "{form}"
    );
    assert!(form.to_lowercase().contains("commencer"), "{form}");
    let counts = browser
        .run(&format!(
            "return {{ frames: document.querySelectorAll('#twilio-customer-frame').length, \
             bundles: performance.getEntriesByType('resource').filter(function (e) {{ return e.name.indexOf('{BUNDLE}') >= 0; }}).length }}"
        ))
        .await;
    assert_eq!(counts, json!({"frames": 1, "bundles": 1}));
    assert_page_unharmed(&browser, "language switch").await;

    // An fr-CA path: French, from the page URL alone.
    browser.goto(&format!("{shop}/fr-ca/")).await;
    assert_eq!(ready(&browser).await["ok"]["language"], "fr-CA");
    let form = pre_engagement_form(&browser).await;
    assert!(form.contains("Bonjour"), "{form}");

    // data-lang chooses the language whatever the page's path says.
    pages.put(
        "/fr-ca/spanish.html",
        "text/html",
        page(&snippet(" data-lang=\"es-MX\"")),
    );
    browser.goto(&format!("{shop}/fr-ca/spanish.html")).await;
    assert_eq!(ready(&browser).await["ok"]["language"], "es-MX");

    // Time from navigation to the entry point rendered, median of 10 loads: with an empty
    // HTTP cache (Webchat's 2.4 MB fetched and compiled each time), then with a warm one.
    for cold in [true, false] {
        let mut times = Vec::new();
        for i in 0..10 {
            if cold {
                browser.clear_cache().await;
            }
            browser.goto(&format!("{shop}/en-us/p{i}.html")).await;
            let at = browser
                .wait_for("window.__entry", Duration::from_secs(30))
                .await;
            times.push(at.as_f64().unwrap());
        }
        times.sort_by(f64::total_cmp);
        println!(
            "page load to Webchat 2.x entry point, {} cache: median {:.0} ms of 10 loads (min {:.0}, max {:.0})",
            if cold { "empty" } else { "warm" },
            (times[4] + times[5]) / 2.0,
            times[0],
            times[9]
        );
    }

    // conversations: the react app's session calls reach flexroute through CORS and a
    // preflight, and a chat starts at the emulator.
    let initech = format!("http://initech.acme.test:{pages_port}");
    pages.put("/help.html", "text/html", page(&snippet("")));
    browser.goto(&format!("{initech}/help.html")).await;
    assert_eq!(
        ready(&browser).await,
        json!({"ok": {"site": "initech", "language": "en-US", "kind": "conversations"}})
    );
    let session = browser
        .wait_for(
            "window.__session && (window.__session.refresh || window.__session.error) && window.__session",
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(
        session["serverUrl"],
        format!("{flexroute}/v1/webchat/initech/en-US"),
        "{session}"
    );
    assert_eq!(session["root"], true, "{session}");
    assert_eq!(session["init"]["status"], 200, "{session}");
    for key in ["token", "conversationSid", "identity", "expiration"] {
        assert!(!session["init"]["body"][key].is_null(), "{key}: {session}");
    }
    assert_eq!(session["refresh"]["status"], 200, "{session}");
    assert!(session["refresh"]["body"]["token"].is_string(), "{session}");
    assert_eq!(emulator.web_chats().len(), 1);
    // Each JSON POST was preceded by the browser's preflight, answered 204.
    let metrics = server.metrics().await;
    let preflights: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("flexroute_http_requests_total{") && l.contains(r#"status="204""#)
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(preflights, 2.0, "{metrics}");
    assert_page_unharmed(&browser, "conversations").await;

    // webchat3: Twilio.initWebchat(appConfig), its script checked against its integrity.
    let globex = format!("http://globex.acme.test:{pages_port}");
    for path in ["/a.html", "/b.html", "/c.html", "/twice.html"] {
        let twice = if path == "/twice.html" {
            format!("{}\n{}", snippet(""), snippet(""))
        } else {
            snippet("")
        };
        pages.put(path, "text/html", page(&twice));
    }
    let before = server.metrics().await;
    browser.goto(&format!("{globex}/a.html")).await;
    let first_view = Instant::now();
    assert_eq!(
        ready(&browser).await,
        json!({"ok": {"site": "globex", "language": "de-DE", "kind": "webchat3"}})
    );
    let started = browser.run("return window.__webchat3").await;
    assert_eq!(started.as_array().unwrap().len(), 1);
    assert_eq!(started[0]["deploymentKey"], DEPLOYMENT_KEY);
    assert_eq!(
        started[0]["context"],
        json!({"site": "globex", "language": "de-DE"})
    );
    assert_eq!(started[0]["theme"], "light");
    let integrity = browser
        .run("return document.querySelector('script[src$=\"webchat3-standin.js\"]').integrity")
        .await;
    assert!(integrity.as_str().unwrap().starts_with("sha384-"));

    // Caching: another page within max-age asks nothing; after it, a revalidation (304).
    browser.goto(&format!("{globex}/b.html")).await;
    assert!(ready(&browser).await["ok"].is_object());
    assert!(
        first_view.elapsed() < Duration::from_secs(MAX_AGE_SECS),
        "the second view came too late to test the cache"
    );
    let after = server.metrics().await;
    assert_eq!(
        config_requests(&after, "200") + config_requests(&after, "304"),
        config_requests(&before, "200") + config_requests(&before, "304") + 1.0,
        "the second page view was answered by the browser's cache"
    );
    // Waiting out max-age is what this checks: there is no event to wait for instead.
    tokio::time::sleep(Duration::from_secs(MAX_AGE_SECS) + Duration::from_millis(300)).await;
    browser.goto(&format!("{globex}/c.html")).await;
    assert!(ready(&browser).await["ok"].is_object());
    let revalidated = server.metrics().await;
    assert_eq!(
        config_requests(&revalidated, "304"),
        config_requests(&after, "304") + 1.0,
        "after max-age the browser revalidated"
    );

    // The snippet twice: one config request, one widget script, one start, no complaint.
    browser.goto(&format!("{globex}/twice.html")).await;
    assert!(ready(&browser).await["ok"].is_object());
    let counts = browser
        .run(
            "return { starts: window.__webchat3.length, \
             configs: performance.getEntriesByType('resource').filter(function (e) { return e.name.indexOf('/v1/webchat/config') >= 0; }).length, \
             scripts: document.querySelectorAll('script[src$=\"webchat3-standin.js\"]').length };",
        )
        .await;
    assert_eq!(counts, json!({"starts": 1, "configs": 1, "scripts": 1}));
    assert_eq!(embed_lines(&browser).await, Vec::<String>::new());

    // Failures: one console line each, no widget, nothing thrown, the page unharmed.
    let failures = [
        (
            "unknown site",
            format!("{shop}/nope.html"),
            snippet(" data-site=\"nope\""),
            "flexroute unreachable, or this origin not allowed",
        ),
        (
            "disallowed origin",
            format!("http://hooli.acme.test:{pages_port}/index.html"),
            snippet(""),
            "flexroute unreachable, or this origin not allowed",
        ),
        (
            "503 three times",
            format!("{shop}/busy.html"),
            format!("<script src=\"{cdn}/fake/503/v1/webchat/embed.js\" async></script>"),
            "503 address_unavailable: not yet",
        ),
        (
            "a widget script that fails its integrity",
            format!("{shop}/tampered.html"),
            format!("<script src=\"{cdn}/fake/tampered/v1/webchat/embed.js\" async></script>"),
            "cannot load",
        ),
        (
            "an answer later than data-timeout",
            format!("{shop}/late.html"),
            format!(
                "<script src=\"{cdn}/fake/late/v1/webchat/embed.js\" data-timeout=\"800\" async></script>"
            ),
            "within 800 ms",
        ),
    ];
    for path in ["/fake/503", "/fake/late", "/fake/slow", "/fake/tampered"] {
        pages.put(
            &format!("{path}/v1/webchat/embed.js"),
            "text/javascript",
            embed.clone(),
        );
    }
    *pages.answer.lock().unwrap() = json!({
        "site": "globex", "language": "de-DE",
        "address": {"kind": "webchat3", "sid": DEPLOYMENT_KEY},
        "appConfig": {"deploymentKey": DEPLOYMENT_KEY},
        "widgetScript": {"src": format!("{cdn}/webchat3-standin.js")},
    })
    .to_string();
    *pages.tampered.lock().unwrap() = json!({
        "site": "globex", "language": "de-DE",
        "address": {"kind": "webchat3", "sid": DEPLOYMENT_KEY},
        "appConfig": {"deploymentKey": DEPLOYMENT_KEY},
        "widgetScript": {
            "src": format!("{cdn}/webchat3-standin.js?v=2"),
            "integrity": sri_sha384(b"another script"),
        },
    })
    .to_string();
    for (what, url, snippet, expected) in failures {
        let path = url.split(&format!(":{pages_port}")).nth(1).unwrap();
        pages.put(path, "text/html", page(&snippet));
        browser.goto(&url).await;
        let settled = ready(&browser).await;
        let error = settled["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {settled}"));
        assert!(error.contains(expected), "{what}: {error}");
        let lines = embed_lines(&browser).await;
        assert_eq!(lines.len(), 1, "{what}: {lines:?}");
        assert!(lines[0].contains(expected), "{what}: {lines:?}");
        println!("{what}: {}", lines[0]);
        let widgets = browser
            .run("return document.querySelectorAll('#twilio-customer-frame, #twilio-webchat-widget-root').length + (window.__webchat3 ? 1 : 0)")
            .await;
        assert_eq!(widgets, 0, "{what}");
        assert_page_unharmed(&browser, what).await;
    }
    assert_eq!(
        pages.hits("/fake/503/v1/webchat/config"),
        4,
        "asked, then 3 retries"
    );

    // A slow answer within the timeout: the page is not held up, the widget starts later.
    pages.put(
        "/slow.html",
        "text/html",
        page(&format!(
            "<script src=\"{cdn}/fake/slow/v1/webchat/embed.js\" async></script>"
        )),
    );
    browser.goto(&format!("{shop}/slow.html")).await;
    assert!(ready(&browser).await["ok"].is_object());
    let times = browser
        .run("return { domready: window.__domready, started: window.__webchat3At }")
        .await;
    assert!(
        times["started"].as_f64().unwrap() > times["domready"].as_f64().unwrap() + 600.0,
        "{times}"
    );

    // A site that opts in to cookies: the credentialed read is granted to its allowed origin
    // (the browser refuses the answer of a `credentials: 'include'` fetch without
    // `Access-Control-Allow-Credentials: true`).
    pages.put(
        "/es-mx/cookies.html",
        "text/html",
        page(&snippet(" data-credentials=\"include\"")),
    );
    browser.goto(&format!("{shop}/es-mx/cookies.html")).await;
    assert_eq!(
        ready(&browser).await,
        json!({"ok": {"site": "acme", "language": "es-MX", "kind": "flex_flow"}})
    );
    assert_eq!(embed_lines(&browser).await, Vec::<String>::new());

    // flexroute down: the script does not load; the page does not notice.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    pages.put(
        "/down.html",
        "text/html",
        page(&format!(
            "<script src=\"http://chat.flexroute.test:{dead}/v1/webchat/embed.js\" async></script>"
        )),
    );
    browser.goto(&format!("{shop}/down.html")).await;
    assert_eq!(
        browser.run("return typeof window.flexroute").await,
        "undefined"
    );
    assert_page_unharmed(&browser, "flexroute down").await;

    browser.quit().await;
    server.stop().await;
    println!("browser test: {:.1} s", began.elapsed().as_secs_f64());
}

/// The gzip size of `bytes` (`gzip -9`), if `gzip` is installed.
fn gzip_len(bytes: &[u8]) -> Option<usize> {
    use std::io::Write;
    let mut child = std::process::Command::new("gzip")
        .arg("-9c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(bytes).ok()?;
    Some(child.wait_with_output().ok()?.stdout.len())
}

//! A small WebDriver client (W3C WebDriver is JSON over HTTP) driving Debian's headless
//! Chromium through `chromedriver`, for the browser tests. Only what they use: a session,
//! navigation, scripts (a returned promise is awaited), element clicks and screenshots.

use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The chromedriver and Chromium of Debian's `chromium-driver` and `chromium` packages.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// Whether the browser tests can run here; `Err` says why not.
pub fn available() -> Result<(), String> {
    for path in [CHROMEDRIVER, CHROMIUM] {
        if !std::path::Path::new(path).exists() {
            return Err(format!(
                "{path} is missing (apt-get install chromium chromium-driver; .ci/run does)"
            ));
        }
    }
    Ok(())
}

pub struct Browser {
    driver: Child,
    /// Chromium's profile, removed when the browser is dropped (after it has quit).
    _profile: tempfile::TempDir,
    base: String,
    http: reqwest::Client,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and one headless Chromium session whose
    /// host names are resolved by `resolver_rules` (e.g. `MAP *.acme.test 127.0.0.1`).
    pub async fn start(resolver_rules: &str) -> Browser {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(90))
            .build()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            http,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = browser.http.get(format!("{}/status", browser.base)).send();
            if let Ok(response) = status.await
                && let Ok(bytes) = response.bytes().await
                && let Ok(body) = serde_json::from_slice::<Value>(&bytes)
                && body["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"script": 30000, "pageLoad": 30000, "implicit": 0},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=1200,900",
                    "--lang=en-US",
                    format!("--host-resolver-rules={resolver_rules}"),
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
            },
        }}});
        let session = browser.call("POST", "/session", capabilities).await;
        let id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_string();
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self
                .http
                .post(url)
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        };
        let response = request.send().await.expect("chromedriver answers");
        let status = response.status();
        let bytes = response.bytes().await.expect("chromedriver answers");
        let value: Value = serde_json::from_slice(&bytes).expect("chromedriver answers JSON");
        assert!(status.is_success(), "WebDriver {method} {path}: {value}");
        value["value"].clone()
    }

    /// Navigates and waits for the page's `load` event.
    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    /// Runs `script` as a function body; a promise it returns is awaited.
    pub async fn run(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// Polls `expression` until it is truthy; returns its value.
    pub async fn wait_for(&self, expression: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        let script = format!("return {expression};");
        loop {
            let value = self.run(&script).await;
            if !(value.is_null() || value == false || value == "" || value == 0) {
                return value;
            }
            if Instant::now() > deadline {
                let log = self.run("return window.__log || []").await;
                panic!("timed out waiting for `{expression}`; console: {log}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Clicks the first element matching a CSS selector, as a user would.
    pub async fn click(&self, selector: &str) {
        let found = self
            .call(
                "POST",
                "/element",
                json!({ "using": "css selector", "value": selector }),
            )
            .await;
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {selector}"))
            .to_string();
        self.call("POST", &format!("/element/{id}/click"), json!({}))
            .await;
    }

    /// Empties the browser's HTTP cache (a DevTools command, through chromedriver).
    pub async fn clear_cache(&self) {
        let command = json!({ "cmd": "Network.clearBrowserCache", "params": {} });
        self.call("POST", "/goog/cdp/execute", command).await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.call("GET", "/screenshot", Value::Null).await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap()
    }

    pub async fn quit(mut self) {
        let _ = self.http.delete(&self.base).send().await.map(|_| ()).ok();
        let _ = self.driver.kill().await;
    }
}

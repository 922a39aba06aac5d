//! `GET /openapi.json` on both listeners: OpenAPI 3.1 documents that list exactly the routes
//! and methods each router serves, and that real answers match — status documented, content
//! type, headers, and bodies valid against the schemas — and that every documented status is
//! answered at least once (a declared body over the limit on every operation, a server with
//! the rate limit on for 429). (`tests/contract/schemathesis.sh`
//! fuzzes the same documents against a running `flexroute serve --sandbox`.)

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flexroute::Services;
use flexroute::config::Environment;
use flexroute::reload::ConfigSource;
use jsonschema::Validator;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response};
use serde_json::Value;

use crate::support::{ADMIN_TOKEN, FIXTURE, Server, emulator, raw_exchange, start_provisioning};

const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// One listener's document, and the (method, path, status) triples answers have shown.
struct Contract {
    doc: Value,
    seen: Mutex<BTreeSet<(String, String, String)>>,
}

impl Contract {
    async fn load(client: &reqwest::Client, listener: SocketAddr) -> Contract {
        let response = client
            .get(format!("http://{listener}/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let doc: Value = serde_json::from_slice(&response.bytes().await.unwrap())
            .expect("/openapi.json is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
        Contract {
            doc,
            seen: Mutex::default(),
        }
    }

    fn paths(&self) -> BTreeSet<String> {
        self.doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    fn operation(&self, method: &Method, path: &str) -> Option<&Value> {
        let template = self.template(path)?;
        self.doc["paths"][template.as_str()].get(method.as_str().to_ascii_lowercase())
    }

    /// The documented path `path` is an instance of: itself, or a template whose `{name}`
    /// segments match any one segment.
    fn template(&self, path: &str) -> Option<String> {
        let paths = self.doc["paths"].as_object().unwrap();
        if paths.contains_key(path) {
            return Some(path.to_string());
        }
        let segments: Vec<&str> = path.split('/').collect();
        paths
            .keys()
            .find(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == segments.len()
                    && parts.iter().zip(&segments).all(|(part, segment)| {
                        part == segment
                            || (part.starts_with('{') && part.ends_with('}') && !segment.is_empty())
                    })
            })
            .cloned()
    }

    /// A validator for `schema` (inline, or a `$ref` into this document's components).
    fn validator(&self, schema: &Value) -> Validator {
        let mut root = schema.clone();
        root["components"] = self.doc["components"].clone();
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema does not compile ({e}): {schema}"))
    }

    fn assert_valid(&self, schema: &Value, instance: &Value, what: &str) {
        let validator = self.validator(schema);
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{what} breaks {schema}: {errors:?}\n{instance:#}"
        );
    }

    /// Checks one answer against the document and returns its status and JSON body (`Null`
    /// when the body is empty or not JSON).
    async fn check(&self, method: Method, response: Response) -> (u16, Value) {
        let path = response.url().path().to_string();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        self.check_answer(method, &path, status, &headers, &body)
    }

    /// [`Contract::check`] for an answer read off a raw socket ([`raw_answer`]).
    fn check_answer(
        &self,
        method: Method,
        path: &str,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> (u16, Value) {
        let what = format!("{method} {path} → {status}");
        let operation = self
            .operation(&method, path)
            .unwrap_or_else(|| panic!("{what}: operation not documented"));
        let documented = &operation["responses"][status.to_string()];
        assert!(documented.is_object(), "{what}: status not documented");
        self.seen.lock().unwrap().insert((
            method.to_string(),
            self.template(path).unwrap(),
            status.to_string(),
        ));

        if let Some(documented_headers) = documented["headers"].as_object() {
            for (name, header) in documented_headers {
                match headers.get(name.as_str()) {
                    Some(value) => {
                        let value = Value::from(value.to_str().unwrap());
                        self.assert_valid(&header["schema"], &value, &format!("{what} {name}"));
                    }
                    None => assert!(
                        header["required"] != true,
                        "{what}: required header {name} missing"
                    ),
                }
            }
        }

        let Some(content) = documented["content"].as_object() else {
            assert!(body.is_empty(), "{what}: documented without a body");
            return (status, Value::Null);
        };
        let content_type = headers["content-type"].to_str().unwrap();
        let (media, entry) = content
            .iter()
            .find(|(media, _)| media.split(';').next() == content_type.split(';').next())
            .unwrap_or_else(|| panic!("{what}: content type {content_type} not documented"));
        if media.starts_with("application/json") {
            let json: Value =
                serde_json::from_slice(body).unwrap_or_else(|e| panic!("{what}: not JSON ({e})"));
            self.assert_valid(&entry["schema"], &json, &what);
            (status, json)
        } else {
            let text = Value::from(String::from_utf8(body.to_vec()).unwrap());
            self.assert_valid(&entry["schema"], &text, &what);
            (status, Value::Null)
        }
    }

    /// Every documented operation, as (method, path).
    fn operations(&self) -> Vec<(Method, String)> {
        let mut operations = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                operations.push((method, path.clone()));
            }
        }
        operations
    }

    /// Sends every documented operation a request that declares a body one byte over the
    /// limit (and sends none: the answer comes first), on a raw socket; each must be a
    /// documented `413 payload_too_large` that closes the connection.
    async fn check_refused_bodies(&self, listener: SocketAddr, token: Option<&str>) {
        let over = flexroute::http::MAX_BODY_BYTES + 1;
        let authorization = token
            .map(|token| format!("Authorization: Bearer {token}\r\n"))
            .unwrap_or_default();
        for (method, path) in self.operations() {
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: acme.example\r\n{authorization}\
                Content-Length: {over}\r\n\r\n"
            );
            let (status, headers, body) = raw_answer(listener, &request).await;
            let (status, body) = self.check_answer(method.clone(), &path, status, &headers, &body);
            assert_eq!(
                (status, &body["error"]["code"]),
                (413, &"payload_too_large".into()),
                "{method} {path}"
            );
        }
    }

    /// Sends every documented operation a request with two `Host` lines, and one with none, on
    /// a raw socket; each must be a documented `400 invalid_request` that closes the
    /// connection. (HTTP/1.1 requires exactly one, RFC 9112 §3.2.)
    async fn check_refused_hosts(&self, listener: SocketAddr, token: Option<&str>) {
        let authorization = token
            .map(|token| format!("Authorization: Bearer {token}\r\n"))
            .unwrap_or_default();
        for (method, path) in self.operations() {
            for hosts in ["Host: acme.example\r\nHost: globex.example\r\n", ""] {
                let request = format!(
                    "{method} {path} HTTP/1.1\r\n{hosts}{authorization}Content-Length: 0\r\n\r\n"
                );
                let (status, headers, body) = raw_answer(listener, &request).await;
                assert_eq!(headers["connection"], "close", "{method} {path}");
                let (status, body) =
                    self.check_answer(method.clone(), &path, status, &headers, &body);
                assert_eq!(
                    (status, &body["error"]["code"]),
                    (400, &"invalid_request".into()),
                    "{method} {path} with {hosts:?}"
                );
            }
        }
    }

    /// Every documented (method, path, status) was answered at least once, but `except`.
    fn assert_all_seen(&self, except: &[(&str, &str, &str)]) {
        self.assert_all_seen_where(except, |_| true);
    }

    /// [`Contract::assert_all_seen`] for the documented paths `include` accepts.
    fn assert_all_seen_where(&self, except: &[(&str, &str, &str)], include: impl Fn(&str) -> bool) {
        let seen = self.seen.lock().unwrap();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            if !include(path) {
                continue;
            }
            for (method, operation) in item.as_object().unwrap() {
                for status in operation["responses"].as_object().unwrap().keys() {
                    let method = method.to_ascii_uppercase();
                    let key = (method.clone(), path.clone(), status.clone());
                    let excused = except
                        .iter()
                        .any(|e| (e.0, e.1, e.2) == (&*method, &**path, &**status));
                    assert!(
                        seen.contains(&key) || excused,
                        "{method} {path} {status} documented but never answered here"
                    );
                }
            }
        }
    }
}

/// Sends `request` on a new connection and reads the answer until the server closes it: its
/// status, headers and body.
async fn raw_answer(listener: SocketAddr, request: &str) -> (u16, HeaderMap, Vec<u8>) {
    let answer = raw_exchange(listener, request.as_bytes()).await;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {answer:?}"));
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    let length: usize = headers["content-length"].to_str().unwrap().parse().unwrap();
    assert_eq!(body.len(), length, "{answer}");
    (status.parse().unwrap(), headers, body.as_bytes().to_vec())
}

/// An admin request with the token, checked against the ops document.
async fn check_admin(
    server: &Server,
    contract: &Contract,
    method: Method,
    path: &str,
) -> (u16, Value) {
    let response = request(server, server.ops, method.clone(), path)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    contract.check(method, response).await
}

fn request(
    server: &Server,
    listener: SocketAddr,
    method: Method,
    path: &str,
) -> reqwest::RequestBuilder {
    server
        .client
        .request(method, format!("http://{listener}{path}"))
}

#[tokio::test]
async fn each_document_lists_exactly_the_routes_its_listener_serves() {
    let (_emulator, env) = emulator().await;
    let server = start_provisioning(FIXTURE, env).await;
    for (listener, routes) in [
        (server.public, flexroute::http::public_paths()),
        (server.ops, flexroute::http::ops_paths()),
    ] {
        let contract = Contract::load(&server.client, listener).await;
        let routes: BTreeSet<String> = routes.iter().map(|r| r.to_string()).collect();
        assert_eq!(contract.paths(), routes, "documented paths on {listener}");
        // Each documented method is served, and every other one is 405.
        for path in &routes {
            for method in METHODS {
                let response = request(&server, listener, method.clone(), path)
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .unwrap();
                let documented = contract.operation(&method, path).is_some();
                assert_eq!(
                    response.status() != 405,
                    documented,
                    "{method} {path} on {listener}: {} but documented: {documented}",
                    response.status()
                );
            }
        }
    }

    // The admin operations need the bearer token; nothing on the public listener does.
    let public = Contract::load(&server.client, server.public).await;
    let ops = Contract::load(&server.client, server.ops).await;
    let scheme = &ops.doc["components"]["securitySchemes"]["admin_token"];
    assert_eq!(
        (&scheme["type"], &scheme["scheme"]),
        (&"http".into(), &"bearer".into())
    );
    for (path, method) in [
        ("/admin/routes", Method::GET),
        ("/admin/provision", Method::POST),
        ("/admin/reload", Method::POST),
    ] {
        let operation = ops.operation(&method, path).unwrap();
        assert_eq!(
            operation["security"],
            serde_json::json!([{"admin_token": []}])
        );
    }
    assert!(!public.doc.to_string().contains("/admin/"));
    assert!(public.doc["components"].get("securitySchemes").is_none());
    server.stop().await;
}

#[tokio::test]
async fn public_answers_match_the_document() {
    // No Twilio credentials: initech it-IT is degraded, hooli has no address at all (503).
    let env = Environment::from_pairs([("FLEXROUTE_SERVER_SHUTDOWN_DRAIN_MS", "3000")]);
    let server = Server::start_full(FIXTURE, env, Services::default()).await;
    let contract = Contract::load(&server.client, server.public).await;
    let get = |path: &str| request(&server, server.public, Method::GET, path);

    let (status, body) = contract
        .check(
            Method::GET,
            get("/v1/webchat/config?site=acme&lang=es-MX")
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!((status, &body["language"]), (200, &"es-MX".into()));
    // Allowed origin: CORS headers; If-None-Match with the ETag: 304.
    let response = get("/v1/webchat/config?lang=fr-CA")
        .header("Origin", "https://shop.acme.example")
        .send()
        .await
        .unwrap();
    let etag = response.headers()["etag"].clone();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://shop.acme.example"
    );
    contract.check(Method::GET, response).await;
    let (status, _) = contract
        .check(
            Method::GET,
            get("/v1/webchat/config?lang=fr-CA")
                .header("Origin", "https://shop.acme.example")
                .header("If-None-Match", etag)
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, 304);
    // Referer decides: Vary names it.
    let response = get("/v1/webchat/config")
        .header("Referer", "https://www.globex.example/en/")
        .header("Accept-Language", "en-GB;q=0.9, zz-!!, *;q=0")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["vary"]
            .to_str()
            .unwrap()
            .ends_with("Referer")
    );
    contract.check(Method::GET, response).await;
    let (status, body) = contract
        .check(
            Method::GET,
            get("/v1/webchat/config?site=initech&lang=it-IT")
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!((status, &body["degraded"]), (200, &true.into()), "{body}");
    let (status, body) = contract
        .check(
            Method::GET,
            get("/v1/webchat/config?site=hooli").send().await.unwrap(),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &"address_unavailable".into())
    );
    let (status, body) = contract
        .check(
            Method::GET,
            get("/v1/webchat/config?site=nope").send().await.unwrap(),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &"unknown_site".into())
    );
    let long = format!("/v1/webchat/config?site={}", "a".repeat(3000));
    let (status, body) = contract
        .check(Method::GET, get(&long).send().await.unwrap())
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &"invalid_request".into())
    );

    for origin in ["https://acme.example", "https://evil.example"] {
        let response = request(
            &server,
            server.public,
            Method::OPTIONS,
            "/v1/webchat/config?site=acme",
        )
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "x-requested-with")
        .send()
        .await
        .unwrap();
        let granted = response
            .headers()
            .contains_key("access-control-allow-origin");
        assert_eq!(granted, origin == "https://acme.example");
        contract.check(Method::OPTIONS, response).await;
    }
    let embed = get("/v1/webchat/embed.js").send().await.unwrap();
    let etag = embed.headers()["etag"].clone();
    let (status, _) = contract.check(Method::GET, embed).await;
    assert_eq!(status, 200);
    let revalidated = get("/v1/webchat/embed.js")
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    let (status, _) = contract.check(Method::GET, revalidated).await;
    assert_eq!(status, 304);
    contract
        .check(Method::GET, get("/healthz").send().await.unwrap())
        .await;
    contract
        .check(Method::GET, get("/readyz").send().await.unwrap())
        .await;
    contract
        .check(Method::GET, get("/openapi.json").send().await.unwrap())
        .await;
    contract.check_refused_bodies(server.public, None).await;
    contract.check_refused_hosts(server.public, None).await;

    // Shutting down: readiness turns 503 while requests are still served (drain).
    let (client, public) = (server.client.clone(), server.public);
    let stopping = tokio::spawn(server.stop());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let response = client
            .get(format!("http://{public}/readyz"))
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            contract.check(Method::GET, response).await;
            break;
        }
        assert!(Instant::now() < deadline, "/readyz never turned 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stopping.await.unwrap();

    // With `widget_script` set, the answer carries the script of its kind.
    let scripted = format!(
        "{FIXTURE}\n[defaults.widget_script]\nflex_flow = {{ src = \"https://cdn.example/2.js\", integrity = \"sha384-abc\" }}\n"
    );
    let server = Server::start_with(&scripted, Environment::default()).await;
    let response = request(
        &server,
        server.public,
        Method::GET,
        "/v1/webchat/config?site=acme",
    )
    .send()
    .await
    .unwrap();
    let (status, body) = contract.check(Method::GET, response).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["widgetScript"]["src"], "https://cdn.example/2.js",
        "{body}"
    );
    server.stop().await;

    // With `server.rate_limit_per_second` set (one request per 100 s after a burst of one, so
    // no token comes back during the test), the config route's methods answer 429.
    let env = Environment::from_pairs([
        ("FLEXROUTE_SERVER_RATE_LIMIT_PER_SECOND", "0.01"),
        ("FLEXROUTE_SERVER_RATE_LIMIT_BURST", "1"),
    ]);
    let server = Server::start_with(FIXTURE, env).await;
    let config = |method| {
        request(
            &server,
            server.public,
            method,
            "/v1/webchat/config?site=acme",
        )
    };
    let (status, _) = contract
        .check(Method::GET, config(Method::GET).send().await.unwrap())
        .await;
    assert_eq!(status, 200);
    for method in [Method::GET, Method::OPTIONS] {
        let response = config(method.clone()).send().await.unwrap();
        let (status, body) = contract.check(method, response).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (429, &"rate_limited".into())
        );
    }
    server.stop().await;

    // Only a bug (a handler that panics) answers 500 `internal`. The session routes have a
    // test of their own (`session_answers_match_the_document`).
    contract.assert_all_seen_where(&[("GET", "/v1/webchat/config", "500")], |path| {
        !path.contains("{site}")
    });
}

/// The session routes' every documented answer, produced and checked against the document.
#[tokio::test]
async fn session_answers_match_the_document() {
    use crate::support::conversations::{
        emulator as conversations, start as start_sessions, table,
    };
    let (emulator, base) = conversations().await;
    let server = start_sessions(&table(""), &base).await;
    let contract = Contract::load(&server.client, server.public).await;
    let post = |path: &str, origin: &str, content_type: &str, body: &str| {
        request(&server, server.public, Method::POST, path)
            .header("Origin", origin)
            .header("Content-Type", content_type)
            .body(body.to_string())
    };
    let (ok, json_type) = ("https://shop.example", "application/json");
    let init = "/v1/webchat/shop/en/initWebchat";
    let refresh = "/v1/webchat/shop/en/refreshToken";
    let expect = async |request: reqwest::RequestBuilder, status: u16, code: &str| {
        let response = request.send().await.unwrap();
        let (got, body) = contract.check(Method::POST, response).await;
        assert_eq!(got, status, "{body}");
        if !code.is_empty() {
            assert_eq!(body["error"]["code"], code, "{body}");
        }
        body
    };
    let started = expect(post(init, ok, json_type, r#"{"formData":{}}"#), 200, "").await;
    let token = started["token"].as_str().unwrap();
    expect(
        post(refresh, ok, json_type, &format!(r#"{{"token":"{token}"}}"#)),
        200,
        "",
    )
    .await;
    for path in [init, refresh] {
        expect(post(path, ok, json_type, "{"), 400, "invalid_request").await;
        expect(
            post(path, "https://evil.example", json_type, "{}"),
            403,
            "origin_not_allowed",
        )
        .await;
        expect(
            post(path, ok, "text/plain", "{}"),
            415,
            "unsupported_media_type",
        )
        .await;
        let unknown = path.replace("/shop/", "/nope/");
        expect(post(&unknown, ok, json_type, "{}"), 404, "unknown_site").await;
        for origin in [ok, "https://evil.example"] {
            let response = request(&server, server.public, Method::OPTIONS, path)
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .send()
                .await
                .unwrap();
            let (status, _) = contract.check(Method::OPTIONS, response).await;
            assert_eq!(status, 204);
        }
    }
    expect(
        post(refresh, ok, json_type, r#"{"token":"forged"}"#),
        403,
        "invalid_token",
    )
    .await;
    emulator.switches().fail_for(Duration::from_secs(30), 500);
    expect(post(init, ok, json_type, "{}"), 502, "upstream_error").await;
    emulator.switches().clear_failures();
    contract.check_refused_bodies(server.public, None).await;
    contract.check_refused_hosts(server.public, None).await;
    server.stop().await;

    // Without credentials nothing can start a chat or sign a token: 503.
    let server = Server::start_with(&table(""), Environment::default()).await;
    let post = |path: &str| {
        request(&server, server.public, Method::POST, path)
            .header("Origin", ok)
            .header("Content-Type", json_type)
            .body(r#"{"token":"x","formData":{}}"#)
    };
    for path in [init, refresh] {
        let response = post(path).send().await.unwrap();
        let (status, body) = contract.check(Method::POST, response).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (503, &"address_unavailable".into())
        );
    }
    server.stop().await;

    // Under the per-client rate limit, every method of both routes may answer 429.
    let env = Environment::from_pairs([
        ("FLEXROUTE_SERVER_RATE_LIMIT_PER_SECOND", "0.01"),
        ("FLEXROUTE_SERVER_RATE_LIMIT_BURST", "1"),
    ]);
    let server = Server::start_with(&table(""), env).await;
    let response = request(&server, server.public, Method::OPTIONS, init)
        .header("Origin", ok)
        .send()
        .await
        .unwrap();
    let (status, _) = contract.check(Method::OPTIONS, response).await;
    assert_eq!(status, 204, "the first request is within the burst");
    for path in [init, refresh] {
        for method in [Method::POST, Method::OPTIONS] {
            let response = request(&server, server.public, method.clone(), path)
                .header("Origin", ok)
                .send()
                .await
                .unwrap();
            let (status, body) = contract.check(method, response).await;
            assert_eq!(
                (status, &body["error"]["code"]),
                (429, &"rate_limited".into())
            );
        }
    }
    server.stop().await;
    contract.assert_all_seen_where(
        &[
            ("POST", "/v1/webchat/{site}/{language}/initWebchat", "500"),
            ("POST", "/v1/webchat/{site}/{language}/refreshToken", "500"),
        ],
        |path| path.contains("{site}"),
    );
}

#[tokio::test]
async fn ops_answers_match_the_document() {
    // With the emulator: routes, plan and apply.
    let (_emulator, env) = emulator().await;
    let server = start_provisioning(FIXTURE, env).await;
    let contract = Contract::load(&server.client, server.ops).await;
    let get = |path: &str| request(&server, server.ops, Method::GET, path);
    contract
        .check(Method::GET, get("/metrics").send().await.unwrap())
        .await;
    contract
        .check(Method::GET, get("/healthz").send().await.unwrap())
        .await;
    contract
        .check(Method::GET, get("/openapi.json").send().await.unwrap())
        .await;
    contract
        .check_refused_bodies(server.ops, Some(ADMIN_TOKEN))
        .await;
    contract
        .check_refused_hosts(server.ops, Some(ADMIN_TOKEN))
        .await;
    let (status, body) = check_admin(&server, &contract, Method::GET, "/admin/routes").await;
    assert_eq!(status, 200);
    let states: BTreeSet<&str> = body["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains("ready") && states.contains("missing"),
        "{states:?}"
    );
    let (status, body) = check_admin(&server, &contract, Method::POST, "/admin/provision").await;
    assert_eq!((status, &body["dry_run"]), (200, &true.into()));
    let (status, body) = check_admin(
        &server,
        &contract,
        Method::POST,
        "/admin/provision?dry_run=false",
    )
    .await;
    assert_eq!((status, &body["dry_run"]), (200, &false.into()));
    assert!(
        body["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["result"].is_string()),
        "{body}"
    );
    let (status, _) = check_admin(
        &server,
        &contract,
        Method::POST,
        "/admin/provision?dry_run=maybe",
    )
    .await;
    assert_eq!(status, 400);
    // Started without a config file: nothing to reload.
    let (status, _) = check_admin(&server, &contract, Method::POST, "/admin/reload").await;
    assert_eq!(status, 400);
    for (method, path) in [
        (Method::GET, "/admin/routes"),
        (Method::POST, "/admin/provision"),
        (Method::POST, "/admin/reload"),
    ] {
        let response = request(&server, server.ops, method.clone(), path)
            .bearer_auth("wrong-token")
            .send()
            .await
            .unwrap();
        assert_eq!(contract.check(method, response).await.0, 401);
    }
    server.stop().await;

    // Without credentials, with a config file: plan fails upstream, reloads pass or fail.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flexroute.toml");
    std::fs::write(&path, FIXTURE).unwrap();
    let services = Services {
        admin_token: Some(ADMIN_TOKEN.into()),
        config_source: Some(ConfigSource {
            path: path.clone(),
            env: Environment::default(),
        }),
        ..Services::default()
    };
    let server = Server::start_full(FIXTURE, Environment::default(), services).await;
    let (status, _) = check_admin(&server, &contract, Method::POST, "/admin/provision").await;
    assert_eq!(status, 502);
    let (status, body) = check_admin(&server, &contract, Method::POST, "/admin/reload").await;
    assert_eq!((status, &body["outcome"]), (200, &"success".into()));
    std::fs::write(&path, FIXTURE.replace("id = \"hooli\"", "id = \"\"")).unwrap();
    let (status, body) = check_admin(&server, &contract, Method::POST, "/admin/reload").await;
    assert_eq!(
        (status, &body["outcome"]),
        (422, &"failure".into()),
        "{body}"
    );
    server.stop().await;

    // An address that sent a wrong token, with a lockout of one failure: every admin
    // operation answers 429, the right token included.
    let services = Services {
        admin_token: Some(ADMIN_TOKEN.into()),
        admin_lockout: flexroute::http::AdminLockout {
            max_failures: 1,
            ..Default::default()
        },
        ..Services::default()
    };
    let server = Server::start_full(FIXTURE, Environment::default(), services).await;
    let response = request(&server, server.ops, Method::GET, "/admin/routes")
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(contract.check(Method::GET, response).await.0, 401);
    for (method, path) in [
        (Method::GET, "/admin/routes"),
        (Method::POST, "/admin/provision"),
        (Method::POST, "/admin/reload"),
    ] {
        let (status, body) = check_admin(&server, &contract, method, path).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (429, &"rate_limited".into())
        );
    }
    server.stop().await;

    // Without a token, the admin API does not exist.
    let server = Server::start().await;
    let (status, _) = check_admin(&server, &contract, Method::GET, "/admin/routes").await;
    assert_eq!(status, 404);
    for path in ["/admin/provision", "/admin/reload"] {
        assert_eq!(
            check_admin(&server, &contract, Method::POST, path).await.0,
            404
        );
    }
    server.stop().await;

    contract.assert_all_seen(&[]);
}

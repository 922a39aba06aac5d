//! The real binary: `check`, `resolve`, and `serve` with JSON logs that never carry a secret.

use std::process::Command;

use crate::support::{ADMIN_TOKEN, BIN, EXAMPLE, Running, client};

fn flexroute(args: &[&str]) -> (i32, String) {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("FLEXROUTE_LOG")
        .output()
        .expect("run flexroute");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

/// A state path that cannot hold the state (`/dev/null`, a directory) is named by `check`
/// and refused by `serve` at start, before it listens.
#[test]
fn a_state_path_that_is_not_a_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap();
    for path in ["/dev/null", folder] {
        let state = format!("file:{path}");
        let output = Command::new(BIN)
            .args(["check", "--config", EXAMPLE])
            .env_remove("FLEXROUTE_LOG")
            .env("FLEXROUTE_PROVISIONING_STATE", &state)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{out}");
        assert!(
            out.contains(&format!("provisioning.state: {path} is not a regular file")),
            "{out}"
        );
    }
}

#[test]
fn check_prints_a_summary_or_every_problem() {
    let (code, out) = flexroute(&["check", "--config", EXAMPLE]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK"), "{out}");
    assert!(
        out.contains(
            "3 site(s), 9 (site, language) pair(s): 6 pinned, 3 to provision; 7 host pattern(s)"
        ),
        "{out}"
    );
    assert!(
        out.contains("address kinds: 6 flex_flow, 2 conversations, 1 webchat3"),
        "{out}"
    );
    assert!(out.contains("fr-CA → to provision (flex_flow)"), "{out}");
    assert!(
        out.contains("es-US → to provision (conversations)"),
        "{out}"
    );
    assert!(
        out.contains("fr-FR → CVaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa (webchat3)"),
        "{out}"
    );
    // Without an API key the conversations site is named in a warning, not refused.
    assert!(
        out.contains("warning: conversations pairs (first: site `initech` language `en-US`)"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[provisioning]\nenabled = false\n[[sites]]\nid = \"a\"\nhosts = [\"a.example\"]\ndefault_language = \"de\"\nlanguages = [\"en\", \"e n\"]\n\
         [[sites]]\nid = \"b\"\nhosts = [\"a.example\"]\ndefault_language = \"en\"\nlanguages = [\"en\"]\nflavour = 1\n",
    )
    .unwrap();
    let (code, out) = flexroute(&["check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    for expected in [
        "5 problem(s)",
        "twilio.account_sid: required",
        "sites[1].flavour: unknown key",
        "sites[0].languages[1]: `e n` is not a valid language tag",
        "sites[0].default_language: `de` is not one of this site's languages",
        "sites[1].hosts[0]: duplicate host `a.example`",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }

    let (code, out) = flexroute(&["check", "--config", "/nonexistent/flexroute.toml"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("cannot read /nonexistent/flexroute.toml"),
        "{out}"
    );
}

#[test]
fn resolve_explains_the_decision_offline() {
    let (code, out) = flexroute(&[
        "resolve",
        "--config",
        EXAMPLE,
        "--site",
        "acme",
        "--accept-language",
        "es-AR,fr;q=0.5",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("site:     acme  (by `site` parameter)"),
        "{out}"
    );
    assert!(
        out.contains("language: es-MX  (by Accept-Language: \"es-AR\", via subtag fallback)"),
        "{out}"
    );
    assert!(
        out.contains("address:  FO22222222222222222222222222222222  (pinned in config)"),
        "{out}"
    );

    let (code, out) = flexroute(&[
        "resolve",
        "--config",
        EXAMPLE,
        "--page",
        "https://shop.acme.example/fr-ca/cart",
        "--lang",
        "xx",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(by `page` parameter host)"), "{out}");
    assert!(
        out.contains("language: fr-CA  (by page path prefix: \"fr-ca\")"),
        "{out}"
    );
    assert!(
        out.contains("degraded answer with en-US's address FO11111111111111111111111111111111"),
        "{out}"
    );

    let (code, out) = flexroute(&[
        "resolve",
        "--config",
        EXAMPLE,
        "--site",
        "globex",
        "--cookie",
        "locale=en-GB",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("language: de-DE  (by site default"),
        "globex has no language cookie: {out}"
    );

    let (code, out) = flexroute(&[
        "resolve",
        "--config",
        EXAMPLE,
        "--host",
        "elsewhere.example",
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("unknown_site"), "{out}");
}

/// A real `serve` process with debug JSON logs: one line per request, and no secret from the
/// environment or the request ever written.
#[tokio::test]
async fn serve_logs_json_without_secrets_and_stops_on_sigterm() {
    const SECRETS: [&str; 4] = [
        "auth-token-4f1d9c",
        "api-secret-77ab01",
        ADMIN_TOKEN,
        "cookie-secret-5d0e",
    ];
    let state = tempfile::tempdir().unwrap();
    let server = Running::spawn(
        &["serve", "--config", EXAMPLE],
        &[
            ("FLEXROUTE_LOG", "debug".to_string()),
            (
                "FLEXROUTE_PROVISIONING_STATE",
                format!("file:{}", state.path().join("state").display()),
            ),
            ("TWILIO_AUTH_TOKEN", SECRETS[0].to_string()),
            ("TWILIO_API_SECRET", SECRETS[1].to_string()),
            ("FLEXROUTE_ADMIN_TOKEN", SECRETS[2].to_string()),
        ],
    )
    .await;
    let client = client();
    for query in ["site=acme&lang=es-MX", "site=acme&lang=es-MX", "site=nope"] {
        client
            .get(server.config_url(query))
            .header("Authorization", format!("Bearer {}", SECRETS[2]))
            .header("Cookie", format!("session={}", SECRETS[3]))
            .send()
            .await
            .unwrap();
    }
    let log = server.stop().await; // asserts exit status 0 on SIGTERM
    let events: Vec<serde_json::Value> = log
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["message"] == "request")
        .collect();
    assert_eq!(
        requests.len(),
        3,
        "one line per request:\n{}",
        log.join("\n")
    );
    assert_eq!(requests[0]["level"], "DEBUG");
    assert_eq!(requests[0]["route"], "/v1/webchat/config");
    assert_eq!(requests[0]["status"], 200);
    assert_eq!(requests[2]["status"], 404);
    assert!(
        events
            .iter()
            .any(|e| e["message"] == "resolved" && e["language"] == "es-MX")
    );
    let all = log.join("\n");
    for secret in SECRETS {
        assert!(!all.contains(secret), "{secret} leaked into the log");
    }
}

/// The example file with line `old` replaced by `new`, written into `dir` as `name`.
fn example_with(dir: &std::path::Path, name: &str, old: &str, new: &str) -> String {
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    let line = example
        .lines()
        .find(|l| l.starts_with(old))
        .unwrap_or_else(|| panic!("no line {old:?} in the example"));
    let path = dir.join(name);
    std::fs::write(&path, example.replacen(line, new, 1)).unwrap();
    path.to_str().unwrap().to_string()
}

/// A TOML syntax error quotes the offending line; a Redis password or a webhook's credentials
/// on it are masked in `check`'s output and in what `serve` prints before it gives up, while the
/// line, the column and the key are still shown.
#[test]
fn syntax_errors_quote_their_line_with_the_credentials_masked() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            example_with(
                dir.path(),
                "redis.toml",
                "state = ",
                "state = \"redis://:hunter2-cli@redis.internal:6379/0",
            ),
            "hunter2-cli",
            "state = \"redis://***@redis.internal:6379/0",
        ),
        (
            example_with(
                dir.path(),
                "webhook.toml",
                "webhook_url = \"https://contact.globex.example/flex\"",
                "webhook_url = \"https://flexhook:pw-webhook-cli@contact.globex.example/flex\"!",
            ),
            "pw-webhook-cli",
            "webhook_url = \"https://***@contact.globex.example/flex\"!",
        ),
        (
            example_with(
                dir.path(),
                "token.toml",
                "state = ",
                "api_token = s3cret-token-cli",
            ),
            "s3cret-token-cli",
            "api_token = ***",
        ),
    ];
    for (path, secret, masked_line) in &cases {
        let (code, out) = flexroute(&["check", "--config", path]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("TOML parse error at line"), "{out}");
        assert!(out.contains(masked_line), "{masked_line:?} not in:\n{out}");
        assert!(!out.contains(secret), "{secret} leaked:\n{out}");
        let (code, out) = flexroute(&["serve", "--config", path]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(masked_line), "{masked_line:?} not in:\n{out}");
        assert!(!out.contains(secret), "{secret} leaked:\n{out}");
    }
    // The line and column are the file's own (the example's `state =` line).
    let state_line = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .lines()
        .position(|line| line.starts_with("state = "))
        .unwrap()
        + 1;
    let (_, out) = flexroute(&["check", "--config", &cases[0].0]);
    assert!(out.contains(&format!("line {state_line}, column")), "{out}");
}

/// The Twilio API bases must be https origins (http only to a loopback host) and
/// `server.public_url` an http(s) URL, each parsed whole at `check`: each bad value is refused
/// with its key named, before any call is made.
#[test]
fn check_refuses_api_bases_and_public_urls_that_do_not_parse_whole() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    let with = |name: &str, flex: &str, conversations: &str, public: &str| {
        let text = example
            .replacen(
                "flex_api_base = \"https://flex-api.twilio.com\"",
                &format!("flex_api_base = \"{flex}\""),
                1,
            )
            .replacen(
                "conversations_api_base = \"https://conversations.twilio.com\"",
                &format!("conversations_api_base = \"{conversations}\""),
                1,
            )
            .replacen(
                "public_url = \"http://127.0.0.1:8080\"",
                &format!("public_url = \"{public}\""),
                1,
            );
        assert_ne!(text, example);
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        flexroute(&["check", "--config", path.to_str().unwrap()])
    };
    for (i, (base, public, why)) in [
        (
            "http://flex-api.twilio.com",
            "http://chat.example:99999",
            "clear text",
        ),
        ("http://[::1", "http://[::1", "is not a URL"),
        (
            "https://flex-api.twilio.com:99999",
            "https://chat.example:99999",
            "is not a URL",
        ),
        ("https://", "https://", "is not a URL"),
        ("https:", "https:", "is not a URL"),
        (
            "https://flex-api.twilio.com/v1?PageSize=5",
            "https://chat.example/?x=1",
            "query",
        ),
        (
            "https:///flex-api.twilio.com",
            "https:///chat.example",
            "a host",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let (code, out) = with(&format!("bad-{i}.toml"), base, base, public);
        assert_eq!(code, 1, "{base}: {out}");
        for key in [
            "twilio.flex_api_base",
            "twilio.conversations_api_base",
            "server.public_url",
        ] {
            let line = out
                .lines()
                .find(|l| l.contains(&format!("- {key}: ")))
                .unwrap_or_else(|| panic!("{key} ({base}, {public}) not refused:\n{out}"));
            if key != "server.public_url" {
                assert!(line.contains(why), "{line}");
            }
        }
    }
    // Loopback hosts may be http (the emulator, the sandbox); browsers may use http too.
    for (i, base) in [
        "http://127.0.0.1:4010",
        "http://127.1.2.3",
        "http://localhost:4010/",
        "http://[::1]:4010",
    ]
    .into_iter()
    .enumerate()
    {
        let (code, out) = with(&format!("good-{i}.toml"), base, base, "http://chat.example");
        assert_eq!(code, 0, "{base}: {out}");
    }
}

/// With debug logs on, what a client chose (a 10 KB method, header or path) costs the log at
/// most a bounded line: the public listener's request line and the emulator's are cut.
#[tokio::test]
async fn debug_log_lines_cut_what_a_client_sent() {
    let server = Running::spawn(
        &["serve", "--config", EXAMPLE, "--sandbox"],
        &[("FLEXROUTE_LOG", "debug".to_string())],
    )
    .await;
    let emulator = server
        .early()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|e| e["emulator"].as_str().map(String::from))
        .expect("the sandbox names its emulator");
    let method = "M".repeat(10_000);
    let header = "h".repeat(10_000);
    let answer = crate::support::raw_exchange(
        &server.public,
        format!("{method} /v1/webchat/config?site=acme HTTP/1.1\r\nHost: a\r\nX-Long: {header}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    let path = "p".repeat(10_000);
    let response = client()
        .get(format!("{emulator}/v1/{path}"))
        .header("X-Long", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let log = server.stop().await;
    let events: Vec<serde_json::Value> = log
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let request = events
        .iter()
        .find(|e| e["message"] == "request" && e["method"].as_str().unwrap().starts_with("MMM"))
        .expect("the request is logged");
    let emulated = events
        .iter()
        .find(|e| {
            e["message"] == "flex api emulator" && e["path"].as_str().unwrap().contains("ppp")
        })
        .expect("the emulator's request is logged");
    for shown in [&request["method"], &emulated["path"]] {
        let shown = shown.as_str().unwrap();
        assert!(shown.len() <= 256 + 20, "{} bytes", shown.len());
        assert!(shown.ends_with(" bytes)"), "{shown}");
    }
    for long in [&method, &header, &path] {
        let run = &long[..300];
        assert!(
            !log.iter().any(|l| l.contains(run)),
            "300 bytes of a client's input in the log"
        );
    }
    assert!(
        log.iter().all(|l| l.len() < 2_000),
        "a log line over 2,000 bytes"
    );
}

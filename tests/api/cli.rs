//! The real binary: `check`, `resolve`, and `serve` with JSON logs that never carry a secret.

use std::process::Command;

use crate::running::{BIN, EXAMPLE, Running, client};

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
        "admin-token-9e2c33",
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

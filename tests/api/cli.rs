//! The real binary: `check`, `resolve`, and `serve` with JSON logs that never carry a secret.

use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_flexroute");
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/flexroute.toml");

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

#[test]
fn check_prints_a_summary_or_every_problem() {
    let (code, out) = flexroute(&["check", "--config", EXAMPLE]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK"), "{out}");
    assert!(
        out.contains(
            "2 site(s), 6 (site, language) pair(s): 5 pinned, 1 to provision; 5 host pattern(s)"
        ),
        "{out}"
    );
    assert!(out.contains("fr-CA → to provision"), "{out}");

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
    let mut child = tokio::process::Command::new(BIN)
        .args(["--log-format", "json", "serve", "--config", EXAMPLE])
        .env("FLEXROUTE_LOG", "debug")
        .env("FLEXROUTE_SERVER_LISTEN", "127.0.0.1:0")
        .env("FLEXROUTE_SERVER_ADMIN_LISTEN", "127.0.0.1:0")
        .env("FLEXROUTE_SERVER_SHUTDOWN_DRAIN_MS", "0")
        .env(
            "FLEXROUTE_PROVISIONING_STATE",
            format!("file:{}", state.path().join("state").display()),
        )
        .env("TWILIO_AUTH_TOKEN", SECRETS[0])
        .env("TWILIO_API_SECRET", SECRETS[1])
        .env("FLEXROUTE_ADMIN_TOKEN", SECRETS[2])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    let public = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("server starts")
            .unwrap()
            .expect("server is running");
        log.push(line.clone());
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["message"] == "flexroute listening" {
            break event["public"].as_str().unwrap().to_string();
        }
    };
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for query in ["site=acme&lang=es-MX", "site=acme&lang=es-MX", "site=nope"] {
        client
            .get(format!("http://{public}/v1/webchat/config?{query}"))
            .header("Authorization", format!("Bearer {}", SECRETS[2]))
            .header("Cookie", format!("session={}", SECRETS[3]))
            .send()
            .await
            .unwrap();
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit on SIGTERM: {exit:?}");
    while let Some(line) = lines.next_line().await.unwrap() {
        log.push(line);
    }
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

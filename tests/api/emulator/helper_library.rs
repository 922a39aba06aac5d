//! Twilio's official Python helper library (twilio-python, pinned in `support/python.rs`) drives
//! the real `flexroute emulator` binary: address configurations created, listed page by page,
//! fetched, updated and deleted, a web chat opened with pre-engagement data, a message posted
//! (`tests/contract/twilio_helper.py`). The library lives in the shared virtualenv
//! `target/twilio-venv`; the test is skipped, saying why, only when there is no `python3` or
//! pip cannot install the library (no package index reachable).

use std::process::Stdio;
use std::time::Duration;

use flexroute::twilio::conversations::AddressConfigurationPage;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::{ACCOUNT_SID, ADDRESSES, API_KEY, API_SECRET, AUTH_TOKEN, parse};
use crate::support::python::{self as twilio_python, TWILIO};

const BIN: &str = env!("CARGO_BIN_EXE_flexroute");
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/contract/twilio_helper.py"
);
/// Against a hang; the script itself takes about a second.
const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn twilios_python_helper_library_drives_the_emulator() {
    let Some(python) = tokio::task::spawn_blocking(twilio_python::python)
        .await
        .unwrap()
    else {
        return; // `python()` said why
    };
    let mut emulator = Command::new(BIN)
        .args([
            "--log-format",
            "json",
            "emulator",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("FLEXROUTE_LOG", "info")
        .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("TWILIO_API_KEY", API_KEY)
        .env("TWILIO_API_SECRET", API_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(emulator.stderr.take().unwrap()).lines();
    let listen = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the emulator starts")
            .unwrap()
            .expect("the emulator is running");
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["message"] == "Flex API emulator listening" {
            break event["listen"].as_str().unwrap().to_string();
        }
    };
    // Keep reading its log, so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let base = format!("http://{listen}");

    let script = Command::new(&python)
        .arg(SCRIPT)
        .env("FLEXROUTE_EMULATOR_URL", &base)
        .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("TWILIO_API_KEY", API_KEY)
        .env("TWILIO_API_SECRET", API_SECRET)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PATIENCE, script)
        .await
        .expect("the helper library script finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "twilio_helper.py failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    eprintln!("{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a summary")).unwrap();
    assert_eq!(summary["twilio"], TWILIO);

    // What the library left behind is what the emulator serves.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let request = client
        .get(format!("{base}{ADDRESSES}?Type=chat"))
        .basic_auth(API_KEY, Some(API_SECRET));
    let (_, page): (_, AddressConfigurationPage) = parse(request.send().await.unwrap()).await;
    let served: Vec<&str> = page
        .address_configurations
        .iter()
        .map(|a| a.sid.as_str())
        .collect();
    let left: Vec<&str> = summary["chat_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(served, left);
    emulator.kill().await.unwrap();
}

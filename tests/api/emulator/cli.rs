//! `flexroute emulator`: the real binary serves the Flex and Conversations APIs with the
//! credentials from the environment (an API key pair too), logs where and as which account
//! (never a token or secret), and stops on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use flexroute::twilio::conversations::AddressConfigurationPage;
use flexroute::twilio::types::{FlexFlow, FlexFlowPage};
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{ACCOUNT_SID, ADDRESSES, API_KEY, API_SECRET, CHAT_SERVICE, parse, twilio_error};

const BIN: &str = env!("CARGO_BIN_EXE_flexroute");
const TOKEN: &str = "emulator-token-5be1d07c";

#[tokio::test]
async fn serves_the_flex_api_with_the_environments_credentials() {
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "--log-format",
            "json",
            "emulator",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("FLEXROUTE_LOG", "debug")
        .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", TOKEN)
        .env("TWILIO_API_KEY", API_KEY)
        .env("TWILIO_API_SECRET", API_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    let listen = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("emulator starts")
            .unwrap()
            .expect("emulator is running");
        log.push(line.clone());
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["message"] == "Flex API emulator listening" {
            assert_eq!(event["account_sid"], ACCOUNT_SID);
            break event["listen"].as_str().unwrap().to_string();
        }
    };
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{listen}/v1/FlexFlows");
    let form = [
        ("FriendlyName", "from the cli"),
        ("ChatServiceSid", CHAT_SERVICE),
        ("ChannelType", "web"),
    ];
    let create = client
        .post(&url)
        .basic_auth(ACCOUNT_SID, Some(TOKEN))
        .form(&form);
    let (status, flow): (_, FlexFlow) = parse(create.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(flow.url, Some(format!("{url}/{}", flow.sid)));
    let list = client.get(&url).basic_auth(ACCOUNT_SID, Some(TOKEN));
    let (_, page): (_, FlexFlowPage) = parse(list.send().await.unwrap()).await;
    assert_eq!(page.flex_flows, vec![flow]);
    let wrong = client
        .get(&url)
        .basic_auth(ACCOUNT_SID, Some("not-the-token"));
    twilio_error(wrong.send().await.unwrap(), 401, 20003).await;
    // The same address serves the Conversations API, to the API key too.
    let addresses = client
        .get(format!("http://{listen}{ADDRESSES}?Type=chat"))
        .basic_auth(API_KEY, Some(API_SECRET));
    let (status, page): (_, AddressConfigurationPage) =
        parse(addresses.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.address_configurations.is_empty());

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
    let all = log.join("\n");
    let requests = log
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["message"] == "flex api emulator")
        .count();
    assert_eq!(requests, 4, "one line per request:\n{all}");
    assert!(
        !all.contains(TOKEN) && !all.contains(API_SECRET),
        "a secret leaked into the log:\n{all}"
    );
}

#[test]
fn refuses_an_api_key_that_is_not_an_sk_sid() {
    let output = Command::new(BIN)
        .args(["emulator", "--listen", "127.0.0.1:0", "--api-key", "SKnope"])
        .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", TOKEN)
        .env("TWILIO_API_SECRET", API_SECRET)
        .env_remove("TWILIO_API_KEY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("API key"), "{stderr}");
    assert!(
        !stderr.contains(API_SECRET) && !stderr.contains(TOKEN),
        "{stderr}"
    );
}

#[test]
fn refuses_to_start_without_an_account_sid() {
    let output = Command::new(BIN)
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--account-sid",
            "ACnope",
        ])
        .env("TWILIO_AUTH_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Account SID"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "{stderr}");
}

//! The three address kinds from one table: what each answers, what validation says of each,
//! how a degraded answer lends only its own kind, one scan of chat addresses for every pair
//! missing at once, no guess between two addresses of one name, and a language moved to
//! `conversations` and back by hot reload keeping the address it had of each kind.

use std::sync::Arc;
use std::time::Duration;

use flexroute::Services;
use flexroute::config::{Config, Environment};
use flexroute::provision::store::MemoryStore;
use flexroute::reload::ConfigSource;
use flexroute::twilio::Credentials;
use flexroute::twilio::conversations::{AddressConfiguration, AutoCreation};
use flexroute::twilio::emulator::Op;
use serde_json::Value;

use crate::support::conversations::{KEY, SECRET, SERVICE, emulator, start};
use crate::support::{ACCOUNT, ADMIN_TOKEN, Server, json};

/// One site per kind question: `multi` pins one address of each kind.
const PINNED: &str = r#"
[server]
shutdown_drain_ms = 0
public_url = "https://chat.example.com/base/"

[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
conversations_service_sid = "IS0123456789abcdef0123456789abcdef"

[provisioning]
enabled = false

[[sites]]
id = "multi"
hosts = ["multi.example"]
default_language = "en"
languages = ["en", "fr", "de"]

[sites.language."en"]
flex_flow_sid = "FO0123456789abcdef0123456789abcdef"

[sites.language."fr"]
address_kind = "conversations"
address_sid = "IG0123456789abcdef0123456789abcdef"
flex_flow_sid = "FOffffffffffffffffffffffffffffffff"

[sites.language."de"]
address_kind = "webchat3"
deployment_key = "CV0123456789abcdef0123456789abcdef"
"#;

#[tokio::test]
async fn each_kind_answers_with_its_own_app_config() {
    let server = Server::start_with(PINNED, Environment::default()).await;
    let (_, flow) = server.ask("site=multi&lang=en").await;
    assert_eq!(flow["address"]["kind"], "flex_flow");
    assert_eq!(
        flow["appConfig"]["flexFlowSid"],
        "FO0123456789abcdef0123456789abcdef"
    );
    assert_eq!(flow["appConfig"]["accountSid"], ACCOUNT);
    assert!(flow["appConfig"].get("serverUrl").is_none());

    // Each kind reads its own pin: fr keeps a flex_flow_sid that its kind ignores.
    let (_, chat) = server.ask("site=multi&lang=fr").await;
    assert_eq!(chat["address"]["kind"], "conversations");
    assert_eq!(chat["address"]["sid"], "IG0123456789abcdef0123456789abcdef");
    assert_eq!(
        chat["appConfig"]["serverUrl"],
        "https://chat.example.com/base/v1/webchat/multi/fr"
    );
    for owned_by_others in ["accountSid", "flexFlowSid", "deploymentKey"] {
        assert!(chat["appConfig"].get(owned_by_others).is_none(), "{chat}");
    }
    assert_eq!(chat["appConfig"]["context"]["language"], "fr");

    let (_, hosted) = server.ask("site=multi&lang=de").await;
    assert_eq!(hosted["address"]["kind"], "webchat3");
    assert_eq!(
        hosted["address"]["sid"],
        "CV0123456789abcdef0123456789abcdef"
    );
    assert_eq!(
        hosted["appConfig"]["deploymentKey"],
        "CV0123456789abcdef0123456789abcdef"
    );
    assert!(hosted["appConfig"].get("flexFlowSid").is_none());
    server.stop().await;
}

/// Validation names every kind's problem, each at its key.
#[test]
fn validation_names_every_problem_of_every_kind() {
    let table = r#"
[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
chat_service_sid = "IS0123456789abcdef0123456789abcdef"
token_ttl_secs = 100000

[provisioning]
chat_address = "webchat-{site}"

[defaults]
studio_flow_sid = "FW0123456789abcdef0123456789abcdef"

[[sites]]
id = "shop"
hosts = ["shop.example"]
default_language = "en"
languages = ["en", "fr", "de", "nl"]
address_kind = "conversations"

[sites.language."en"]
address_sid = "FO0123456789abcdef0123456789abcdef"

[sites.language."fr"]
integration_type = "task"

[sites.language."de"]
address_kind = "webchat3"

[sites.language."nl"]
address_kind = "webchat3"
deployment_key = "not a key!"
"#;
    let error = Config::from_toml_str(table, &Environment::default()).unwrap_err();
    let problems = error.problems().join("\n");
    for expected in [
        "twilio.conversations_service_sid: required by conversations pairs",
        "twilio.token_ttl_secs: must be between 60 and 86400",
        "provisioning.chat_address: must contain {language}",
        r#"sites[0].language."en".address_sid: `FO0123456789abcdef0123456789abcdef` is not a valid SID: expected IG"#,
        r#"sites[0].language."fr": integration_type = "task" has no equivalent for conversations"#,
        r#"sites[0].language."de": is a webchat3 pair without a deployment_key"#,
        r#"sites[0].language."nl".deployment_key: `not a key!` is not a Webchat 3 deployment key"#,
    ] {
        assert!(problems.contains(expected), "{expected}\n---\n{problems}");
    }
    let unknown_kind = table.replace(
        "address_kind = \"conversations\"",
        "address_kind = \"chat\"",
    );
    let error = Config::from_toml_str(&unknown_kind, &Environment::default()).unwrap_err();
    assert!(
        error
            .problems()
            .join("\n")
            .contains("sites[0]: unknown variant `chat`"),
        "{:?}",
        error.problems()
    );
}

/// Without an API key to sign visitors' tokens the file is still valid (the environment is
/// the deployment's), and `check` and the log say what is missing.
#[test]
fn a_missing_api_key_is_named_as_a_warning() {
    let table = PINNED.replace("enabled = false", "enabled = false\n");
    let warned = |env: Environment| {
        Config::from_toml_str(&table, &env)
            .expect("valid without credentials")
            .warnings
            .join("\n")
    };
    let none = warned(Environment::default());
    assert!(
        none.contains("need TWILIO_API_KEY and TWILIO_API_SECRET"),
        "{none}"
    );
    assert!(none.contains("no Twilio credentials are set"), "{none}");
    let token_only = warned(Environment::from_pairs([("TWILIO_AUTH_TOKEN", "t0ken")]));
    assert!(
        token_only.contains("an auth token cannot sign them"),
        "{token_only}"
    );
    assert!(!token_only.contains("t0ken"), "the secret is never shown");
    let keyed = warned(Environment::from_pairs([
        ("TWILIO_API_KEY", KEY),
        ("TWILIO_API_SECRET", SECRET),
    ]));
    assert!(!keyed.contains("TWILIO_API_KEY"), "{keyed}");
}

/// The default language lends its address only to pairs of its own kind: a Flex Flow cannot
/// stand in for a chat address, whose widget would not know what to do with it.
#[tokio::test]
async fn a_degraded_answer_lends_only_an_address_of_the_same_kind() {
    let table = r#"
[server]
shutdown_drain_ms = 0

[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
conversations_service_sid = "IS0123456789abcdef0123456789abcdef"

[provisioning]
wait_ms = 50

[defaults]
studio_flow_sid = "FW0123456789abcdef0123456789abcdef"

[[sites]]
id = "legacy"
hosts = ["legacy.example"]
default_language = "en"
languages = ["en", "fr"]

[sites.language."en"]
flex_flow_sid = "FO0123456789abcdef0123456789abcdef"

[sites.language."fr"]
address_kind = "conversations"

[[sites]]
id = "modern"
hosts = ["modern.example"]
default_language = "en"
languages = ["en", "fr"]
address_kind = "conversations"

[sites.language."en"]
address_sid = "IG0123456789abcdef0123456789abcdef"
"#;
    // No credentials: nothing can be provisioned, so fr never has an address of its own.
    let server = Server::start_with(table, Environment::default()).await;
    let (status, refused) = server.ask("site=legacy&lang=fr").await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"]["code"], "address_unavailable");

    let (status, lent) = server.ask("site=modern&lang=fr").await;
    assert_eq!(status, 200);
    assert_eq!(lent["degraded"], true);
    assert_eq!(lent["addressLanguage"], "en");
    assert_eq!(lent["address"]["kind"], "conversations");
    assert_eq!(lent["address"]["sid"], "IG0123456789abcdef0123456789abcdef");
    // The widget is fr's, the backend the lender's: its chats start on en's address.
    assert_eq!(lent["appConfig"]["context"]["language"], "fr");
    assert_eq!(lent["appConfig"]["serverUrl"], "/v1/webchat/modern/en");
    server.stop().await;
}

const LANGUAGES: [&str; 8] = ["it", "pt", "nl", "sv", "da", "fi", "pl", "cs"];

/// A conversations site whose `count` languages have no address yet.
fn many_languages(count: usize) -> String {
    let languages: Vec<String> = LANGUAGES[..count]
        .iter()
        .map(|tag| format!("\"{tag}\""))
        .collect();
    crate::support::conversations::table("").replace(
        r#"languages = ["en", "fr", "es", "de"]"#,
        &format!(
            r#"languages = ["en", "fr", "es", "de", {}]"#,
            languages.join(", ")
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_missing_at_once_share_one_scan_of_the_chat_addresses() {
    let (emulator, base) = emulator().await;
    emulator.switches().set_latency(Duration::from_millis(200));
    let server = Arc::new(start(&many_languages(8), &base).await);
    let mut asked = Vec::new();
    for tag in LANGUAGES {
        let server = server.clone();
        asked.push(tokio::spawn(async move {
            server.ask(&format!("site=shop&lang={tag}")).await
        }));
    }
    for request in asked {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.get("degraded").is_none(), "{body}");
    }
    // Eight pairs, one listing of every chat address (one page), eight creates.
    assert_eq!(emulator.calls(Op::AddressList), 1);
    assert_eq!(emulator.calls(Op::AddressCreate), 8);
    assert_eq!(emulator.addresses().len(), 8);
    Arc::into_inner(server).unwrap().stop().await;
}

fn chat_address(sid: &str, address: &str, name: &str) -> AddressConfiguration {
    AddressConfiguration {
        sid: sid.into(),
        account_sid: Some(ACCOUNT.into()),
        r#type: Some("chat".into()),
        address: Some(address.into()),
        friendly_name: Some(name.into()),
        auto_creation: Some(AutoCreation {
            enabled: Some(true),
            r#type: Some("studio".into()),
            conversation_service_sid: Some(SERVICE.into()),
            studio_flow_sid: Some("FW0123456789abcdef0123456789abcdef".into()),
            ..AutoCreation::default()
        }),
        ..AddressConfiguration::default()
    }
}

async fn admin(server: &Server, method: reqwest::Method, path: &str) -> Value {
    let response = server
        .client
        .request(method, format!("http://{}{path}", server.ops))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    json(response).await
}

/// The plan item of `language` in an `/admin/provision` answer.
fn pair_of(plan: &Value, language: &str) -> Value {
    plan["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["language"] == language)
        .unwrap_or_else(|| panic!("no {language} in {plan}"))
        .clone()
}

#[tokio::test]
async fn an_address_made_in_the_console_is_adopted_and_two_of_one_name_are_never_guessed() {
    let (emulator, base) = emulator().await;
    // fr was made by hand, with its own address value: found by its friendly name.
    emulator.insert_address(chat_address(
        "IGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "console-made-fr",
        "WebChat shop fr",
    ));
    // es has two.
    for (sid, address) in [
        ("IGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "console-es-1"),
        ("IGcccccccccccccccccccccccccccccccc", "console-es-2"),
    ] {
        emulator.insert_address(chat_address(sid, address, "WebChat shop es"));
    }
    let server = start(&crate::support::conversations::table(""), &base).await;

    let (status, adopted) = server.ask("site=shop&lang=fr").await;
    assert_eq!(status, 200);
    assert_eq!(
        adopted["address"]["sid"],
        "IGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    );
    assert_eq!(emulator.calls(Op::AddressCreate), 0);

    // es: the site's default (en) has no address yet either; the answer lends it once made.
    let (_, es) = server.ask("site=shop&lang=es").await;
    assert_ne!(
        es["address"]["sid"], "IGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        "{es}"
    );
    assert_ne!(
        es["address"]["sid"], "IGcccccccccccccccccccccccccccccccc",
        "{es}"
    );
    let routes = admin(&server, reqwest::Method::GET, "/admin/routes").await;
    let es_route = routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["language"] == "es")
        .unwrap()
        .clone();
    assert_eq!(es_route["kind"], "conversations");
    assert_eq!(es_route["state"], "failing", "{es_route}");
    let error = es_route["last_error"].as_str().unwrap();
    assert!(
        error.contains("2 addresses") && error.contains("will not guess"),
        "{error}"
    );

    let plan = admin(
        &server,
        reqwest::Method::POST,
        "/admin/provision?dry_run=true",
    )
    .await;
    let item = |language: &str| pair_of(&plan, language);
    let es_plan = item("es");
    assert_eq!(
        (es_plan["status"].as_str(), es_plan["action"].as_str()),
        (Some("ambiguous"), Some("investigate")),
        "{es_plan}"
    );
    assert!(
        es_plan["differences"][0]["found"]
            .as_str()
            .unwrap()
            .contains("IGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        "{es_plan}"
    );
    assert_eq!(item("fr")["action"], "none");
    assert_eq!(item("de")["kind"], "flex_flow");
    server.stop().await;
}

/// `plan` compares a chat address's name and auto-creation with the config; `apply` updates.
#[tokio::test]
async fn plan_shows_drift_of_a_chat_address_and_apply_corrects_it() {
    let (emulator, base) = emulator().await;
    let mut drifted = chat_address(
        "IGdddddddddddddddddddddddddddddddd",
        "flexroute-shop-en",
        "WebChat shop en",
    );
    drifted.auto_creation.as_mut().unwrap().studio_flow_sid =
        Some("FWeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee".into());
    emulator.insert_address(drifted);
    let server = start(&crate::support::conversations::table(""), &base).await;
    let plan = admin(
        &server,
        reqwest::Method::POST,
        "/admin/provision?dry_run=true",
    )
    .await;
    let en = pair_of(&plan, "en");
    assert_eq!(en["kind"], "conversations");
    assert_eq!(en["action"], "update", "{en}");
    assert_eq!(
        en["differences"][0]["field"],
        "auto_creation.studio_flow_sid"
    );
    assert_eq!(
        en["differences"][0]["found"],
        "FWeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
    );
    let applied = admin(
        &server,
        reqwest::Method::POST,
        "/admin/provision?dry_run=false",
    )
    .await;
    let en = pair_of(&applied, "en");
    assert_eq!(en["result"], "updated IGdddddddddddddddddddddddddddddddd");
    let now = emulator
        .addresses()
        .into_iter()
        .find(|a| a.sid == "IGdddddddddddddddddddddddddddddddd")
        .unwrap();
    assert_eq!(
        now.auto_creation.unwrap().studio_flow_sid.as_deref(),
        Some("FW0123456789abcdef0123456789abcdef")
    );
    server.stop().await;
}

/// A language moved from `flex_flow` to `conversations` by hot reload gets a chat address;
/// moved back, it has its Flex Flow again at once, with no new address made.
#[tokio::test]
async fn a_language_moved_to_conversations_and_back_keeps_the_address_it_had_of_each_kind() {
    let (emulator, base) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flexroute.toml");
    let legacy = crate::support::conversations::table("chat_service_sid_placeholder = 1")
        .replace("chat_service_sid_placeholder = 1\n", "")
        .replace(
            "[twilio]\n",
            "[twilio]\nchat_service_sid = \"IS00000000000000000000000000000000\"\n",
        )
        .replace(
            "languages = [\"en\", \"fr\", \"es\", \"de\"]\naddress_kind = \"conversations\"",
            "languages = [\"en\", \"fr\", \"es\", \"de\"]\naddress_kind = \"flex_flow\"",
        );
    let moved = legacy.replace(
        "languages = [\"en\", \"fr\", \"es\", \"de\"]\naddress_kind = \"flex_flow\"",
        "languages = [\"en\", \"fr\", \"es\", \"de\"]\naddress_kind = \"flex_flow\"\n\n[sites.language.\"fr\"]\naddress_kind = \"conversations\"",
    );
    std::fs::write(&path, &legacy).unwrap();
    let env = Environment::from_pairs([
        ("FLEXROUTE_TWILIO_FLEX_API_BASE", base.as_str()),
        ("FLEXROUTE_TWILIO_CONVERSATIONS_API_BASE", base.as_str()),
        ("FLEXROUTE_PROVISIONING_WAIT_MS", "5000"),
        ("FLEXROUTE_SERVER_CONFIG_WATCH_MS", "0"),
        ("TWILIO_API_KEY", KEY),
        ("TWILIO_API_SECRET", SECRET),
    ]);
    let services = Services {
        credentials: Some(Credentials::new(KEY, SECRET)),
        store: Some(Arc::new(MemoryStore::default())),
        admin_token: Some(ADMIN_TOKEN.into()),
        config_source: Some(ConfigSource {
            path: path.clone(),
            env: env.clone(),
        }),
        ..Services::default()
    };
    let server = Server::start_full(&legacy, env, services).await;
    let (_, before) = server.ask("site=shop&lang=fr").await;
    assert_eq!(before["address"]["kind"], "flex_flow", "{before}");
    let flow = before["address"]["sid"].as_str().unwrap().to_string();

    std::fs::write(&path, &moved).unwrap();
    let reloaded = admin(&server, reqwest::Method::POST, "/admin/reload").await;
    assert_eq!(reloaded["report"]["changed"], 1, "{reloaded}");
    let (_, after) = server.ask("site=shop&lang=fr").await;
    assert_eq!(after["address"]["kind"], "conversations", "{after}");
    assert!(after["address"]["sid"].as_str().unwrap().starts_with("IG"));
    assert_eq!(after["appConfig"]["serverUrl"], "/v1/webchat/shop/fr");

    std::fs::write(&path, &legacy).unwrap();
    admin(&server, reqwest::Method::POST, "/admin/reload").await;
    let (_, back) = server.ask("site=shop&lang=fr").await;
    assert_eq!(back["address"]["kind"], "flex_flow");
    assert_eq!(back["address"]["sid"], flow.as_str());
    assert_eq!(emulator.calls(Op::Create), 1);
    assert_eq!(emulator.calls(Op::AddressCreate), 1);
    server.stop().await;
}

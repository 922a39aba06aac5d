//! Real `flexroute serve` processes as the session backend of `twilio-webchat-react-app`: the
//! sandbox a newcomer starts, serving a Conversations chat end to end, and `kill -9` in the
//! middle of a burst of visitors' first chats, which must not make any chat address twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flexroute::sandbox::{SANDBOX_API_KEY, SANDBOX_API_SECRET, SANDBOX_AUTH_TOKEN};
use flexroute::session::token::{SigningKey, TokenIssuer};
use flexroute::twilio::Credentials;
use flexroute::twilio::emulator::{Emulator, Op};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::support::jwt::{now_ms, segment};
use crate::support::python as twilio_python;
use crate::support::python::run_token_script;
use crate::support::{EXAMPLE, Rng, Running, client, eventually, json as body_json, metric};

/// The origin of the react app's dev server, one of the example `initech` site's.
const DEV_ORIGIN: &str = "http://localhost:3000";

/// `POST url` with a JSON body, as the react app sends it.
async fn post_json(
    client: &reqwest::Client,
    url: &str,
    origin: &str,
    body: &Value,
) -> reqwest::Response {
    client
        .post(url)
        .header("Origin", origin)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `twilio.account_sid` and `twilio.conversations_service_sid` of the example configuration
/// (which sandbox mode keeps).
fn example_sids() -> (String, String) {
    let table: toml::Table = std::fs::read_to_string(EXAMPLE).unwrap().parse().unwrap();
    let twilio = table["twilio"].as_table().unwrap();
    let sid = |key: &str| twilio[key].as_str().unwrap().to_string();
    (sid("account_sid"), sid("conversations_service_sid"))
}

/// The URL of the sandbox's emulator, from its "SANDBOX MODE" log line.
fn sandbox_emulator(server: &Running) -> String {
    server
        .early()
        .iter()
        .find_map(|line| {
            let event: Value = serde_json::from_str(line).ok()?;
            event["message"]
                .as_str()?
                .starts_with("SANDBOX MODE")
                .then(|| event["emulator"].as_str().unwrap().to_string())
        })
        .unwrap_or_else(|| panic!("no SANDBOX MODE line: {:?}", server.early()))
}

/// The README's sandbox, as the react app's developer uses it: the configuration names a
/// `conversations` session backend; `initWebchat` starts a chat in the built-in emulator with the
/// visitor's form, its token is the one Twilio's helper library would mint, `refreshToken`
/// renews it and refuses every token it did not sign or that has expired; the visitor's
/// question is posted as their first message.
#[tokio::test]
async fn sandbox_serves_a_conversations_chat_end_to_end() {
    let started = Instant::now();
    let (account, service) = example_sids();
    let server = Running::spawn(&["serve", "--config", EXAMPLE, "--sandbox"], &[]).await;
    let client = client();

    // (a) The widget configuration points at the session backend.
    let response = client
        .get(server.config_url("site=initech&lang=en-US"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let config = body_json(response).await;
    assert!(config.get("degraded").is_none(), "{config}");
    assert_eq!(config["address"]["kind"], "conversations", "{config}");
    let address_sid = config["address"]["sid"].as_str().unwrap().to_string();
    assert!(
        address_sid.starts_with("IG") && address_sid.len() == 34,
        "{config}"
    );
    let app_config = &config["appConfig"];
    assert!(
        app_config["serverUrl"]
            .as_str()
            .is_some_and(|url| url.ends_with("/v1/webchat/initech/en-US")),
        "{config}"
    );
    for key in ["accountSid", "flexFlowSid", "deploymentKey"] {
        assert!(app_config.get(key).is_none(), "{key} in {config}");
    }

    // (b) initWebchat.
    let form =
        json!({"friendlyName": "Ana", "email": "ana@example.com", "query": "Where is my order?"});
    let asked_at = now_ms();
    let response = post_json(
        &client,
        &server.url("/v1/webchat/initech/en-US/initWebchat"),
        DEV_ORIGIN,
        &json!({ "formData": form }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["access-control-allow-origin"], DEV_ORIGIN);
    let session = body_json(response).await;
    let conversation_sid = session["conversationSid"].as_str().unwrap().to_string();
    assert!(
        conversation_sid.starts_with("CH") && conversation_sid.len() == 34,
        "{session}"
    );
    let identity = session["identity"].as_str().unwrap().to_string();
    assert!(!identity.is_empty(), "{session}");
    let token = session["token"].as_str().unwrap().to_string();
    let expiration = session["expiration"].as_u64().unwrap();
    let hour_ms = 3_600_000;
    assert!(
        (asked_at + hour_ms - 2_000..=now_ms() + hour_ms + 2_000).contains(&expiration),
        "expiration {expiration} is not about an hour after {asked_at}"
    );

    // (c) The conversation in the sandbox's emulator carries the form, with what flexroute
    // sets, on the address the configuration named; readable with either sandbox credential.
    let emulator = sandbox_emulator(&server);
    let conversation_url = format!("{emulator}/v1/Conversations/{conversation_sid}");
    for (user, secret) in [
        (account.as_str(), SANDBOX_AUTH_TOKEN),
        (SANDBOX_API_KEY, SANDBOX_API_SECRET),
    ] {
        let response = client
            .get(&conversation_url)
            .basic_auth(user, Some(secret))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "as {user}");
        let conversation = body_json(response).await;
        assert_eq!(conversation["sid"], conversation_sid.as_str());
        assert_eq!(conversation["account_sid"], account.as_str());
        assert_eq!(
            conversation["chat_service_sid"],
            service.as_str(),
            "the address was made in the configured service: {conversation}"
        );
        let attributes: Value =
            serde_json::from_str(conversation["attributes"].as_str().unwrap()).unwrap();
        assert_eq!(
            attributes["pre_engagement_data"],
            json!({
                "friendlyName": "Ana",
                "email": "ana@example.com",
                "query": "Where is my order?",
                "site": "initech",
                "language": "en-US",
            }),
            "{conversation}"
        );
    }
    let refused = client
        .get(&conversation_url)
        .basic_auth(SANDBOX_API_KEY, Some("not-the-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "the emulator checks credentials");

    // (d) The token is what Twilio's Python library mints for the same inputs at the same
    // second, and both the library and flexroute's own issuer accept it.
    let token_claims = segment(&token, 1);
    let nbf = token_claims["nbf"].as_u64().unwrap();
    assert_eq!(expiration, (nbf + 3600) * 1000, "{token_claims}");
    assert_eq!(token_claims["grants"]["identity"], identity.as_str());
    if let Some(python) = twilio_python::python() {
        let answer = run_token_script(
            &python,
            &json!({
                "mint": [{
                    "account_sid": account, "api_key_sid": SANDBOX_API_KEY,
                    "secret": SANDBOX_API_SECRET, "identity": identity,
                    "service_sid": service, "ttl": 3600, "now": nbf,
                }],
                "verify": [{"token": token, "secret": SANDBOX_API_SECRET, "api_key_sid": SANDBOX_API_KEY}],
            }),
        );
        assert_eq!(
            answer["minted"][0], token,
            "Twilio's library minted another token"
        );
        assert_eq!(answer["verified"][0]["ok"], true, "{answer}");
        assert_eq!(
            answer["verified"][0]["payload"]["grants"]["chat"]["service_sid"],
            service.as_str()
        );
    }
    let sandbox_key = || SigningKey::new(&account, SANDBOX_API_KEY, SANDBOX_API_SECRET).unwrap();
    let hour = Duration::from_secs(3600);
    let issuer = TokenIssuer::new(sandbox_key(), &service, hour).unwrap();
    let verified = issuer.verify(&token).unwrap();
    assert_eq!(verified.identity, identity);
    assert_eq!(verified.expires_at_ms(), expiration);

    // (e) refreshToken renews it for the same identity.
    let refresh_url = server.url("/v1/webchat/initech/en-US/refreshToken");
    let response = post_json(
        &client,
        &refresh_url,
        DEV_ORIGIN,
        &json!({ "token": token }),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        DEV_ORIGIN
    );
    let refreshed = body_json(response).await;
    let new_token = refreshed["token"].as_str().unwrap();
    assert_eq!(issuer.verify(new_token).unwrap().identity, identity);
    assert_eq!(
        segment(new_token, 1)["grants"]["identity"],
        identity.as_str()
    );
    let new_expiration = refreshed["expiration"].as_u64().unwrap();
    assert!(new_expiration >= expiration, "{refreshed}");
    assert_eq!(
        new_expiration,
        (segment(new_token, 1)["nbf"].as_u64().unwrap() + 3600) * 1000
    );

    // (f) Refused: a payload character changed, another secret, expired.
    let tampered = {
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let middle = parts[1].len() / 2;
        let replacement = if parts[1].as_bytes()[middle] == b'A' {
            "B"
        } else {
            "A"
        };
        parts[1].replace_range(middle..=middle, replacement);
        parts.join(".")
    };
    assert_ne!(tampered, token);
    let foreign = TokenIssuer::new(
        SigningKey::new(
            &account,
            SANDBOX_API_KEY,
            "another-secret-entirely-0123456789",
        )
        .unwrap(),
        &service,
        hour,
    )
    .unwrap()
    .mint(&identity)
    .unwrap()
    .token;
    let expired = issuer
        .mint_at(&identity, now_unix() - 2 * 3600)
        .unwrap()
        .token;
    for (what, bad) in [
        ("tampered", &tampered),
        ("foreign", &foreign),
        ("expired", &expired),
    ] {
        let response = post_json(&client, &refresh_url, DEV_ORIGIN, &json!({ "token": bad })).await;
        assert_eq!(response.status(), 403, "{what}");
        let body = body_json(response).await;
        assert_eq!(body["error"]["code"], "invalid_token", "{what}: {body}");
        assert!(body.get("token").is_none(), "{what}: {body}");
    }

    // (g) The visitor's question was posted as their first message, in the background.
    eventually(
        Duration::from_secs(10),
        "the first message is posted",
        async || {
            metric(
                &server.metrics().await,
                r#"flexroute_upstream_requests_total{op="message_create",status="2xx"}"#,
            ) == Some(1.0)
        },
    )
    .await;
    let metrics = server.metrics().await;
    let value = |series: &str| metric(&metrics, series);
    let pair = r#"language="en-US","#;
    assert_eq!(
        value(&format!(
            r#"flexroute_webchat_sessions_total{{{pair}outcome="started",site="initech"}}"#
        )),
        Some(1.0),
        "{metrics}"
    );
    for op in ["address_create", "webchat_create"] {
        assert_eq!(
            value(&format!(
                r#"flexroute_upstream_requests_total{{op="{op}",status="2xx"}}"#
            )),
            Some(1.0),
            "{op}: {metrics}"
        );
    }
    for (outcome, count) in [("refreshed", 1.0), ("refused", 3.0)] {
        assert_eq!(
            value(&format!(
                r#"flexroute_webchat_token_refreshes_total{{{pair}outcome="{outcome}",site="initech"}}"#
            )),
            Some(count),
            "{outcome}: {metrics}"
        );
    }
    let log = server.stop().await.join("\n");
    assert!(
        !log.contains("cannot post the visitor's first message"),
        "{log}"
    );
    assert!(!log.contains(&token), "a visitor's token in the log");
    eprintln!(
        "sandbox chat: address={address_sid} conversation={conversation_sid} identity={identity} took={:.1}s",
        started.elapsed().as_secs_f64()
    );
}

const BURST_ACCOUNT: &str = "AC7d0b6e4f1a2c3b4d5e6f708192a3b4c5";
const BURST_TOKEN: &str = "burst-auth-token-81c2";
const BURST_KEY: &str = "SK7d0b6e4f1a2c3b4d5e6f708192a3b4c5";
const BURST_SECRET: &str = "burst-api-secret-5e07";
const BURST_SERVICE: &str = "IS7d0b6e4f1a2c3b4d5e6f708192a3b4c5";
const BURST_SITE: &str = "burst";
const BURST_ORIGIN: &str = "https://burst.example";
const BURST_LANGUAGES: [&str; 3] = ["en", "de", "fr"];
/// Visitors in one burst, spread over the languages.
const BURST_REQUESTS: usize = 300;
/// Upstream latency, added after a request took effect: a create whose answer is still on its
/// way has already made the address.
const LATENCY: Duration = Duration::from_millis(300);

/// How one visitor's `initWebchat` ended: its language, and the status with the conversation
/// of a 200, or the transport error (the process was killed under it).
type Answer = (usize, Result<(u16, Option<String>), String>);

/// `BURST_REQUESTS` concurrent first chats, in turn over the languages.
fn burst(client: &reqwest::Client, server: &Running) -> Vec<JoinHandle<Answer>> {
    (0..BURST_REQUESTS)
        .map(|i| {
            let language = i % BURST_LANGUAGES.len();
            let url = server.url(&format!(
                "/v1/webchat/{BURST_SITE}/{}/initWebchat",
                BURST_LANGUAGES[language]
            ));
            let body =
                json!({"formData": {"friendlyName": format!("Visitor {i}"), "query": "hello"}});
            let client = client.clone();
            tokio::spawn(async move {
                let sent = client
                    .post(url)
                    .header("Origin", BURST_ORIGIN)
                    .header("Content-Type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await;
                let response = match sent {
                    Ok(response) => response,
                    Err(e) => return (language, Err(e.to_string())),
                };
                let status = response.status().as_u16();
                let conversation = match response.bytes().await {
                    Ok(bytes) if status == 200 => serde_json::from_slice::<Value>(&bytes)
                        .ok()
                        .and_then(|b| b["conversationSid"].as_str().map(str::to_string)),
                    Ok(_) => None,
                    Err(e) => return (language, Err(e.to_string())),
                };
                (language, Ok((status, conversation)))
            })
        })
        .collect()
}

async fn answers(tasks: Vec<JoinHandle<Answer>>) -> Vec<Answer> {
    let mut all = Vec::with_capacity(tasks.len());
    for task in tasks {
        all.push(task.await.unwrap());
    }
    all
}

/// 300 visitors start their first chats at once on three `conversations` languages that have
/// no address yet; the process is killed with SIGKILL while a chat address create is in flight
/// (taken effect at Twilio, answer not back), three times in a row, at a random moment of that
/// create, then restarted on the same file store and sent the burst again. Every `Address` is
/// made once, every chat goes to its own language's address, and visitors only ever see 200 or
/// 503 (try again). The moments come from `FLEXROUTE_KILL_SEED`, else the clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_a_burst_of_first_chats_creates_each_address_once() {
    const KILLS: usize = 3;
    let started = Instant::now();
    let seed = std::env::var("FLEXROUTE_KILL_SEED").map_or_else(
        |_| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        },
        |s| s.parse().expect("FLEXROUTE_KILL_SEED is a u64"),
    );
    eprintln!("kill -9 seed={seed} (replay with FLEXROUTE_KILL_SEED={seed})");
    let mut rng = Rng::new(seed);

    let emulator = Emulator::new(
        BURST_ACCOUNT,
        vec![
            Credentials::new(BURST_ACCOUNT, BURST_TOKEN),
            Credentials::new(BURST_KEY, BURST_SECRET),
        ],
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serving = emulator.clone();
    tokio::spawn(async move { serving.serve(listener, std::future::pending()).await });
    emulator.switches().set_latency(LATENCY);

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("flexroute.toml");
    let languages: Vec<String> = BURST_LANGUAGES.iter().map(|l| format!("\"{l}\"")).collect();
    // One call to Twilio at a time: a burst is a scan, then one create after the other, so
    // each restart has a create of its own to be killed in.
    std::fs::write(
        &config,
        format!(
            "[twilio]\nconversations_service_sid = \"{BURST_SERVICE}\"\n\
             [provisioning]\nwait_ms = 3000\nmax_concurrent_calls = 1\nfailure_backoff_ms = 200\n\
             [defaults]\naddress_kind = \"conversations\"\nstudio_flow_sid = \"FW7d0b6e4f1a2c3b4d5e6f708192a3b4c5\"\n\
             [[sites]]\nid = \"{BURST_SITE}\"\nhosts = [\"burst.example\"]\nallowed_origins = [\"{BURST_ORIGIN}\"]\n\
             default_language = \"en\"\nlanguages = [{}]\n",
            languages.join(", ")
        ),
    )
    .unwrap();
    let env = [
        ("TWILIO_ACCOUNT_SID", BURST_ACCOUNT.to_string()),
        ("TWILIO_API_KEY", BURST_KEY.to_string()),
        ("TWILIO_API_SECRET", BURST_SECRET.to_string()),
        ("FLEXROUTE_TWILIO_FLEX_API_BASE", base.clone()),
        ("FLEXROUTE_TWILIO_CONVERSATIONS_API_BASE", base.clone()),
        (
            "FLEXROUTE_PROVISIONING_STATE",
            format!("file:{}", dir.path().join("state").display()),
        ),
    ];
    let args = ["serve", "--config", config.to_str().unwrap()];
    let client = client();

    let mut all: Vec<Answer> = Vec::new();
    let (mut kills, mut mid_create, mut moments, mut addresses_at_kill) =
        (0, 0, Vec::new(), Vec::new());
    for _ in 0..KILLS {
        let server = Running::spawn(&args, &env).await;
        let creates = emulator.calls(Op::AddressCreate);
        let tasks = burst(&client, &server);
        // A create of this process reaches the emulator (it has taken effect when counted);
        // none comes once every address exists.
        let waited = Instant::now();
        while emulator.calls(Op::AddressCreate) == creates && waited.elapsed() < LATENCY * 10 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if emulator.calls(Op::AddressCreate) == creates {
            all.extend(answers(tasks).await);
            server.stop().await;
            break;
        }
        let create_seen = Instant::now();
        // Before its answer is back: the process never learns the SID it made. (A busy
        // machine may oversleep past the answer: counted, not failed; the invariants below
        // hold for any moment.)
        let moment = rng.between(Duration::ZERO, LATENCY - Duration::from_millis(100));
        tokio::time::sleep(moment).await;
        mid_create += usize::from(create_seen.elapsed() < LATENCY);
        server.kill9().await;
        kills += 1;
        moments.push(moment.as_millis());
        addresses_at_kill.push(emulator.addresses().len());
        all.extend(answers(tasks).await);
    }
    let killed_answers = all.len();

    // Restarted on the same store: bursts until every language has started chats.
    let server = Running::spawn(&args, &env).await;
    let mut bursts = 0;
    loop {
        bursts += 1;
        let answered = answers(burst(&client, &server)).await;
        let ok: BTreeSet<usize> = answered
            .iter()
            .filter(|(_, a)| matches!(a, Ok((200, _))))
            .map(|(language, _)| *language)
            .collect();
        for (language, answer) in &answered {
            assert!(
                answer.is_ok(),
                "{}: the live process dropped a request: {answer:?}",
                BURST_LANGUAGES[*language]
            );
        }
        all.extend(answered);
        if ok.len() == BURST_LANGUAGES.len() {
            break;
        }
        assert!(
            bursts < 5,
            "after {bursts} bursts only languages {ok:?} answered 200; the last burst: {:?}",
            all[all.len() - BURST_REQUESTS..]
                .iter()
                .map(|(_, answer)| answer.as_ref().map(|(status, _)| *status))
                .collect::<BTreeSet<_>>()
        );
    }
    let metrics = server.metrics().await;
    server.stop().await;

    // Every visitor saw 200 or 503 (or, under a killed process, no answer at all).
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut dropped = 0;
    for (_, answer) in &all {
        match answer {
            Ok((status, _)) => *statuses.entry(*status).or_default() += 1,
            Err(_) => dropped += 1,
        }
    }
    assert!(
        statuses.keys().all(|s| [200, 503].contains(s)),
        "statuses {statuses:?}"
    );

    // One address per `Address`, ever.
    let addresses = emulator.addresses();
    let mut sids: BTreeMap<String, usize> = BTreeMap::new();
    for (index, language) in BURST_LANGUAGES.iter().enumerate() {
        let address = format!("flexroute-{BURST_SITE}-{language}");
        let made: Vec<_> = addresses
            .iter()
            .filter(|a| a.address.as_deref() == Some(address.as_str()))
            .collect();
        assert_eq!(made.len(), 1, "{address}: {made:?}");
        sids.insert(made[0].sid.clone(), index);
    }
    assert_eq!(addresses.len(), BURST_LANGUAGES.len(), "{addresses:?}");
    let creates = emulator.calls(Op::AddressCreate);
    assert_eq!(
        creates,
        BURST_LANGUAGES.len() as u64,
        "a create for an address that was already made"
    );

    // Every chat went to an address of ours, for the language its form says; every 200 to its
    // own language's address.
    let chats = emulator.web_chats();
    let mut chat_address = BTreeMap::new();
    for chat in &chats {
        let language = *sids.get(&chat.address_sid).unwrap_or_else(|| {
            panic!("a chat on an address not ours: {chat:?}");
        });
        let data = chat.pre_engagement_data.as_ref().unwrap();
        assert_eq!(data["language"], BURST_LANGUAGES[language], "{chat:?}");
        assert_eq!(data["site"], BURST_SITE, "{chat:?}");
        chat_address.insert(chat.conversation_sid.clone(), language);
    }
    let mut started_chats = 0;
    for (language, answer) in &all {
        if let Ok((200, conversation)) = answer {
            let conversation = conversation.as_ref().expect("a 200 names its conversation");
            assert_eq!(
                chat_address.get(conversation),
                Some(language),
                "{conversation} of {}",
                BURST_LANGUAGES[*language]
            );
            started_chats += 1;
        }
    }
    let provisioned = |outcome: &str| {
        metric(
            &metrics,
            &format!(r#"flexroute_provision_total{{outcome="{outcome}"}}"#),
        )
        .unwrap_or(0.0) as u64
    };
    eprintln!(
        "kill9 chats: kills={kills} (with a create in flight: {mid_create}) moments_ms={moments:?} addresses_at_each_kill={addresses_at_kill:?} \
         creates_attempted={creates} addresses={} chats={} (answered 200: {started_chats}) \
         statuses={statuses:?} dropped_by_kills={dropped} of {killed_answers} answers under killed processes \
         final_bursts={bursts} final_process: stored={} adopted={} created={} took={:.1}s seed={seed}",
        addresses.len(),
        chats.len(),
        provisioned("stored"),
        provisioned("adopted"),
        provisioned("created"),
        started.elapsed().as_secs_f64()
    );
    assert!(mid_create > 0, "no kill landed on a create in flight");
}

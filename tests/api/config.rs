//! The configuration format: validation naming every problem with its location,
//! `FLEXROUTE_*` overrides, and the example file.

use flexroute::config::{
    Config, ConfigError, Environment, ProvisioningConfig, ServerConfig, TwilioConfig, keys,
};

use crate::support::{FIXTURE, Server};

fn problems(toml: &str) -> Vec<String> {
    match Config::from_toml_str(toml, &Environment::default()) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems(),
    }
}

fn assert_has(problems: &[String], expected: &str) {
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "no problem mentions {expected:?} in:\n{}",
        problems.join("\n")
    );
}

const BROKEN: &str = r#"
colour = "blue"

[server]
listen = "nowhere"
cache_max_agesecs = 5

[twilio]
account_sid = "AC123"
chat_service_sid = "IS0123456789abcdef0123456789abcdeg"

[provisioning]
friendly_name = "WebChat {site}"

[defaults]
studio_flow_sid = "FO0123456789abcdef0123456789abcdef"

[[sites]]
id = "acme"
hosts = ["acme.example", "*.acme.example", "bad host"]
allowed_origins = ["https://acme.example/path", "*"]
default_language = "it-IT"
languages = ["en-US", "es_MX", "en-us"]
language_cookie = "bad cookie"
hostz = ["typo.example"]

[sites.language."en-US"]
flex_flow_sid = "FW00000000000000000000000000000001"
flexflow_sid = "FO00000000000000000000000000000001"

[sites.language."de-DE"]
flex_flow_sid = "FO00000000000000000000000000000002"

[[sites]]
id = "Other Site"
hosts = ["ACME.example", "*.acme.example"]
default_language = "en-US"
languages = ["en-US"]
"#;

#[test]
fn every_problem_is_named_with_its_location() {
    let found = problems(BROKEN);
    for expected in [
        "colour: unknown key",
        "server.cache_max_agesecs: unknown key",
        "sites[0].hostz: unknown key",
        "sites[0].language.\"en-US\".flexflow_sid: unknown key",
        "server.listen: `nowhere` is not an address",
        "twilio.account_sid: `AC123` is not a valid SID",
        "twilio.chat_service_sid: `IS0123456789abcdef0123456789abcdeg` is not a valid SID",
        "provisioning.friendly_name: must contain {language}",
        "defaults.studio_flow_sid: `FO0123456789abcdef0123456789abcdef` is not a valid SID: expected FW",
        "sites[0].hosts[2]: `bad host` is not a host name",
        "sites[0].allowed_origins[0]",
        "sites[0].allowed_origins[1]",
        "sites[0].default_language: `it-IT` is not one of this site's languages",
        "sites[0].languages[1]: `es_MX` is not a valid language tag",
        "sites[0].languages[2]: `en-us` is listed twice",
        "sites[0].language_cookie: `bad cookie` is not a valid cookie name",
        "sites[0].language.\"en-US\".flex_flow_sid: `FW00000000000000000000000000000001` is not a valid SID: expected FO",
        "sites[0].language.\"de-DE\": not one of this site's `languages`",
        "sites[1].id: `Other Site` must be",
        "sites[1].hosts[0]: duplicate host `acme.example`: also claimed by sites[0] at sites[0].hosts[0]",
        "sites[1].hosts[1]: duplicate host `*.acme.example`",
    ] {
        assert_has(&found, expected);
    }
    assert_eq!(found.len(), 21, "{}", found.join("\n"));
}

#[test]
fn type_errors_and_empty_tables_are_problems_too() {
    let found = problems("[server]\ncache_max_age_secs = \"soon\"\n[[sites]]\nid = 5\n");
    assert_has(
        &found,
        "server: invalid type: string \"soon\", expected u64",
    );
    assert_has(
        &found,
        "sites[0]: invalid type: integer `5`, expected a string",
    );
    assert_has(&problems(""), "sites: the routing table is empty");
    let with_userinfo = FIXTURE.replace(
        "[twilio]",
        "[twilio]\nflex_api_base = \"https://AC1:s3cr3t-token@flex-api.twilio.com\"",
    );
    let found = problems(&with_userinfo);
    assert_has(&found, "twilio.flex_api_base: must not carry credentials");
    assert!(!found.join(" ").contains("s3cr3t-token"), "{found:?}");
    assert_has(
        &problems("[[sites]]\nid='a'\ndefault_language='en'\nlanguages=[]"),
        "sites[0].languages: must list at least one language",
    );
    match Config::from_toml_str("[server\nlisten=1", &Environment::default()) {
        Err(ConfigError::Syntax { message, .. }) => {
            assert!(message.contains("line 1"), "{message}")
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    // A pair to provision needs what its integration type requires.
    let to_provision = "[[sites]]\nid='a'\ndefault_language='en'\nlanguages=['en']\n[sites.language.en]\nintegration_type='task'\nworkspace_sid='WS0123456789abcdef0123456789abcdef'";
    assert_has(
        &problems(to_provision),
        "sites[0].language.\"en\": has addresses to provision but no `workflow_sid`",
    );
}

#[test]
fn environment_overrides_the_file() {
    let env = Environment::from_pairs([
        ("FLEXROUTE_SERVER_LISTEN", "127.0.0.1:1234"),
        ("FLEXROUTE_PROVISIONING_WAIT_MS", "250"),
        ("FLEXROUTE_PROVISIONING_ENABLED", "false"),
        (
            "FLEXROUTE_DEFAULTS_WIDGET",
            "{ startEngagementOnInit = true }",
        ),
        (
            "FLEXROUTE_TWILIO_ACCOUNT_SID",
            "AC11111111111111111111111111111111",
        ),
        ("TWILIO_ACCOUNT_SID", "AC22222222222222222222222222222222"),
        // Kubernetes service links and other programs' variables are not ours: ignored.
        ("FLEXROUTE_SERVICE_HOST", "10.0.0.1"),
        ("FLEXROUTE_PORT", "tcp://10.0.0.1:80"),
        // A known section with an unknown key is probably a typo: a warning.
        ("FLEXROUTE_SERVER_LISTN", "x"),
    ]);
    let loaded = Config::from_toml_str(FIXTURE, &env).unwrap();
    let c = &loaded.config;
    assert_eq!(c.server.listen, "127.0.0.1:1234");
    assert_eq!(c.provisioning.wait_ms, 250);
    assert!(!c.provisioning.enabled);
    assert_eq!(
        c.defaults.widget["startEngagementOnInit"].as_bool(),
        Some(true)
    );
    assert_eq!(
        c.twilio.account_sid.as_deref(),
        Some("AC11111111111111111111111111111111")
    );
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("FLEXROUTE_SERVER_LISTN"));

    // TWILIO_ACCOUNT_SID fills in when neither the file nor FLEXROUTE_* sets it.
    let without = FIXTURE.replace("account_sid = \"AC0123456789abcdef0123456789abcdef\"", "");
    let env =
        Environment::from_pairs([("TWILIO_ACCOUNT_SID", "AC22222222222222222222222222222222")]);
    let loaded = Config::from_toml_str(&without, &env).unwrap();
    assert_eq!(
        loaded.config.twilio.account_sid.as_deref(),
        Some("AC22222222222222222222222222222222")
    );

    // A bad value from the environment is a problem that names the variable.
    let env = Environment::from_pairs([("FLEXROUTE_SERVER_CACHE_MAX_AGE_SECS", "soon")]);
    let found = match Config::from_toml_str(FIXTURE, &env) {
        Err(e) => e.problems(),
        Ok(_) => panic!("accepted a non-number"),
    };
    assert_has(&found, "FLEXROUTE_SERVER_CACHE_MAX_AGE_SECS");
}

#[tokio::test]
async fn environment_overrides_reach_a_running_server() {
    let env = Environment::from_pairs([("FLEXROUTE_SERVER_CACHE_MAX_AGE_SECS", "5")]);
    let server = Server::start_with(FIXTURE, env).await;
    let response = server.config("site=acme").send().await.unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=5");
    server.stop().await;
}

/// The example file documents every key the format accepts (so the key lists that catch
/// unknown keys and the typed structs cannot drift apart unnoticed), and it is valid.
#[test]
fn example_config_is_valid_and_uses_every_key() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/flexroute.toml"
    ))
    .unwrap();
    Config::from_toml_str(&text, &Environment::default()).expect("example config is valid");
    let root: toml::Table = toml::from_str(&text).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    collect_keys(&root, "", &mut seen);
    let mut expected = Vec::new();
    for key in keys::top() {
        expected.push(key.to_string());
    }
    for (section, list) in [
        ("server", keys::server()),
        ("twilio", keys::twilio()),
        ("provisioning", keys::provisioning()),
    ] {
        expected.extend(list.iter().map(|k| format!("{section}.{k}")));
    }
    expected.extend(keys::DEFAULTS.iter().map(|k| format!("defaults.{k}")));
    expected.extend(keys::SITE.iter().map(|k| format!("sites.{k}")));
    expected.extend(
        keys::LANGUAGE
            .iter()
            .map(|k| format!("sites.language.*.{k}")),
    );
    let mut missing: Vec<String> = expected.into_iter().filter(|k| !seen.contains(k)).collect();
    // Flex Flow settings may sit at any of the three levels; each must be shown at one.
    missing.extend(keys::flow().iter().filter_map(|k| {
        let shown = ["defaults", "sites", "sites.language.*"]
            .iter()
            .any(|level| seen.contains(&format!("{level}.{k}")));
        (!shown).then(|| format!("{k} (in defaults, a site or a language)"))
    }));
    assert!(missing.is_empty(), "the example does not show {missing:?}");
}

fn collect_keys(table: &toml::Table, prefix: &str, seen: &mut std::collections::BTreeSet<String>) {
    for (key, value) in table {
        // Keys of [sites.language] are language tags, not format keys.
        let name = if prefix == "sites.language" {
            "*"
        } else {
            key.as_str()
        };
        let path = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        seen.insert(path.clone());
        if key == "widget" {
            continue; // free-form: whatever the widget accepts
        }
        match value {
            toml::Value::Table(t) => collect_keys(t, &path, seen),
            toml::Value::Array(items) => {
                for item in items.iter().filter_map(toml::Value::as_table) {
                    collect_keys(item, &path, seen);
                }
            }
            _ => {}
        }
    }
}

#[test]
fn every_shipped_example_is_valid() {
    let mut checked = 0;
    let dirs = ["/config", "/deploy/base"].map(|d| format!("{}{d}", env!("CARGO_MANIFEST_DIR")));
    for entry in dirs.iter().flat_map(|dir| std::fs::read_dir(dir).unwrap()) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = Config::load(&path, &Environment::default()) {
                panic!("{}: {e}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 3, "checked {checked} examples");
}

/// The README's configuration reference names every key the format accepts, no key it does
/// not, and the default of every `[server]`, `[twilio]` and `[provisioning]` key as the code
/// has it.
#[test]
fn the_readme_documents_every_key_and_its_default() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let sections = [
        ("server", keys::server()),
        ("twilio", keys::twilio()),
        ("provisioning", keys::provisioning()),
    ];
    let mut missing = Vec::new();
    for (section, list) in sections {
        missing.extend(
            list.iter()
                .map(|k| format!("{section}.{k}"))
                .filter(|k| !readme.contains(&format!("`{k}`"))),
        );
    }
    for key in keys::flow().iter().chain(keys::SITE).chain(keys::LANGUAGE) {
        if !readme.contains(&format!("`{key}`")) && !readme.contains(&format!(".{key}`")) {
            missing.push(key.to_string());
        }
    }
    assert!(missing.is_empty(), "README does not document {missing:?}");

    // The table's rows of those sections: `| `section.key` | default | meaning |`.
    let mut documented: std::collections::BTreeMap<&str, toml::Table> = Default::default();
    let mut unknown = Vec::new();
    for row in readme.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let key = cells[0].trim_start_matches("| `").trim_end_matches('`');
        let Some((section, name)) = key.split_once('.') else {
            continue;
        };
        let Some((_, list)) = sections.iter().find(|(s, _)| *s == section) else {
            continue;
        };
        if !list.contains(&name) {
            unknown.push(key.to_string());
            continue;
        }
        // `—` (unset) and an environment variable (`TWILIO_ACCOUNT_SID`) are not values.
        let default = cells[1].trim_matches('`');
        if default == "—" || default.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            continue;
        }
        // A TOML literal (a number, `true`, `[]`) as written, anything else as a string.
        let value = toml::from_str::<toml::Table>(&format!("v = {default}"))
            .map(|mut t| t.remove("v").unwrap())
            .unwrap_or_else(|_| toml::Value::String(default.to_string()));
        documented
            .entry(section)
            .or_default()
            .insert(name.to_string(), value);
    }
    assert!(
        unknown.is_empty(),
        "README documents keys the format does not have: {unknown:?}"
    );
    let as_read = |section: &str| toml::Value::Table(documented[section].clone());
    let server: ServerConfig = as_read("server").try_into().unwrap();
    assert_eq!(
        server,
        ServerConfig::default(),
        "README's [server] defaults"
    );
    let twilio: TwilioConfig = as_read("twilio").try_into().unwrap();
    assert_eq!(
        twilio,
        TwilioConfig::default(),
        "README's [twilio] defaults"
    );
    let provisioning: ProvisioningConfig = as_read("provisioning").try_into().unwrap();
    assert_eq!(
        provisioning,
        ProvisioningConfig::default(),
        "README's [provisioning] defaults"
    );
}

/// The timing keys exactly-once rests on are bounded to values that keep it meaningful: each
/// problem names the key and why; the bounds themselves are accepted.
#[test]
fn timing_keys_are_bounded_to_values_that_keep_the_guarantee() {
    let with = |extra: &str| {
        let text = FIXTURE.replace(
            "[defaults]",
            &format!(
                "[provisioning]\nstate = \"redis://redis.example:6379/0\"\n{extra}\n\n[defaults]"
            ),
        );
        assert_ne!(text, FIXTURE, "the fixture has a [defaults] table");
        problems(&text)
    };
    // What was accepted before: a 1 ms upstream timeout, a 1 ms command timeout, a 3 ms lease.
    let found = with(
        "upstream_timeout_ms = 1\nredis_command_timeout_ms = 1\nredis_connect_timeout_ms = 1\nredis_lease_ttl_ms = 3",
    );
    for expected in [
        "provisioning.upstream_timeout_ms: must be between 1000 and 120000: a create given up on sooner",
        "provisioning.redis_command_timeout_ms: must be between 50 and 60000: shorter, ordinary network jitter fails lease renewals",
        "provisioning.redis_connect_timeout_ms: must be between 50 and 60000",
        "provisioning.redis_lease_ttl_ms: must be at least 2 × (upstream_timeout_ms + redis_command_timeout_ms) (4 ms)",
    ] {
        assert_has(&found, expected);
    }
    // The relation, at the smallest upstream timeout: 2 × (1000 + 50) = 2100.
    let base =
        "upstream_timeout_ms = 1000\nredis_command_timeout_ms = 50\nredis_connect_timeout_ms = 50";
    assert_eq!(
        with(&format!("{base}\nredis_lease_ttl_ms = 2100")),
        Vec::<String>::new()
    );
    assert_has(
        &with(&format!("{base}\nredis_lease_ttl_ms = 2099")),
        "provisioning.redis_lease_ttl_ms: must be at least 2 × (upstream_timeout_ms + redis_command_timeout_ms) (2100 ms): a create starts only while the lease holds for one upstream timeout more",
    );
    // Still at least 3 × the command timeout (a renewal every third of the lease).
    assert_has(
        &with(
            "upstream_timeout_ms = 1000\nredis_command_timeout_ms = 60000\nredis_lease_ttl_ms = 122000",
        ),
        "provisioning.redis_lease_ttl_ms: must be at least 3 × redis_command_timeout_ms (180000 ms)",
    );
    // The maxima.
    let found = with(
        "upstream_timeout_ms = 120001\nredis_command_timeout_ms = 60001\nredis_connect_timeout_ms = 60001\nredis_lease_ttl_ms = 600001",
    );
    for expected in [
        "provisioning.upstream_timeout_ms: must be between 1000 and 120000",
        "provisioning.redis_command_timeout_ms: must be between 50 and 60000",
        "provisioning.redis_connect_timeout_ms: must be between 50 and 60000",
        "provisioning.redis_lease_ttl_ms: must be at most 600000: a replica that dies holding a lease",
    ] {
        assert_has(&found, expected);
    }
    assert_eq!(
        with(
            "upstream_timeout_ms = 120000\nredis_command_timeout_ms = 60000\nredis_connect_timeout_ms = 60000\nredis_lease_ttl_ms = 600000"
        ),
        Vec::<String>::new()
    );
    // The upstream timeout is bounded whatever the store.
    let file = FIXTURE.replace(
        "[defaults]",
        "[provisioning]\nstate = \"file:/tmp/flexroute-bounds-state\"\nupstream_timeout_ms = 999\n\n[defaults]",
    );
    assert_has(
        &problems(&file),
        "provisioning.upstream_timeout_ms: must be between 1000 and 120000",
    );
}

//! Unknown-key detection. serde stops at the first unknown field (and cannot see through
//! `flatten`), so the file is walked here against the key lists of the format, naming every
//! stray key with its path. `tests/api/config.rs` checks these lists against the example file,
//! which uses every key.

use toml::de::DeValue;

use super::Problem;

pub const TOP: &[&str] = &["server", "twilio", "provisioning", "defaults", "sites"];
pub const SERVER: &[&str] = &[
    "listen",
    "admin_listen",
    "cache_max_age_secs",
    "cache_max_entries",
    "config_watch_ms",
    "shutdown_drain_ms",
    "shutdown_timeout_ms",
    "header_read_timeout_ms",
    "write_timeout_ms",
    "max_connections",
    "rate_limit_per_second",
    "rate_limit_burst",
    "rate_limit_max_clients",
    "trusted_proxies",
    "client_ip_header",
    "public_url",
];
pub const TWILIO: &[&str] = &[
    "account_sid",
    "chat_service_sid",
    "flex_api_base",
    "conversations_service_sid",
    "conversations_api_base",
    "token_ttl_secs",
];
pub const PROVISIONING: &[&str] = &[
    "enabled",
    "friendly_name",
    "chat_address",
    "wait_ms",
    "state",
    "max_concurrent_calls",
    "failure_backoff_ms",
    "upstream_timeout_ms",
    "redis_key_prefix",
    "redis_pool_size",
    "redis_connect_timeout_ms",
    "redis_command_timeout_ms",
    "redis_lease_ttl_ms",
    "redis_resync_ms",
    "redis_unavailable",
    "redis_warn_every_ms",
];
/// Address settings, accepted in `[defaults]`, in a site and in a language.
pub const FLOW: &[&str] = &[
    "address_kind",
    "integration_type",
    "studio_flow_sid",
    "webhook_url",
    "workspace_sid",
    "workflow_sid",
    "task_channel",
    "enabled",
    "janitor_enabled",
    "long_lived",
    "widget_script",
];
pub const DEFAULTS: &[&str] = &["widget"];
pub const SITE: &[&str] = &[
    "id",
    "hosts",
    "allowed_origins",
    "default_language",
    "languages",
    "path_language",
    "language_cookie",
    "widget",
    "language",
];
pub const LANGUAGE: &[&str] = &["flex_flow_sid", "address_sid", "deployment_key", "widget"];

/// The keys a `[section]` accepts, for sections that the environment may override.
pub fn section_keys(section: &str) -> Option<Vec<&'static str>> {
    Some(match section {
        "server" => SERVER.to_vec(),
        "twilio" => TWILIO.to_vec(),
        "provisioning" => PROVISIONING.to_vec(),
        "defaults" => [DEFAULTS, FLOW].concat(),
        _ => return None,
    })
}

/// Every key of `root` outside `[[sites]]` that the format does not define, as a problem
/// with its path.
pub fn unknown_keys(root: &toml::Table) -> Vec<Problem> {
    let mut problems = Vec::new();
    check(root.keys().map(String::as_str), "", &[TOP], &mut problems);
    for (section, allowed) in [
        ("server", &[SERVER][..]),
        ("twilio", &[TWILIO]),
        ("provisioning", &[PROVISIONING]),
        ("defaults", &[DEFAULTS, FLOW]),
    ] {
        if let Some(toml::Value::Table(table)) = root.get(section) {
            check(
                table.keys().map(String::as_str),
                section,
                allowed,
                &mut problems,
            );
        }
    }
    problems
}

/// Every key of the `[[sites]]` array (read from the document, not an owned copy) that the
/// format does not define.
pub fn unknown_site_keys(sites: &DeValue<'_>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(sites) = sites.as_array() else {
        return problems;
    };
    for (i, site) in sites.into_iter().enumerate() {
        let Some(site) = site.get_ref().as_table() else {
            continue;
        };
        let path = format!("sites[{i}]");
        check(
            site.keys().map(|k| &**k.get_ref()),
            &path,
            &[SITE, FLOW],
            &mut problems,
        );
        let Some(languages) = site.get("language").and_then(|l| l.get_ref().as_table()) else {
            continue;
        };
        for (tag, language) in languages {
            if let Some(language) = language.get_ref().as_table() {
                let path = format!("{path}.language.\"{}\"", tag.get_ref());
                check(
                    language.keys().map(|k| &**k.get_ref()),
                    &path,
                    &[LANGUAGE, FLOW],
                    &mut problems,
                );
            }
        }
    }
    problems
}

fn check<'k>(
    keys: impl Iterator<Item = &'k str>,
    path: &str,
    allowed: &[&[&str]],
    problems: &mut Vec<Problem>,
) {
    for key in keys {
        if !allowed.iter().any(|list| list.contains(&key)) {
            let at = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
            problems.push(Problem::new(at, "unknown key".to_string()));
        }
    }
}

//! Semantic checks, run after the file has parsed. Every problem is collected (never just the
//! first), each with the path of the key it is about.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::state_url::Backend;
use super::{AddressKind, Config, FlowSettings, IntegrationType, LanguageConfig, SiteConfig};
use ipnet::IpNet;

use crate::config::Environment;
use crate::lookup::hosts::{HostPattern, normalize_origin};
use crate::lookup::languages::TagCache;
use crate::redact::{redact_url, redact_urls_in};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: a dotted key path such as `sites[1].hosts[0]`.
    pub path: String,
    pub message: String,
}

impl Problem {
    /// A problem at `path`. Any URL's user-info in `message` is masked: a message may quote a
    /// value, and problems are printed, logged and answered by the admin API.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: redact_urls_in(&message.into()),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Checks a SID's two-letter prefix and 32 hex digits (`^(FO|FW|IS|AC|WS|WW)[0-9a-fA-F]{32}$`,
/// with the prefix the key calls for).
pub fn check_sid(value: &str, prefix: &str) -> Result<(), String> {
    let hex = value.strip_prefix(prefix).unwrap_or("");
    if value.starts_with(prefix) && hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not a valid SID: expected {prefix} followed by 32 hex digits"
        ))
    }
}

/// A `server.trusted_proxies` entry: an address (`10.0.0.7`, `::1`) or a CIDR block
/// (`10.0.0.0/8`).
pub fn parse_trusted_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is not an IP address or a CIDR block like 10.0.0.0/8"))
}

struct Checker {
    problems: Vec<Problem>,
    tags: TagCache,
}

impl Checker {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    fn sid(&mut self, path: impl Into<String>, value: Option<&str>, prefix: &str) {
        if let Some(value) = value
            && let Err(message) = check_sid(value, prefix)
        {
            self.push(path, message);
        }
    }

    fn flow(&mut self, path: &str, flow: &FlowSettings) {
        let at = |key: &str| {
            if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            }
        };
        self.sid(at("studio_flow_sid"), flow.studio_flow_sid.as_deref(), "FW");
        self.sid(at("workspace_sid"), flow.workspace_sid.as_deref(), "WS");
        self.sid(at("workflow_sid"), flow.workflow_sid.as_deref(), "WW");
        if let Some(url) = &flow.webhook_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            let url = redact_url(url);
            self.push(at("webhook_url"), format!("`{url}` is not an http(s) URL"));
        }
        for (kind, message) in flow.widget_script.problems() {
            self.push(at(&format!("widget_script.{kind}")), message);
        }
    }
}

pub fn validate(config: &Config) -> Vec<Problem> {
    let mut c = Checker {
        problems: Vec::new(),
        tags: TagCache::default(),
    };
    server(&mut c, config);
    match config.twilio.account_sid.as_deref() {
        Some(sid) => c.sid("twilio.account_sid", Some(sid), "AC"),
        None => c.push(
            "twilio.account_sid",
            "required (here or in TWILIO_ACCOUNT_SID): widgets need it as accountSid",
        ),
    }
    c.sid(
        "twilio.chat_service_sid",
        config.twilio.chat_service_sid.as_deref(),
        "IS",
    );
    c.sid(
        "twilio.conversations_service_sid",
        config.twilio.conversations_service_sid.as_deref(),
        "IS",
    );
    let ttl = config.twilio.token_ttl_secs;
    if !(60..=MAX_TOKEN_TTL_SECS).contains(&ttl) {
        c.push(
            "twilio.token_ttl_secs",
            format!("must be between 60 and {MAX_TOKEN_TTL_SECS} (Twilio accepts tokens of at most 24 hours)"),
        );
    }
    provisioning(&mut c, config);
    kinds(&mut c, config);
    c.flow("defaults", &config.defaults.flow);
    if config.sites.is_empty() {
        c.push(
            "sites",
            "the routing table is empty: add at least one [[sites]] entry",
        );
    }
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut hosts: HashMap<String, (usize, String)> = HashMap::new();
    for (i, site) in config.sites.iter().enumerate() {
        let path = format!("sites[{i}]");
        if let Some(first) = ids.insert(site.id.as_str(), i) {
            c.push(
                format!("{path}.id"),
                format!("duplicate site id `{}` (also sites[{first}])", site.id),
            );
        }
        site_checks(&mut c, config, &path, site, i, &mut hosts);
    }
    c.problems
}

fn server(c: &mut Checker, config: &Config) {
    for (key, value) in [
        ("server.listen", &config.server.listen),
        ("server.admin_listen", &config.server.admin_listen),
    ] {
        if value.parse::<std::net::SocketAddr>().is_err() {
            c.push(
                key,
                format!("`{value}` is not an address like 0.0.0.0:8080"),
            );
        }
    }
    let s = &config.server;
    if s.cache_max_entries == 0 {
        c.push("server.cache_max_entries", "must be at least 1");
    }
    if s.header_read_timeout_ms == 0 {
        c.push("server.header_read_timeout_ms", "must be at least 1");
    }
    if s.write_timeout_ms == 0 {
        c.push("server.write_timeout_ms", "must be at least 1");
    }
    if s.max_connections == 0 {
        c.push("server.max_connections", "must be at least 1");
    }
    if !(s.rate_limit_per_second.is_finite() && s.rate_limit_per_second >= 0.0) {
        c.push(
            "server.rate_limit_per_second",
            "must be a number of requests per second, 0 for no limit",
        );
    }
    if s.rate_limit_burst == 0 {
        c.push("server.rate_limit_burst", "must be at least 1");
    }
    if s.rate_limit_max_clients == 0 {
        c.push("server.rate_limit_max_clients", "must be at least 1");
    }
    for (i, proxy) in s.trusted_proxies.iter().enumerate() {
        if let Err(message) = parse_trusted_proxy(proxy) {
            c.push(format!("server.trusted_proxies[{i}]"), message);
        }
    }
    if http::HeaderName::from_bytes(s.client_ip_header.as_bytes()).is_err() {
        c.push(
            "server.client_ip_header",
            format!("`{}` is not a header name", s.client_ip_header),
        );
    }
    for (key, base) in [
        ("twilio.flex_api_base", &config.twilio.flex_api_base),
        (
            "twilio.conversations_api_base",
            &config.twilio.conversations_api_base,
        ),
    ] {
        if let Err(message) = super::urls::check_api_base(base) {
            c.push(key, message);
        }
    }
    if let Some(url) = &s.public_url {
        match super::urls::parse_http_url(url) {
            Ok(parsed) if parsed.query().is_some() || parsed.fragment().is_some() => c.push(
                "server.public_url",
                format!(
                    "`{}` is not a URL like https://chat.example.com (an optional path, no query or fragment)",
                    redact_url(url)
                ),
            ),
            Ok(_) => {}
            Err(message) => c.push("server.public_url", message),
        }
    }
}

/// Twilio's longest access-token lifetime.
pub const MAX_TOKEN_TTL_SECS: u64 = 24 * 60 * 60;

fn provisioning(c: &mut Checker, config: &Config) {
    let p = &config.provisioning;
    for placeholder in ["{site}", "{language}"] {
        if !p.friendly_name.contains(placeholder) {
            c.push(
                "provisioning.friendly_name",
                format!("must contain {placeholder}, or two pairs would share one address name"),
            );
        }
    }
    if p.max_concurrent_calls == 0 {
        c.push("provisioning.max_concurrent_calls", "must be at least 1");
    }
    if !(UPSTREAM_TIMEOUT_MS.0..=UPSTREAM_TIMEOUT_MS.1).contains(&p.upstream_timeout_ms) {
        c.push(
            "provisioning.upstream_timeout_ms",
            format!(
                "must be between {} and {}: a create given up on sooner may still be applied by Twilio after another replica looked for it (a duplicate), and the Redis lease must outlive two of these",
                UPSTREAM_TIMEOUT_MS.0, UPSTREAM_TIMEOUT_MS.1
            ),
        );
    }
    let unpinned = |kind: AddressKind| {
        pair_settings(config)
            .any(|(_, _, flow, language)| kind_of(&flow) == kind && pin(language, kind).is_none())
    };
    if p.enabled && unpinned(AddressKind::FlexFlow) && config.twilio.chat_service_sid.is_none() {
        c.push(
            "twilio.chat_service_sid",
            "required to provision flex_flow addresses (or set provisioning.enabled = false, or pin every flex_flow_sid)",
        );
    }
    if p.enabled && unpinned(AddressKind::Conversations) {
        for placeholder in ["{site}", "{language}"] {
            if !p.chat_address.contains(placeholder) {
                c.push(
                    "provisioning.chat_address",
                    format!("must contain {placeholder}: Twilio refuses a second chat address with the same value"),
                );
            }
        }
    }
    match p.state.backend() {
        Backend::Redis => {
            if let Err(message) = super::state_url::check_url(&p.state) {
                c.push("provisioning.state", message);
            }
            lease_ttl(c, p);
        }
        // Cheap to see here; opening the store at start refuses these (and more) too.
        Backend::File(path) if path.as_os_str().is_empty() => {
            c.push("provisioning.state", "file: needs a path");
        }
        Backend::File(path) => {
            if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
                c.push(
                    "provisioning.state",
                    format!(
                        "{} is not a regular file (a directory or a device cannot hold the state)",
                        path.display()
                    ),
                );
            }
        }
        Backend::Unknown => c.push(
            "provisioning.state",
            format!(
                "`{}` must start with file:, redis:// or rediss://",
                redact_url(&p.state)
            ),
        ),
    }
    redis(c, p);
}

/// Bounds of `provisioning.upstream_timeout_ms` (see docs/replicas.md, "The guarantee").
pub const UPSTREAM_TIMEOUT_MS: (u64, u64) = (1000, 120_000);
/// Bounds of `redis_command_timeout_ms` and `redis_connect_timeout_ms`.
pub const REDIS_TIMEOUT_MS: (u64, u64) = (50, 60_000);
/// Longest `redis_lease_ttl_ms`: a holder that dies keeps its pair from being created that long.
pub const LEASE_TTL_MAX_MS: u64 = 600_000;

/// The lease must outlast what its holder does under it: renewals (every third of it) that may
/// each take a command timeout, and creates, each started only while the lease is valid for at
/// least one upstream timeout (0.9 of the TTL right after a renewal, 0.57 just before the next).
/// Just before a renewal's answer arrives the holder counts on about 0.9 × TTL − TTL / 3 − one
/// command timeout, at least one upstream timeout when TTL ≥ 2 × (upstream + command): creates
/// then start without waiting for a renewal. Safety does not rest on this (a create never starts
/// without one upstream timeout of lease left); liveness does.
fn lease_ttl(c: &mut Checker, p: &super::ProvisioningConfig) {
    let ttl = p.redis_lease_ttl_ms;
    let least = 2 * (p.upstream_timeout_ms + p.redis_command_timeout_ms);
    if ttl < least {
        c.push(
            "provisioning.redis_lease_ttl_ms",
            format!(
                "must be at least 2 × (upstream_timeout_ms + redis_command_timeout_ms) ({least} ms): a create starts only while the lease holds for one upstream timeout more, which a shorter lease, waiting for a renewal's answer, does not always"
            ),
        );
    }
    if ttl > LEASE_TTL_MAX_MS {
        c.push(
            "provisioning.redis_lease_ttl_ms",
            format!(
                "must be at most {LEASE_TTL_MAX_MS}: a replica that dies holding a lease keeps its pair from being provisioned that long"
            ),
        );
    }
    if ttl < 3 * p.redis_command_timeout_ms.max(1) {
        c.push(
            "provisioning.redis_lease_ttl_ms",
            format!(
                "must be at least 3 × redis_command_timeout_ms ({} ms): the holder renews every third of it",
                3 * p.redis_command_timeout_ms
            ),
        );
    }
}

/// The `redis_*` keys, checked whatever the store (a file that switches to Redis by an
/// environment variable should not find out about a bad value then).
fn redis(c: &mut Checker, p: &super::ProvisioningConfig) {
    if p.redis_pool_size == 0 || p.redis_pool_size > 64 {
        c.push("provisioning.redis_pool_size", "must be between 1 and 64");
    }
    for (key, value) in [
        (
            "provisioning.redis_connect_timeout_ms",
            p.redis_connect_timeout_ms,
        ),
        (
            "provisioning.redis_command_timeout_ms",
            p.redis_command_timeout_ms,
        ),
    ] {
        if !(REDIS_TIMEOUT_MS.0..=REDIS_TIMEOUT_MS.1).contains(&value) {
            c.push(
                key,
                format!(
                    "must be between {} and {}: shorter, ordinary network jitter fails lease renewals and creates stop; longer, a dead Redis holds requests that long",
                    REDIS_TIMEOUT_MS.0, REDIS_TIMEOUT_MS.1
                ),
            );
        }
    }
    if p.redis_resync_ms < 100 {
        c.push("provisioning.redis_resync_ms", "must be at least 100");
    }
    if p.redis_warn_every_ms < 100 {
        c.push("provisioning.redis_warn_every_ms", "must be at least 100");
    }
    if p.redis_key_prefix.len() > 64
        || p.redis_key_prefix
            .chars()
            .any(|ch| ch.is_control() || ch.is_whitespace())
    {
        c.push(
            "provisioning.redis_key_prefix",
            "must be at most 64 characters, without spaces or control characters",
        );
    }
}

fn site_checks(
    c: &mut Checker,
    config: &Config,
    path: &str,
    site: &SiteConfig,
    index: usize,
    hosts: &mut HashMap<String, (usize, String)>,
) {
    let id_ok = !site.id.is_empty()
        && site.id.len() <= 64
        && site
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !id_ok {
        c.push(
            format!("{path}.id"),
            format!(
                "`{}` must be 1-64 characters of a-z, 0-9, '-' or '_'",
                site.id
            ),
        );
    }
    for (h, host) in site.hosts.iter().enumerate() {
        let at = format!("{path}.hosts[{h}]");
        match HostPattern::parse(host) {
            Ok(pattern) => {
                let key = pattern.to_string();
                if let Some((other, other_at)) = hosts.get(&key) {
                    let whose = if *other == index {
                        "listed twice in this site".to_string()
                    } else {
                        format!("also claimed by sites[{other}] at {other_at}")
                    };
                    c.push(at, format!("duplicate host `{key}`: {whose}"));
                } else {
                    hosts.insert(key, (index, at));
                }
            }
            Err(message) => c.push(at, message),
        }
    }
    for (o, origin) in site.allowed_origins.iter().enumerate() {
        if normalize_origin(origin).is_none() {
            c.push(
                format!("{path}.allowed_origins[{o}]"),
                format!(
                    "`{origin}` is not an origin like https://shop.example (scheme and host, optional port, no path, no *)"
                ),
            );
        }
    }
    if let Some(cookie) = &site.language_cookie {
        let token = !cookie.is_empty()
            && cookie
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            c.push(
                format!("{path}.language_cookie"),
                format!("`{cookie}` is not a valid cookie name"),
            );
        }
    }
    c.flow(path, &site.flow);
    languages(c, config, path, site);
}

fn languages(c: &mut Checker, config: &Config, path: &str, site: &SiteConfig) {
    if site.languages.is_empty() {
        c.push(
            format!("{path}.languages"),
            "must list at least one language",
        );
    }
    let mut seen: HashSet<Arc<str>> = HashSet::new();
    for (l, tag) in site.languages.iter().enumerate() {
        match c.tags.canonical(tag) {
            Ok(canonical) => {
                if !seen.insert(canonical.clone()) {
                    c.push(
                        format!("{path}.languages[{l}]"),
                        format!("`{tag}` is listed twice"),
                    );
                }
            }
            Err(message) => c.push(format!("{path}.languages[{l}]"), message),
        }
    }
    match c.tags.canonical(&site.default_language) {
        Ok(canonical) if !seen.contains(&canonical) => c.push(
            format!("{path}.default_language"),
            format!(
                "`{}` is not one of this site's languages",
                site.default_language
            ),
        ),
        Ok(_) => {}
        Err(message) => c.push(format!("{path}.default_language"), message),
    }
    let inherited = site.flow.inherit(&config.defaults.flow);
    let mut configured: HashSet<Arc<str>> = HashSet::new();
    for (tag, language) in &site.language {
        let at = format!("{path}.language.\"{tag}\"");
        match c.tags.canonical(tag) {
            Ok(canonical) if !seen.contains(&canonical) => {
                c.push(&at, "not one of this site's `languages`")
            }
            Ok(canonical) => {
                if !configured.insert(canonical) {
                    c.push(&at, "configured twice (tags compare case-insensitively)");
                }
            }
            Err(message) => c.push(&at, message),
        }
        pins(c, &at, language);
        c.flow(&at, &language.flow);
        pair_checks(
            c,
            config,
            &at,
            &language.flow.inherit(&inherited),
            Some(language),
        );
    }
    // Languages without a [sites.language."…"] table inherit everything from the site.
    let unconfigured = site.languages.iter().any(|tag| {
        c.tags
            .canonical(tag)
            .is_ok_and(|canonical| !configured.contains(&canonical))
    });
    if unconfigured {
        pair_checks(c, config, path, &inherited, None);
    }
}

/// Each pin key holds an address of its own kind.
fn pins(c: &mut Checker, at: &str, language: &LanguageConfig) {
    for kind in AddressKind::ALL {
        let Some(value) = language.pinned(kind) else {
            continue;
        };
        let key = format!("{at}.{}", kind.pin_key());
        match kind.sid_prefix() {
            Some(prefix) => {
                if let Err(message) = check_sid(&value, prefix) {
                    c.push(key, format!("{message} (a {kind} address)"));
                }
            }
            None => {
                let valid = !value.is_empty()
                    && value.len() <= 128
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !valid {
                    c.push(
                        key,
                        format!("`{value}` is not a Webchat 3 deployment key (1-128 letters, digits, '-' or '_')"),
                    );
                }
            }
        }
    }
}

/// What one pair (or every pair of a site without a language table) needs for its kind.
fn pair_checks(
    c: &mut Checker,
    config: &Config,
    path: &str,
    flow: &FlowSettings,
    language: Option<&LanguageConfig>,
) {
    let kind = kind_of(flow);
    let pinned = pin(language, kind).is_some();
    match kind {
        AddressKind::FlexFlow => {}
        AddressKind::Conversations => {
            if flow.integration_type == Some(IntegrationType::Task) {
                c.push(
                    path,
                    "integration_type = \"task\" has no equivalent for conversations addresses (studio or external)",
                );
            }
        }
        AddressKind::Webchat3 => {
            if !pinned {
                c.push(
                    path,
                    "is a webchat3 pair without a deployment_key: Webchat 3 keys are made in Twilio's Console, pin each one in [sites.language.\"…\"]",
                );
            }
        }
    }
    let impossible =
        kind == AddressKind::Conversations && flow.integration_type == Some(IntegrationType::Task);
    if kind.provisioned() && !pinned && !impossible && config.provisioning.enabled {
        provisionable(c, path, flow);
    }
}

fn kind_of(flow: &FlowSettings) -> AddressKind {
    flow.address_kind.unwrap_or_default()
}

/// The pin of `kind` in a pair's language table, if it has one.
fn pin(language: Option<&LanguageConfig>, kind: AddressKind) -> Option<String> {
    language.and_then(|l| l.pinned(kind))
}

/// Every configured pair as (site, tag, effective settings, its language table if any).
fn pair_settings(
    config: &Config,
) -> impl Iterator<Item = (&SiteConfig, &str, FlowSettings, Option<&LanguageConfig>)> {
    config.sites.iter().flat_map(move |site| {
        let inherited = site.flow.inherit(&config.defaults.flow);
        site.languages.iter().map(move |tag| {
            let language = site
                .language
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(tag))
                .map(|(_, language)| &**language);
            let flow = language.map_or_else(|| inherited.clone(), |l| l.flow.inherit(&inherited));
            (site, tag.as_str(), flow, language)
        })
    })
}

/// The first `conversations` pair, named for messages.
fn first_conversations_pair(config: &Config) -> Option<String> {
    pair_settings(config)
        .find(|(_, _, flow, _)| kind_of(flow) == AddressKind::Conversations)
        .map(|(site, tag, _, _)| format!("site `{}` language `{tag}`", site.id))
}

/// Conversations pairs need the service their chats and visitors' tokens belong to. (The key
/// that signs the tokens comes from the environment: see [`credential_warnings`].)
fn kinds(c: &mut Checker, config: &Config) {
    let Some(first) = first_conversations_pair(config) else {
        return;
    };
    if config.twilio.conversations_service_sid.is_none() {
        c.push(
            "twilio.conversations_service_sid",
            format!("required by conversations pairs (first: {first}): the Conversations service their chats and tokens belong to"),
        );
    }
}

/// What the environment lacks for the table. A warning, not a problem: the file is right, the
/// environment is the deployment's (a CI job running `check` has no secrets), and the other
/// pairs must not lose their chat because one kind cannot start its own. `serve` logs it;
/// the session routes answer 503 until the key is there.
pub fn credential_warnings(config: &Config, env: &Environment) -> Vec<String> {
    let Some(first) = first_conversations_pair(config) else {
        return Vec::new();
    };
    if env.has_api_key() {
        return Vec::new();
    }
    let given = if env.has_auth_token() {
        "an auth token cannot sign them"
    } else {
        "no Twilio credentials are set"
    };
    vec![format!(
        "conversations pairs (first: {first}) need TWILIO_API_KEY and TWILIO_API_SECRET to sign visitors' access tokens ({given}): their session routes answer 503 until they are set"
    )]
}

/// A pair that flexroute may have to create needs the settings its integration type requires.
fn provisionable(c: &mut Checker, path: &str, flow: &FlowSettings) {
    let needs: &[(&str, bool)] = match flow.integration_type.unwrap_or(IntegrationType::Studio) {
        IntegrationType::Studio => &[("studio_flow_sid", flow.studio_flow_sid.is_some())],
        IntegrationType::External => &[("webhook_url", flow.webhook_url.is_some())],
        IntegrationType::Task => &[
            ("workspace_sid", flow.workspace_sid.is_some()),
            ("workflow_sid", flow.workflow_sid.is_some()),
        ],
    };
    for (key, present) in needs {
        if !present {
            c.push(
                path,
                format!(
                    "has addresses to provision but no `{key}` (set it here, in the site or in [defaults], or pin the address)"
                ),
            );
        }
    }
}

//! The configuration file: typed, layered (file, then `FLEXROUTE_*` environment),
//! and validated once, so that everything past this module can trust it.

mod chunks;
mod env;
pub mod keys;
mod script;
mod sites_dir;
pub mod state_url;
mod syntax;
pub mod urls;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::address::AddressKind;
use toml::de::{DeValue, ValueDeserializer};

pub use env::Environment;
pub use script::{WidgetScript, WidgetScripts};
pub use sites_dir::fingerprint as sites_dir_fingerprint;
pub use state_url::StateUrl;
pub use validate::{Problem, parse_trusted_proxy};

/// The whole file, as written (after environment overrides), before it is compiled into a
/// routing table.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// `sites_dir`, the directory of one file per site (relative to the main file) whose
    /// sites follow `[[sites]]`, in file-name order. Read and checked by the loader (not typed
    /// with the sections), so it is not one of the struct's fields for the key lists.
    #[serde(skip)]
    pub sites_dir: Option<String>,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub twilio: TwilioConfig,
    #[serde(default)]
    pub provisioning: ProvisioningConfig,
    #[serde(default)]
    pub defaults: DefaultsConfig,
    #[serde(default)]
    pub sites: Vec<SiteConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    pub listen: String,
    pub admin_listen: String,
    pub cache_max_age_secs: u64,
    /// How many resolved (site, language) answers the in-memory cache keeps.
    pub cache_max_entries: u64,
    /// How often the config file is checked for changes; 0 turns watching off.
    pub config_watch_ms: u64,
    /// On SIGTERM: how long `/readyz` says 503 while requests are still served, so load
    /// balancers stop sending before the listener closes.
    pub shutdown_drain_ms: u64,
    /// Then: how long requests in flight and background provisioning get to finish.
    pub shutdown_timeout_ms: u64,
    /// Longest a client may take to send a request's head (line and headers), on both
    /// listeners; also how long an idle keep-alive connection is kept.
    pub header_read_timeout_ms: u64,
    /// Longest an answer may wait to be written without any progress (a client that stops
    /// reading); then the connection is closed. On both listeners.
    pub write_timeout_ms: u64,
    /// Connections the public listener holds at once; more wait to be accepted. Bounded at
    /// start by the open-file limit, keeping room for the ops listener and the state store.
    pub max_connections: usize,
    /// Requests per second each client address may make to `/v1/webchat/config` and the
    /// session routes; 0 = no limit.
    pub rate_limit_per_second: f64,
    /// Requests a client may make at once before the rate applies.
    pub rate_limit_burst: u32,
    /// Client addresses whose rate state is kept; the least used are forgotten beyond this.
    pub rate_limit_max_clients: u64,
    /// Proxies (IPs or CIDRs) whose `client_ip_header` is believed.
    pub trusted_proxies: Vec<String>,
    /// The header a trusted proxy names the client in (`X-Forwarded-For` style list).
    pub client_ip_header: String,
    /// Where browsers reach this server (`https://chat.example.com`, optionally with a path
    /// prefix): the `serverUrl` of `conversations` answers starts with it. Unset: the path
    /// alone, which the browser resolves against the page's own origin.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".into(),
            admin_listen: "127.0.0.1:9090".into(),
            cache_max_age_secs: 60,
            cache_max_entries: 100_000,
            config_watch_ms: 2000,
            shutdown_drain_ms: 5000,
            shutdown_timeout_ms: 10_000,
            header_read_timeout_ms: 10_000,
            write_timeout_ms: 10_000,
            max_connections: 10_000,
            rate_limit_per_second: 0.0,
            rate_limit_burst: 20,
            rate_limit_max_clients: 100_000,
            trusted_proxies: Vec::new(),
            client_ip_header: "X-Forwarded-For".into(),
            public_url: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct TwilioConfig {
    pub account_sid: Option<String>,
    pub chat_service_sid: Option<String>,
    pub flex_api_base: String,
    /// The Flex Conversations service (`IS…`) of `conversations` pairs: their addresses
    /// create conversations in it, and visitors' tokens grant access to it.
    pub conversations_service_sid: Option<String>,
    /// Twilio's Conversations API (address configurations, messages).
    pub conversations_api_base: String,
    /// Lifetime of a visitor's access token (Twilio allows at most 24 hours).
    pub token_ttl_secs: u64,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        Self {
            account_sid: None,
            chat_service_sid: None,
            flex_api_base: "https://flex-api.twilio.com".into(),
            conversations_service_sid: None,
            conversations_api_base: "https://conversations.twilio.com".into(),
            token_ttl_secs: 3600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProvisioningConfig {
    pub enabled: bool,
    pub friendly_name: String,
    /// The `Address` of a `conversations` chat address flexroute creates (unique per type at
    /// Twilio, so it must name the site and the language).
    pub chat_address: String,
    pub wait_ms: u64,
    /// `file:PATH`, or `redis://…` / `rediss://…` for a store shared by replicas (`Debug` masks
    /// a password in it).
    pub state: StateUrl,
    /// Calls to Twilio in flight at once, across all pairs.
    pub max_concurrent_calls: usize,
    /// Rest after a pair's first failed attempt; doubles per failure up to 5 minutes.
    pub failure_backoff_ms: u64,
    /// Timeout of one call to Twilio.
    pub upstream_timeout_ms: u64,
    /// Prefix of every Redis key and channel flexroute uses (several deployments can share
    /// one Redis database with different prefixes).
    pub redis_key_prefix: String,
    /// Multiplexed Redis connections, used in turn.
    pub redis_pool_size: usize,
    /// Timeout of one connection attempt to Redis.
    pub redis_connect_timeout_ms: u64,
    /// Timeout of one Redis command.
    pub redis_command_timeout_ms: u64,
    /// Life of a pair's provisioning lease; the holder renews it every third of this.
    pub redis_lease_ttl_ms: u64,
    /// How often every record is checked against Redis, beside pub/sub (a safety net).
    pub redis_resync_ms: u64,
    /// What `/readyz` says while Redis is unreachable.
    pub redis_unavailable: RedisUnavailable,
    /// While Redis fails, one warning (with the reason) per this interval.
    pub redis_warn_every_ms: u64,
}

/// `provisioning.redis_unavailable`: readiness while the shared store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RedisUnavailable {
    /// Stay ready: known addresses are served from memory, new pairs get the degraded answer.
    ServeStale,
    /// `/readyz` answers 503 until Redis answers again.
    NotReady,
}

impl Default for ProvisioningConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            friendly_name: "WebChat {site} {language}".into(),
            chat_address: "flexroute-{site}-{language}".into(),
            wait_ms: 3000,
            state: "file:state/flexroute-state".into(),
            max_concurrent_calls: 4,
            failure_backoff_ms: 5000,
            upstream_timeout_ms: 10_000,
            redis_key_prefix: "flexroute:".into(),
            redis_pool_size: 2,
            redis_connect_timeout_ms: 2000,
            redis_command_timeout_ms: 1000,
            redis_lease_ttl_ms: 30_000,
            redis_resync_ms: 30_000,
            redis_unavailable: RedisUnavailable::ServeStale,
            redis_warn_every_ms: 30_000,
        }
    }
}

/// How a Flex Flow hands a conversation on (Twilio's `IntegrationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationType {
    Studio,
    External,
    Task,
}

/// The address settings that defaults, sites and languages may each set; the most specific
/// level wins (language → site → defaults). Besides the kind, they are the Flex Flow's
/// settings; a `conversations` address reads its Studio flow or webhook from the same keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FlowSettings {
    pub address_kind: Option<AddressKind>,
    pub integration_type: Option<IntegrationType>,
    pub studio_flow_sid: Option<String>,
    pub webhook_url: Option<String>,
    pub workspace_sid: Option<String>,
    pub workflow_sid: Option<String>,
    pub task_channel: Option<String>,
    pub enabled: Option<bool>,
    pub janitor_enabled: Option<bool>,
    pub long_lived: Option<bool>,
    /// The widget script of each kind, for the embed script.
    #[serde(default)]
    pub widget_script: WidgetScripts,
}

impl FlowSettings {
    /// `self` with every unset field taken from `parent`.
    pub fn inherit(&self, parent: &FlowSettings) -> FlowSettings {
        FlowSettings {
            address_kind: self.address_kind.or(parent.address_kind),
            integration_type: self.integration_type.or(parent.integration_type),
            studio_flow_sid: self
                .studio_flow_sid
                .clone()
                .or_else(|| parent.studio_flow_sid.clone()),
            webhook_url: self
                .webhook_url
                .clone()
                .or_else(|| parent.webhook_url.clone()),
            workspace_sid: self
                .workspace_sid
                .clone()
                .or_else(|| parent.workspace_sid.clone()),
            workflow_sid: self
                .workflow_sid
                .clone()
                .or_else(|| parent.workflow_sid.clone()),
            task_channel: self
                .task_channel
                .clone()
                .or_else(|| parent.task_channel.clone()),
            enabled: self.enabled.or(parent.enabled),
            janitor_enabled: self.janitor_enabled.or(parent.janitor_enabled),
            long_lived: self.long_lived.or(parent.long_lived),
            widget_script: self.widget_script.inherit(&parent.widget_script),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DefaultsConfig {
    #[serde(flatten)]
    pub flow: FlowSettings,
    #[serde(default)]
    pub widget: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SiteConfig {
    pub id: String,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    pub default_language: String,
    pub languages: Vec<String>,
    #[serde(default)]
    pub path_language: bool,
    pub language_cookie: Option<String>,
    #[serde(flatten)]
    pub flow: FlowSettings,
    #[serde(default)]
    pub widget: toml::Table,
    /// Per-language settings, keyed by a tag from `languages`. Boxed: a map's node holds room
    /// for eleven entries, and a site's four languages inline were 5 KB of a 100,000-pair
    /// table's load.
    #[serde(default)]
    pub language: BTreeMap<String, Box<LanguageConfig>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LanguageConfig {
    /// A Flex Flow that already exists: served as is, never provisioned (`flex_flow` pairs).
    pub flex_flow_sid: Option<String>,
    /// A Conversations chat address that already exists (`conversations` pairs).
    pub address_sid: Option<String>,
    /// The Webchat 3 deployment key made in the Console (`webchat3` pairs; required).
    pub deployment_key: Option<String>,
    #[serde(flatten)]
    pub flow: FlowSettings,
    #[serde(default)]
    pub widget: toml::Table,
}

impl LanguageConfig {
    /// The pinned address for `kind`: each kind reads its own key, so a language that moves
    /// to another kind keeps its old pin in the file, and rolling back is one edit.
    pub fn pinned(&self, kind: AddressKind) -> Option<String> {
        match kind {
            AddressKind::FlexFlow => self.flex_flow_sid.clone(),
            AddressKind::Conversations => self.address_sid.clone(),
            AddressKind::Webchat3 => self.deployment_key.clone(),
        }
    }
}

/// Why a configuration could not be used. Every variant names where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {} problem(s):\n{}", problems.len(), ProblemList(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

/// A configuration that passed validation, with the notes worth showing to an operator.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// Things that are not errors but look like mistakes (e.g. an unknown `FLEXROUTE_*` variable).
    pub warnings: Vec<String>,
}

impl Config {
    /// Reads, overlays the environment, and validates the file at `path`.
    pub fn load(path: &Path, env: &Environment) -> Result<LoadedConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        Self::from_toml_str_at(&text, base, env).map_err(|e| e.with_path(path))
    }

    /// Same as [`Config::load`], from text already in memory (tests); a `sites_dir` is read
    /// relative to the working directory.
    pub fn from_toml_str(text: &str, env: &Environment) -> Result<LoadedConfig, ConfigError> {
        Self::from_toml_str_at(text, Path::new(""), env)
    }

    /// Same as [`Config::load`], from the text of a file in `base` (reloads).
    pub fn from_toml_str_at(
        text: &str,
        base: &Path,
        env: &Environment,
    ) -> Result<LoadedConfig, ConfigError> {
        // A site at a time when the file allows it (`chunks`), else the whole document.
        let Document {
            mut table,
            mut sites,
        } = match Document::parse_in_chunks(text) {
            Some(document) => document,
            None => Document::parse(text)?,
        };
        let mut problems = Vec::new();
        let sites_dir = match table.remove("sites_dir") {
            None => None,
            Some(toml::Value::String(dir)) => {
                let (shown_as, path) = sites_dir::resolve(base, &dir);
                match sites_dir::read(&shown_as, &path) {
                    Ok(files) => {
                        let typed = sites.get_or_insert_with(TypedSites::default);
                        for file in &files {
                            typed.add_file(file);
                        }
                    }
                    Err(problem) => problems.push(Problem::new("sites_dir", problem)),
                }
                Some(dir)
            }
            Some(_) => {
                problems.push(Problem::new(
                    "sites_dir",
                    "must be a string: a directory, relative to this file",
                ));
                None
            }
        };
        let mut warnings = Vec::new();
        let overridden = env.apply(&mut table, &mut warnings);
        problems.extend(keys::unknown_keys(&table));
        let origins = sites
            .as_mut()
            .map(|sites| std::mem::take(&mut sites.origins))
            .unwrap_or_default();
        if let Some(sites) = &mut sites {
            problems.append(&mut sites.unknown);
        }
        let typed = Sections {
            table,
            sites,
            overridden: &overridden,
            problems: &mut problems,
        }
        .into_config();
        if let Some(mut config) = typed {
            config.sites_dir = sites_dir;
            if config.twilio.account_sid.is_none() {
                config.twilio.account_sid = env.twilio_account_sid();
            }
            problems.extend(validate::validate(&config));
            warnings.extend(validate::credential_warnings(&config, env));
            let pairs: usize = config.sites.iter().map(|s| s.languages.len()).sum();
            if (config.server.cache_max_entries as usize) < pairs {
                warnings.push(format!(
                    "server.cache_max_entries ({}) is below the number of (site, language) pairs ({pairs}): answers that do not fit are rebuilt on every request",
                    config.server.cache_max_entries
                ));
            }
            if problems.is_empty() {
                return Ok(LoadedConfig { config, warnings });
            }
        }
        if origins.iter().any(Option::is_some) {
            for problem in &mut problems {
                problem.path = sites_dir::locate(&problem.path, &origins);
                problem.message = sites_dir::locate(&problem.message, &origins);
            }
        }
        Err(ConfigError::Invalid {
            path: PathBuf::new(),
            problems,
        })
    }
}

/// The file parsed: every section but `[[sites]]` as an owned table that the environment can
/// override, and the sites already typed (they are nearly all of a large file, so they are
/// typed straight from the parser's tree and never copied).
struct Document {
    table: toml::Table,
    sites: Option<TypedSites>,
}

impl Document {
    /// One parse of the whole text; a syntax error quotes its line with secrets masked.
    fn parse(text: &str) -> Result<Self, ConfigError> {
        let syntax = |e: toml::de::Error| ConfigError::Syntax {
            path: PathBuf::new(),
            message: syntax::render(text, &e),
        };
        let mut document = toml::de::DeTable::parse(text).map_err(syntax)?.into_inner();
        let sites = document.remove("sites").map(|sites| {
            let mut typed = TypedSites::default();
            typed.add(sites.into_inner());
            typed
        });
        Ok(Self {
            table: owned(document).map_err(syntax)?,
            sites,
        })
    }

    /// The head and then each site's chunk parsed on its own (see `chunks`), so that only one
    /// site's tree is alive at a time. `None` when the text is not cut cleanly or does not
    /// parse: the caller then parses it whole, for exactly the whole parse's outcome.
    fn parse_in_chunks(text: &str) -> Option<Self> {
        let (head, pieces) = chunks::split(text);
        if pieces.is_empty() {
            return None;
        }
        let mut sites = TypedSites::default();
        // One site per chunk, as a rule: no doubling of a 16 MB vector, no copies left behind.
        sites.sites.reserve_exact(pieces.len());
        sites.origins.reserve_exact(pieces.len());
        let head = toml::de::DeTable::parse(head).ok()?.into_inner();
        if head.contains_key("sites") {
            return None;
        }
        for piece in pieces {
            let mut piece = toml::de::DeTable::parse(piece).ok()?.into_inner();
            let value = piece.remove("sites")?.into_inner();
            if !piece.is_empty() || !matches!(value, DeValue::Array(_)) {
                return None;
            }
            sites.add(value);
        }
        Some(Self {
            table: owned(head).ok()?,
            sites: Some(sites),
        })
    }
}

/// A parsed document as an owned table.
fn owned(document: toml::de::DeTable<'_>) -> Result<toml::Table, toml::de::Error> {
    let mut table = toml::Table::new();
    for (key, value) in document {
        let value = toml::Value::deserialize(ValueDeserializer::from(value))?;
        table.insert(key.into_inner().into_owned(), value);
    }
    Ok(table)
}

/// `[[sites]]` typed one site at a time, numbered across the whole file.
#[derive(Default)]
struct TypedSites {
    /// Each site, `None` when it did not type (its problem is in `typing`).
    sites: Vec<Option<SiteConfig>>,
    /// Unknown keys, in file order.
    unknown: Vec<Problem>,
    /// Values of the wrong type, in file order.
    typing: Vec<Problem>,
    /// `sites` was something other than an array of tables.
    not_array: bool,
    /// The file of each site that comes from `sites_dir` (how problems name it).
    origins: Vec<Option<String>>,
}

impl TypedSites {
    fn add(&mut self, value: DeValue<'_>) {
        self.unknown
            .extend(keys::unknown_site_keys(&value, self.sites.len()));
        let DeValue::Array(sites) = value else {
            self.not_array = true;
            return;
        };
        for site in sites {
            self.origins.push(None);
            let path = format!("sites[{}]", self.sites.len());
            match SiteConfig::deserialize(ValueDeserializer::from(site)) {
                Ok(site) => self.sites.push(Some(site)),
                Err(e) => {
                    self.typing.push(type_problem(&path, &e, &[]));
                    self.sites.push(None);
                }
            }
        }
    }
}

impl TypedSites {
    /// The site of one file of `sites_dir`: its keys at the top level.
    fn add_file(&mut self, file: &sites_dir::SiteFile) {
        let path = format!("sites[{}]", self.sites.len());
        self.origins.push(Some(file.shown_as.clone()));
        let site = match toml::de::DeTable::parse(&file.text) {
            Ok(site) => site,
            Err(e) => {
                let message = syntax::render(&file.text, &e);
                self.unknown
                    .push(Problem::new(file.shown_as.clone(), message));
                self.sites.push(None);
                return;
            }
        };
        let span = site.span();
        let site = site.into_inner();
        self.unknown
            .extend(keys::unknown_keys_of_site(&site, &path));
        let site = toml::Spanned::new(span, DeValue::Table(site));
        match SiteConfig::deserialize(ValueDeserializer::from(site)) {
            Ok(site) => self.sites.push(Some(site)),
            Err(e) => {
                self.typing.push(type_problem(&path, &e, &[]));
                self.sites.push(None);
            }
        }
    }
}

/// A value of the wrong type at `path`, naming the environment variables that set something
/// there (their value may be the cause).
fn type_problem(path: &str, e: &toml::de::Error, overridden: &[(String, String)]) -> Problem {
    let mut message = e.message().trim().to_string();
    let from_env: Vec<&str> = overridden
        .iter()
        .filter(|(key, _)| key.starts_with(path))
        .map(|(_, var)| var.as_str())
        .collect();
    if !from_env.is_empty() {
        message = format!(
            "{message} (environment overrides here: {})",
            from_env.join(", ")
        );
    }
    Problem::new(path, message)
}

/// Deserializes the file one section at a time, so that a type error in one place does not
/// hide those in others, and each is reported with the path it sits at.
struct Sections<'a> {
    table: toml::Table,
    sites: Option<TypedSites>,
    overridden: &'a [(String, String)],
    problems: &'a mut Vec<Problem>,
}

impl Sections<'_> {
    fn into_config(mut self) -> Option<Config> {
        let server = self.section("server");
        let twilio = self.section("twilio");
        let provisioning = self.section("provisioning");
        let defaults = self.section("defaults");
        let sites = self.sites();
        Some(Config {
            sites_dir: None,
            server: server?,
            twilio: twilio?,
            provisioning: provisioning?,
            defaults: defaults?,
            sites: sites?,
        })
    }

    fn section<T: serde::de::DeserializeOwned + Default>(&mut self, key: &str) -> Option<T> {
        match self.table.remove(key) {
            None => Some(T::default()),
            Some(value) => match T::deserialize(value) {
                Ok(typed) => Some(typed),
                Err(e) => {
                    self.problems.push(type_problem(key, &e, self.overridden));
                    None
                }
            },
        }
    }

    fn sites(&mut self) -> Option<Vec<SiteConfig>> {
        let Some(sites) = self.sites.take() else {
            return Some(Vec::new());
        };
        if sites.not_array {
            self.problems.push(Problem::new(
                "sites",
                "must be an array of tables ([[sites]])",
            ));
            return None;
        }
        self.problems.extend(sites.typing);
        sites.sites.into_iter().collect()
    }
}

impl ConfigError {
    fn with_path(self, file: &Path) -> Self {
        match self {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax {
                path: file.to_path_buf(),
                message,
            },
            ConfigError::Invalid { problems, .. } => ConfigError::Invalid {
                path: file.to_path_buf(),
                problems,
            },
            other => other,
        }
    }

    /// Every problem found, one per entry (a read or syntax error is one problem).
    pub fn problems(&self) -> Vec<String> {
        match self {
            ConfigError::Invalid { problems, .. } => {
                problems.iter().map(ToString::to_string).collect()
            }
            other => vec![other.to_string()],
        }
    }
}

//! The command line. Each command is a small function over the library; `serve`
//! is the only one that starts a runtime.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::Services;
use crate::config::{Config, ConfigError, Environment, LoadedConfig};
use crate::provision::plan::{Action, PlanItem};
use crate::reload::ConfigSource;
use crate::resolve::{self, Inputs, LanguageRule};
use crate::table::RoutingTable;
use crate::telemetry::LogFormat;
use crate::twilio::Credentials;

#[derive(Debug, Parser)]
#[command(
    name = "flexroute",
    version,
    about = "Routes Twilio Flex WebChat visitors to the right chat address"
)]
pub struct Cli {
    /// Log line format (logs go to stderr; the level comes from FLEXROUTE_LOG, default info).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "FLEXROUTE_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// `--config PATH` (or `FLEXROUTE_CONFIG`), shared by every subcommand that reads the table.
#[derive(Debug, clap::Args)]
pub struct ConfigPath {
    /// The routing table (TOML).
    #[arg(
        long = "config",
        short = 'c',
        env = "FLEXROUTE_CONFIG",
        default_value = "config/flexroute.toml"
    )]
    pub path: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve widget configs (public listener) and metrics (ops listener).
    Serve {
        #[command(flatten)]
        config: ConfigPath,
        /// Run against a built-in Flex API emulator on loopback with made-up credentials and
        /// in-memory state: the whole flow on a laptop, no Twilio account.
        #[arg(long)]
        sandbox: bool,
    },
    /// Exit 0 when the server answers 200 on its health endpoint (for container HEALTHCHECKs).
    Healthcheck {
        /// Defaults to /healthz on the configured public listener.
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Compare every configured pair with Twilio and say what `apply` would do.
    Plan {
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Create, adopt or update addresses until Twilio matches the table.
    Apply {
        #[command(flatten)]
        config: ConfigPath,
        /// Also delete the other addresses that carry a pair's name (the plan's orphans), for
        /// pairs whose address is known (pinned or recorded) and exists at Twilio.
        #[arg(long)]
        delete_orphans: bool,
    },
    /// Validate the configuration: print a summary, or every problem and exit non-zero.
    Check {
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Show how a request would resolve, and which rule decided, without starting a server.
    Resolve {
        #[command(flatten)]
        config: ConfigPath,
        /// Site id (the `site` query parameter).
        #[arg(long)]
        site: Option<String>,
        /// The `lang` query parameter.
        #[arg(long)]
        lang: Option<String>,
        /// The page URL (`page` query parameter).
        #[arg(long)]
        page: Option<String>,
        #[arg(long)]
        accept_language: Option<String>,
        /// The Cookie header, e.g. "locale=fr-CA; other=1".
        #[arg(long)]
        cookie: Option<String>,
        #[arg(long)]
        origin: Option<String>,
        #[arg(long)]
        referer: Option<String>,
        #[arg(long)]
        host: Option<String>,
    },
    /// Serve a local emulator of the Twilio APIs flexroute uses, in memory, on one address:
    /// Flex /v1/FlexFlows and /v2/WebChats, Conversations /v1/Configuration/Addresses and
    /// /v1/Conversations/{Sid}/Messages. It accepts the Account SID with its auth token, and an
    /// API key pair when given: develop against flexroute without a Twilio account. The log
    /// line "Flex API emulator listening" names the address (useful with port 0).
    Emulator {
        #[arg(long, default_value = "127.0.0.1:4010")]
        listen: String,
        #[arg(long, env = "TWILIO_ACCOUNT_SID")]
        account_sid: String,
        #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
        auth_token: String,
        /// An API key SID (SK…) also accepted, with --api-secret.
        #[arg(long, env = "TWILIO_API_KEY", requires = "api_secret")]
        api_key: Option<String>,
        #[arg(
            long,
            env = "TWILIO_API_SECRET",
            hide_env_values = true,
            requires = "api_key"
        )]
        api_secret: Option<String>,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve { config, sandbox } => serve(&config.path, sandbox),
        Command::Plan { config } => plan(&config.path, None),
        Command::Healthcheck { url, config } => healthcheck(url, &config.path),
        Command::Apply {
            config,
            delete_orphans,
        } => plan(&config.path, Some(delete_orphans)),
        Command::Check { config } => check(&config.path),
        Command::Emulator {
            listen,
            account_sid,
            auth_token,
            api_key,
            api_secret,
        } => {
            let api_key = api_key.zip(api_secret);
            emulator(&listen, account_sid, auth_token, api_key)
        }
        Command::Resolve {
            config,
            site,
            lang,
            page,
            accept_language,
            cookie,
            origin,
            referer,
            host,
        } => {
            let inputs = Inputs {
                site: site.as_deref(),
                lang: lang.as_deref(),
                page: page.as_deref(),
                origin: origin.as_deref(),
                referer: referer.as_deref(),
                host: host.as_deref(),
                cookie: cookie.as_deref(),
                accept_language: accept_language.as_deref(),
            };
            explain(&config.path, &inputs)
        }
    }
}

fn load(path: &Path) -> Result<LoadedConfig, ExitCode> {
    Config::load(path, &Environment::from_process()).map_err(|error| {
        print_error(&error);
        ExitCode::FAILURE
    })
}

fn print_error(error: &ConfigError) {
    match error {
        ConfigError::Invalid { path, problems } => {
            println!("{}: {} problem(s)", path.display(), problems.len());
            for problem in problems {
                println!("  - {problem}");
            }
        }
        other => println!("{other}"),
    }
}

/// Credentials and, for `serve`, the admin token from the process environment (read here,
/// never stored in the configuration, so they cannot reach its error messages).
fn services_from_env(config_source: Option<ConfigSource>, admin_token: Option<String>) -> Services {
    Services {
        config_source,
        credentials: Credentials::from_env(|name| std::env::var(name).ok()),
        store: None,
        admin_token,
        admin_lockout: Default::default(),
    }
}

/// `FLEXROUTE_ADMIN_TOKEN` when set and not empty; `Err` naming what makes it too weak (never
/// the token itself).
fn admin_token_from_env() -> Result<Option<String>, String> {
    match std::env::var("FLEXROUTE_ADMIN_TOKEN") {
        Ok(token) if !token.is_empty() => {
            crate::http::check_admin_token(&token)?;
            Ok(Some(token))
        }
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(
            "FLEXROUTE_ADMIN_TOKEN is refused: it is not valid UTF-8 (letters, digits and \
            punctuation only); generate one with `openssl rand -hex 32`"
                .to_string(),
        ),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Runtime::new().map_err(|e| {
        tracing::error!("cannot start the runtime: {e}");
        ExitCode::FAILURE
    })
}

fn serve(path: &Path, sandbox: bool) -> ExitCode {
    let env = match sandbox {
        true => crate::sandbox::environment(Environment::from_process()),
        false => Environment::from_process(),
    };
    let loaded = match Config::load(path, &env) {
        Ok(loaded) => loaded,
        Err(error) => {
            print_error(&error);
            return ExitCode::FAILURE;
        }
    };
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    // A weak admin token stops the start, like a bad config file (the problem is named, the
    // token never printed).
    let admin_token = match admin_token_from_env() {
        Ok(token) => token,
        Err(problem) => {
            println!("{problem}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let mut config = loaded.config;
        let source = ConfigSource {
            path: path.to_path_buf(),
            env,
        };
        let mut services = services_from_env(Some(source), admin_token);
        if sandbox {
            crate::sandbox::start(&mut config, &mut services).await?;
        }
        let listeners = crate::Listeners::bind(&config).await?;
        crate::run(config, services, listeners, crate::shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &Path) -> ExitCode {
    let loaded = match load(path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let table = RoutingTable::build(&loaded.config);
    let s = table.summary();
    println!("{}: OK", path.display());
    println!(
        "  {} site(s), {} (site, language) pair(s): {} pinned, {} to provision; {} host pattern(s)",
        s.sites, s.pairs, s.pinned, s.missing, s.hosts
    );
    let kinds: Vec<String> = crate::address::AddressKind::ALL
        .iter()
        .filter(|kind| s.kinds[**kind as usize] > 0)
        .map(|kind| format!("{} {kind}", s.kinds[*kind as usize]))
        .collect();
    println!("  address kinds: {}", kinds.join(", "));
    for site in &table.sites {
        let languages: Vec<String> = site
            .pairs
            .iter()
            .enumerate()
            .map(|(i, pair)| {
                let default = if i == site.languages.default_index() {
                    " (default)"
                } else {
                    ""
                };
                let sid = pair.pinned.as_ref().map_or("to provision", |a| a.sid());
                format!("{}{default} → {sid} ({})", pair.language, pair.kind)
            })
            .collect();
        println!("  site {}: hosts [{}]", site.id, site.hosts.join(", "));
        for language in languages {
            println!("    {language}");
        }
    }
    for warning in &loaded.warnings {
        println!("  warning: {warning}");
    }
    ExitCode::SUCCESS
}

/// `plan` (`apply = None`) or `apply` (`Some(delete_orphans)`): compare with Twilio, print a
/// line per pair.
fn plan(path: &Path, apply: Option<bool>) -> ExitCode {
    let loaded = match load(path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let state = crate::state(&loaded.config, services_from_env(None, None))
            .await
            .map_err(|e| format!("cannot open the state store: {e}"))?;
        let items = if let Some(delete_orphans) = apply {
            crate::provision::plan::apply(&state.table(), &state.provisioner, delete_orphans).await
        } else {
            crate::provision::plan::plan(&state.table(), &state.provisioner).await
        };
        items.map_err(|e| e.to_string())
    });
    match result {
        Ok(items) => {
            print_plan(&items);
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_plan(items: &[PlanItem]) {
    println!(
        "{:<24} {:<13} {:<36} {:<34} {:<9} {:<9} {:<12} result",
        "pair", "kind", "friendly name", "sid", "source", "status", "action"
    );
    for item in items {
        let action = match item.action {
            Action::None => "none",
            Action::Adopt => "adopt",
            Action::Create => "create",
            Action::Update => "update",
            Action::Investigate => "investigate",
        };
        println!(
            "{:<24} {:<13} {:<36} {:<34} {:<9} {:<9} {:<12} {}",
            format!("{}/{}", item.site, item.language),
            item.kind.as_str(),
            item.friendly_name,
            item.sid.as_deref().unwrap_or("-"),
            item.source.map_or("-", |s| s.as_str()),
            item.status.as_str(),
            action,
            item.result.as_deref().unwrap_or("")
        );
        for d in &item.differences {
            println!("    {}: wanted {}, found {}", d.field, d.wanted, d.found);
        }
        if !item.orphans.is_empty() {
            println!(
                "    orphans (same name, never served; `apply --delete-orphans` deletes them): {}",
                item.orphans.join(", ")
            );
        }
    }
    let pending = items.iter().filter(|i| i.action != Action::None).count();
    println!("{} pair(s), {pending} with something to do", items.len());
}

fn explain(path: &Path, inputs: &Inputs<'_>) -> ExitCode {
    let loaded = match load(path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let table = RoutingTable::build(&loaded.config);
    let decision = match resolve::resolve(&table, inputs) {
        Ok(decision) => decision,
        Err(unknown) => {
            if unknown.explicit {
                println!(
                    "unknown_site: no site has id {:?}",
                    inputs.site.unwrap_or("")
                );
            } else {
                println!("unknown_site: no site claims the Origin, page, Referer or Host given");
            }
            return ExitCode::FAILURE;
        }
    };
    let site = &table.sites[decision.site];
    let pair = &site.pairs[decision.language];
    println!("site:     {}  (by {})", site.id, decision.site_rule);
    let how = match (decision.language_rule, decision.matched) {
        (LanguageRule::Default, _) => "no rule matched one of the site's languages".to_string(),
        (_, Some(value)) if decision.fallback => format!("{value:?}, via subtag fallback"),
        (_, Some(value)) => format!("{value:?}"),
        (_, None) => String::new(),
    };
    println!(
        "language: {}  (by {}: {how})",
        pair.language, decision.language_rule
    );
    let default = site.default_pair();
    // Only an address of the pair's own kind can be lent (as the server does).
    let lender = default
        .pinned
        .as_ref()
        .filter(|_| default.kind == pair.kind);
    println!("kind:     {}", pair.kind);
    match (&pair.pinned, lender) {
        (Some(address), _) => println!("address:  {}  (pinned in config)", address.sid()),
        (None, Some(address)) => println!(
            "address:  none yet for {}; degraded answer with {}'s address {}",
            pair.language,
            default.language,
            address.sid()
        ),
        (None, None) => println!(
            "address:  none yet for {} nor a {} address of the default language to lend: 503 address_unavailable",
            pair.language, pair.kind
        ),
    }
    ExitCode::SUCCESS
}

/// `flexroute emulator`: the Twilio emulator on `listen` until SIGINT or SIGTERM. Its log
/// names the address and the Account SID, never the token or the API secret.
fn emulator(
    listen: &str,
    account_sid: String,
    auth_token: String,
    api_key: Option<(String, String)>,
) -> ExitCode {
    use crate::twilio::emulator::{Emulator, is_sid};
    if !is_sid(&account_sid, "AC") || auth_token.is_empty() {
        tracing::error!("the emulator needs an Account SID (AC + 32 hex digits) and an auth token");
        return ExitCode::FAILURE;
    }
    if let Some((key, secret)) = &api_key
        && (!is_sid(key, "SK") || secret.is_empty())
    {
        tracing::error!("an API key is an SK SID (SK + 32 hex digits) with its secret");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut credentials = vec![crate::twilio::Credentials::new(
        account_sid.clone(),
        auth_token,
    )];
    if let Some((key, secret)) = api_key {
        credentials.push(crate::twilio::Credentials::new(key, secret));
    }
    let emulator = Emulator::new(account_sid, credentials);
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        emulator.serve(listener, crate::shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("emulator failed on {listen}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `flexroute healthcheck`: one GET with a short timeout. Without `--url`, the address comes
/// from the config (`0.0.0.0` and `[::]` are asked on loopback).
fn healthcheck(url: Option<String>, path: &Path) -> ExitCode {
    let url = match url {
        Some(url) => url,
        None => match Config::load(path, &Environment::from_process()) {
            Ok(loaded) => {
                let listen = loaded.config.server.listen;
                let port = listen.rsplit_once(':').map_or("8080", |(_, p)| p);
                let host = match listen.rsplit_once(':').map(|(h, _)| h) {
                    Some("0.0.0.0") | Some("[::]") | None => "127.0.0.1",
                    Some(host) => host,
                };
                format!("http://{host}:{port}/healthz")
            }
            Err(e) => {
                println!("unhealthy: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let status = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(3))
            .no_proxy()
            .build()?;
        client.get(&url).send().await.map(|r| r.status())
    });
    match status {
        Ok(status) if status.is_success() => {
            println!("healthy: {url} answered {status}");
            ExitCode::SUCCESS
        }
        Ok(status) => {
            println!("unhealthy: {url} answered {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("unhealthy: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

//! flexroute: a gateway that tells Twilio Flex WebChat widgets which chat address to use for a
//! visitor's site and language. `main.rs` only parses arguments; everything else lives here so
//! that tests run the real server through the same [`run`].
#![forbid(unsafe_code)]

pub mod address;
pub mod cache;
pub mod cli;
pub mod config;
pub mod http;
pub mod metrics;
pub mod provision;
pub mod redact;
pub mod reload;
pub mod resolve;
pub mod sandbox;
pub mod session;
pub mod table;
pub mod telemetry;
mod text;
pub mod twilio;
pub mod widget;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::http::AppState;
use crate::metrics::Metrics;
use crate::provision::Provisioner;
use crate::provision::store::StateStore;
use crate::table::RoutingTable;
use crate::twilio::Credentials;
use crate::twilio::client::FlexApiClient;

/// The two sockets flexroute answers on: the public API and the ops listener (`/metrics`).
pub struct Listeners {
    pub public: TcpListener,
    pub ops: TcpListener,
}

impl Listeners {
    /// Binds the addresses the config names.
    pub async fn bind(config: &Config) -> std::io::Result<Self> {
        Ok(Self {
            public: TcpListener::bind(&config.server.listen).await?,
            ops: TcpListener::bind(&config.server.admin_listen).await?,
        })
    }
}

/// What flexroute needs from outside the config file.
#[derive(Default)]
pub struct Services {
    /// Twilio credentials; without them nothing is provisioned (missing pairs stay missing).
    pub credentials: Option<Credentials>,
    /// Replaces the store `provisioning.state` names (sandbox mode keeps state in memory).
    pub store: Option<Arc<dyn StateStore>>,
    /// `FLEXROUTE_ADMIN_TOKEN`: enables `/admin/*` on the ops listener. Refused when weak
    /// ([`http::check_admin_token`]).
    pub admin_token: Option<String>,
    /// What an address that keeps sending wrong admin tokens is held to.
    pub admin_lockout: http::AdminLockout,
    /// The file (and environment) the configuration came from: enables hot reload.
    pub config_source: Option<reload::ConfigSource>,
}

/// Builds the application state for a validated configuration: the routing table, the state
/// store (read once, no upstream call), the Twilio client and the provisioner.
pub async fn app(config: &Config, services: Services) -> std::io::Result<AppState> {
    if let Some(token) = services.admin_token.as_deref().filter(|t| !t.is_empty()) {
        http::check_admin_token(token)
            .map_err(|problem| std::io::Error::new(std::io::ErrorKind::InvalidInput, problem))?;
    }
    let metrics = Metrics::new();
    let table = Arc::new(RoutingTable::build(config));
    let store = match services.store {
        Some(store) => store,
        None => provision::store::open(&config.provisioning)?,
    };
    let p = &config.provisioning;
    let client = match &services.credentials {
        Some(credentials) => Some(
            FlexApiClient::new(
                &config.twilio.flex_api_base,
                credentials.clone(),
                Duration::from_millis(p.upstream_timeout_ms),
                metrics.clone(),
            )
            .and_then(|client| {
                client.with_conversations_base(&config.twilio.conversations_api_base)
            })
            .map_err(std::io::Error::other)?,
        ),
        None => None,
    };
    if p.enabled && client.is_none() && table.summary().missing > 0 {
        tracing::warn!(
            "no Twilio credentials (TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN or TWILIO_API_KEY + TWILIO_API_SECRET): pairs without an address will not be provisioned"
        );
    }
    let sessions = sessions(
        config,
        &table,
        services.credentials.as_ref(),
        client.clone(),
    )?;
    let settings = provision::Settings {
        client: client.filter(|_| p.enabled),
        chat_service_sid: config.twilio.chat_service_sid.clone(),
        conversations_service_sid: config.twilio.conversations_service_sid.clone(),
        friendly_name: p.friendly_name.clone(),
        chat_address: p.chat_address.clone(),
        wait: Duration::from_millis(p.wait_ms),
        max_concurrent_calls: p.max_concurrent_calls,
        failure_backoff: Duration::from_millis(p.failure_backoff_ms),
        unready_without_store: p.redis_unavailable == config::RedisUnavailable::NotReady,
        upstream_timeout: Duration::from_millis(p.upstream_timeout_ms),
    };
    let provisioner = Provisioner::new(&table, settings, store, metrics.clone()).await?;
    let reloader = services
        .config_source
        .map(|source| reload::Reloader::new(source, config));
    let state = AppState::new(
        table,
        metrics,
        provisioner,
        services
            .admin_token
            .as_deref()
            .map(|token| (token, services.admin_lockout)),
        &config.server,
        reloader,
        sessions,
    );
    // An address learned from another replica (or replacing one) must not be shadowed by an
    // answer cached before it.
    let cache = state.cache.clone();
    state
        .provisioner
        .on_change(move |key| cache.invalidate(key));
    Ok(state)
}

/// The session backend of `conversations` pairs: an API key to sign visitors' tokens with (the
/// credentials, when they are one) and the Conversations service. `None` when the table has no
/// such pair or the means are missing (validation names what is missing; a table built in
/// memory may still lack it: its session routes then answer 503).
fn sessions(
    config: &Config,
    table: &RoutingTable,
    credentials: Option<&Credentials>,
    client: Option<FlexApiClient>,
) -> std::io::Result<Option<Arc<session::backend::Sessions>>> {
    use session::token::{SigningKey, TokenIssuer};
    let wanted = table.summary().kinds[address::AddressKind::Conversations as usize] > 0;
    let (Some(credentials), Some(client), Some(account), Some(service)) = (
        credentials,
        client,
        config.twilio.account_sid.as_deref(),
        config.twilio.conversations_service_sid.as_deref(),
    ) else {
        if wanted {
            tracing::warn!(
                "conversations pairs cannot start chats: they need TWILIO_API_KEY + TWILIO_API_SECRET and twilio.conversations_service_sid"
            );
        }
        return Ok(None);
    };
    let key = match SigningKey::from_credentials(account, credentials) {
        Ok(key) => key,
        Err(e) => {
            if wanted {
                tracing::warn!(
                    "conversations pairs cannot start chats: visitors' tokens are signed with an API key (TWILIO_API_KEY + TWILIO_API_SECRET): {e}"
                );
            }
            return Ok(None);
        }
    };
    let ttl = Duration::from_secs(config.twilio.token_ttl_secs);
    let issuer = TokenIssuer::new(key, service, ttl).map_err(std::io::Error::other)?;
    Ok(Some(Arc::new(session::backend::Sessions::new(
        client, issuer,
    ))))
}

/// Serves until `shutdown` completes: readiness turns 503 first, then both listeners stop
/// accepting and requests in flight finish.
pub async fn run(
    config: Config,
    services: Services,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = app(&config, services).await?;
    let server = config.server.clone();
    // The table is built; the parsed file (as large again for big tables) is not needed.
    drop(config);
    let summary = state.table().summary();
    tracing::info!(
        public = %listeners.public.local_addr()?,
        ops = %listeners.ops.local_addr()?,
        sites = summary.sites,
        pairs = summary.pairs,
        missing = summary.missing,
        state = %state.provisioner.store_description(),
        "flexroute listening"
    );
    if state.reloader.is_some() {
        #[cfg(unix)]
        reload::Reloader::on_sighup(state.clone())?;
        if server.config_watch_ms > 0 {
            let interval = Duration::from_millis(server.config_watch_ms);
            reload::Reloader::watch(state.clone(), interval);
        }
    }
    let drain = Duration::from_millis(server.shutdown_drain_ms);
    let timeout = Duration::from_millis(server.shutdown_timeout_ms);
    let (stop_tx, stop_rx) = watch::channel(false);
    let on_shutdown = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        // Readiness first, so load balancers stop sending while we still answer.
        on_shutdown.set_ready(false);
        tracing::info!(
            drain_ms = drain.as_millis() as u64,
            "shutting down: readiness off, draining"
        );
        tokio::time::sleep(drain).await;
        tracing::info!("closing the listeners; finishing requests in flight");
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let descriptors = http::raise_descriptor_limit();
    let public_limits = http::ConnectionLimits::public(&server, descriptors);
    tracing::info!(
        open_files = descriptors,
        public_connections = public_limits.max_connections,
        "connection limits"
    );
    let public = http::serve(
        listeners.public,
        http::public_router(state.clone()),
        public_limits,
        stopped(stop_rx.clone()),
    );
    let ops = http::serve(
        listeners.ops,
        http::ops_router(state.clone()),
        http::ConnectionLimits::ops(&server),
        stopped(stop_rx.clone()),
    );
    state.set_ready(true);
    let serving = async { tokio::try_join!(public, ops) };
    // Requests in flight get `timeout` once the listeners close; a client that never
    // finishes cannot hold the process.
    let deadline = async {
        stopped(stop_rx).await;
        tokio::time::sleep(timeout).await;
    };
    tokio::select! {
        served = serving => { served?; }
        () = deadline => tracing::warn!("requests still in flight after shutdown_timeout_ms; stopping anyway"),
    }
    // Background provisioning gets the same bound to record what it made: every record is
    // fsynced as it is written, so once the tasks are done nothing is left to flush.
    if !state.provisioner.wait_idle(timeout).await {
        tracing::warn!(
            "provisioning still running at exit; it resumes by name lookup on the next start"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: a signal that arrives while the server starts (before the task
/// awaiting it has run) must stop it gracefully, not kill it.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
        let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

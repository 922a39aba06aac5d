//! flexroute: a gateway that tells Twilio Flex WebChat widgets which chat address to use for a
//! visitor's site and language. `main.rs` only parses arguments; everything else lives here so
//! that tests run the real server through the same [`run`].
#![forbid(unsafe_code)]

pub mod address;
pub mod app;
pub mod cache;
pub mod cli;
pub mod config;
pub mod http;
pub mod lookup;
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

use crate::app::App;
use crate::config::Config;
use crate::http::AppState;
use crate::provision::store::StateStore;
use crate::table::RoutingTable;
use crate::twilio::Credentials;

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

/// Builds the application state for a validated configuration ([`app::App::build`]) and the
/// HTTP state around it: the admin token's guard and, with a config file, the reloader.
pub async fn state(config: &Config, services: Services) -> std::io::Result<AppState> {
    state_with(config, RoutingTable::build(config), services).await
}

/// [`state`] with the routing table already compiled from `config`.
async fn state_with(
    config: &Config,
    table: RoutingTable,
    services: Services,
) -> std::io::Result<AppState> {
    if let Some(token) = services.admin_token.as_deref().filter(|t| !t.is_empty()) {
        http::check_admin_token(token)
            .map_err(|problem| std::io::Error::new(std::io::ErrorKind::InvalidInput, problem))?;
    }
    let app = App::build_with(config, table, services.credentials.as_ref(), services.store).await?;
    let reloader = services
        .config_source
        .map(|source| Arc::new(reload::Reloader::new(source, config)));
    Ok(AppState::new(
        app,
        services
            .admin_token
            .as_deref()
            .map(|token| (token, services.admin_lockout)),
        &config.server,
        reloader,
    ))
}

/// Serves until `shutdown` completes: readiness turns 503 first, then both listeners stop
/// accepting and requests in flight finish.
pub async fn run(
    mut config: Config,
    services: Services,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Each site of the parsed file is dropped as soon as it is compiled: the table reuses its
    // memory (for large tables the parsed sites are as large again as the table).
    let table = RoutingTable::build_taking_sites(&mut config);
    let state = state_with(&config, table, services).await?;
    let server = config.server.clone();
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
    if let Some(reloader) = &state.reloader {
        #[cfg(unix)]
        reload::Reloader::on_sighup(reloader.clone(), state.app.clone())?;
        if server.config_watch_ms > 0 {
            let interval = Duration::from_millis(server.config_watch_ms);
            reload::Reloader::watch(reloader.clone(), state.app.clone(), interval);
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

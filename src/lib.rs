//! flexroute: a gateway that tells Twilio Flex WebChat widgets which chat address to use for a
//! visitor's site and language. `main.rs` only parses arguments; everything else lives here so
//! that tests run the real server through the same [`run`].
#![forbid(unsafe_code)]

pub mod cache;
pub mod cli;
pub mod config;
pub mod http;
pub mod metrics;
pub mod provision;
pub mod resolve;
pub mod sandbox;
pub mod table;
pub mod telemetry;
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
    /// `FLEXROUTE_ADMIN_TOKEN`: enables `/admin/*` on the ops listener.
    pub admin_token: Option<String>,
}

/// Builds the application state for a validated configuration: the routing table, the state
/// store (read once, no upstream call), the Twilio client and the provisioner.
pub async fn app(config: &Config, services: Services) -> std::io::Result<AppState> {
    let metrics = Metrics::new();
    let table = Arc::new(RoutingTable::build(config));
    let store = match services.store {
        Some(store) => store,
        None => provision::store::open(&config.provisioning.state)?,
    };
    let p = &config.provisioning;
    let client = match (p.enabled, services.credentials) {
        (true, Some(credentials)) => Some(
            FlexApiClient::new(
                &config.twilio.flex_api_base,
                credentials,
                Duration::from_millis(p.upstream_timeout_ms),
                metrics.clone(),
            )
            .map_err(std::io::Error::other)?,
        ),
        (true, None) if table.summary().missing > 0 => {
            tracing::warn!(
                "no Twilio credentials (TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN or TWILIO_API_KEY + TWILIO_API_SECRET): pairs without an address will not be provisioned"
            );
            None
        }
        _ => None,
    };
    let settings = provision::Settings {
        client,
        chat_service_sid: config.twilio.chat_service_sid.clone(),
        friendly_name: p.friendly_name.clone(),
        wait: Duration::from_millis(p.wait_ms),
        max_concurrent_calls: p.max_concurrent_calls,
        failure_backoff: Duration::from_millis(p.failure_backoff_ms),
    };
    let provisioner = Provisioner::new(&table, settings, store, metrics.clone()).await?;
    Ok(AppState::new(
        table,
        metrics,
        provisioner,
        services.admin_token,
        (
            config.server.cache_max_entries,
            config.server.cache_max_age_secs,
        ),
    ))
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
    let (stop_tx, stop_rx) = watch::channel(false);
    let on_shutdown = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_shutdown.set_ready(false);
        tracing::info!("shutting down: readiness off, draining requests");
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let public = axum::serve(listeners.public, http::public_router(state.clone()))
        .with_graceful_shutdown(stopped(stop_rx.clone()));
    let ops = axum::serve(listeners.ops, http::ops_router(state.clone()))
        .with_graceful_shutdown(stopped(stop_rx));
    state.set_ready(true);
    tokio::try_join!(public.into_future(), ops.into_future())?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

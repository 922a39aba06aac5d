//! flexroute: a gateway that tells Twilio Flex WebChat widgets which chat address to use for a
//! visitor's site and language. `main.rs` only parses arguments; everything else lives here so
//! that tests run the real server through the same [`run`].
#![forbid(unsafe_code)]

pub mod cache;
pub mod cli;
pub mod config;
pub mod http;
pub mod metrics;
pub mod resolve;
pub mod table;
pub mod telemetry;
pub mod widget;

use std::future::Future;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::http::AppState;
use crate::metrics::Metrics;
use crate::table::RoutingTable;

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

/// Builds the application state for a validated configuration.
pub fn app(config: &Config) -> AppState {
    AppState::new(
        RoutingTable::build(config),
        Metrics::new(),
        config.server.cache_max_entries,
        config.server.cache_max_age_secs,
    )
}

/// Serves until `shutdown` completes: readiness turns 503 first, then both listeners stop
/// accepting and requests in flight finish.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = app(&config);
    let summary = state.table().summary();
    tracing::info!(
        public = %listeners.public.local_addr()?,
        ops = %listeners.ops.local_addr()?,
        sites = summary.sites,
        pairs = summary.pairs,
        missing = summary.missing,
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

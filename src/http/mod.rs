//! The two listeners' routers: the public API (DESIGN §2) and the ops listener (DESIGN §3).

mod admin;
mod error;
mod health;
mod observe;
mod webchat;

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;

pub use error::{ApiError, ErrorCode};
pub use webchat::MAX_QUERY_BYTES;

use crate::cache::ResponseCache;
use crate::metrics::Metrics;
use crate::provision::Provisioner;
use crate::table::RoutingTable;

const CONFIG_ROUTE: &str = "/v1/webchat/config";
/// Every public route pattern, which are also the only `route` label values besides
/// `unmatched`.
const ROUTES: &[&str] = &[CONFIG_ROUTE, "/healthz", "/readyz"];

/// Shared by every handler; cloning it is one reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    /// Swapped whole by a reload; requests load it without a lock.
    table: ArcSwap<RoutingTable>,
    pub cache: ResponseCache,
    pub metrics: Metrics,
    ready: AtomicBool,
    cache_control: HeaderValue,
    http_metrics: observe::HttpMetrics,
    pub provisioner: Arc<Provisioner>,
    /// `FLEXROUTE_ADMIN_TOKEN`; `/admin/*` is off without one.
    admin_token: Option<String>,
    /// Where a reload reads the configuration from (absent for tables built in memory).
    pub reloader: Option<crate::reload::Reloader>,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(
        table: Arc<RoutingTable>,
        metrics: Metrics,
        provisioner: Arc<Provisioner>,
        admin_token: Option<String>,
        cache: (u64, u64),
        reloader: Option<crate::reload::Reloader>,
    ) -> Self {
        let (cache_max_entries, cache_max_age_secs) = cache;
        metrics.mark_config_loaded();
        let cache_control = HeaderValue::from_str(&format!("public, max-age={cache_max_age_secs}"))
            .unwrap_or(HeaderValue::from_static("no-cache"));
        let http_metrics = observe::HttpMetrics::new(ROUTES, &metrics);
        Self(Arc::new(Shared {
            http_metrics,
            table: ArcSwap::new(table),
            provisioner,
            reloader,
            admin_token: admin_token.filter(|t| !t.is_empty()),
            cache: ResponseCache::new(cache_max_entries),
            metrics,
            ready: AtomicBool::new(false),
            cache_control,
        }))
    }

    /// The table in force (one atomic increment; a reload never blocks a request).
    pub fn table(&self) -> Arc<RoutingTable> {
        self.table.load_full()
    }

    /// Puts `table` in force; returns the one it replaces.
    pub fn swap_table(&self, table: Arc<RoutingTable>) -> Arc<RoutingTable> {
        self.table.swap(table)
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}

/// The public listener: widget configs, health and readiness.
pub fn public_router(state: AppState) -> Router {
    Router::new()
        .route(
            CONFIG_ROUTE,
            get(webchat::get_config).options(webchat::preflight),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        // Inside `observe`, so that a handler's panic is counted as the 500 it becomes.
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

/// The ops listener: Prometheus metrics (and liveness, for probes that use this port).
pub fn ops_router(state: AppState) -> Router {
    let admin = Router::new()
        .route("/admin/routes", get(admin::routes))
        .route("/admin/provision", axum::routing::post(admin::provision))
        .route("/admin/reload", axum::routing::post(admin::reload))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::require_token,
        ));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(health::healthz))
        .merge(admin)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}

async fn metrics(axum::extract::State(app): axum::extract::State<AppState>) -> impl IntoResponse {
    app.metrics
        .cache_entries
        .set(i64::try_from(app.cache.entry_count()).unwrap_or(i64::MAX));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        app.metrics.render(),
    )
}

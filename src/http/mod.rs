//! The two listeners' routers: the public API (DESIGN §2) and the ops listener (DESIGN §3).

mod admin;
mod error;
mod health;
mod observe;
mod openapi;
mod webchat;

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};
use tower_http::catch_panic::CatchPanicLayer;

pub use error::{ApiError, ErrorCode};
pub use openapi::{OpsApi, PublicApi};
pub use webchat::MAX_QUERY_BYTES;

use crate::cache::ResponseCache;
use crate::metrics::Metrics;
use crate::provision::Provisioner;
use crate::table::RoutingTable;

const CONFIG_ROUTE: &str = "/v1/webchat/config";
const OPENAPI_ROUTE: &str = "/openapi.json";

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
        // Every public route pattern, which are also the only `route` label values besides
        // `unmatched`.
        let http_metrics = observe::HttpMetrics::new(&public_paths(), &metrics);
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

/// The public listener's routes. Its router is built from this list alone, and its
/// `/openapi.json` must describe exactly these paths and methods (`tests/api/openapi.rs`).
fn public_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        (
            CONFIG_ROUTE,
            get(webchat::get_config).options(webchat::preflight),
        ),
        ("/healthz", get(health::healthz)),
        ("/readyz", get(health::readyz)),
        (OPENAPI_ROUTE, get(openapi::public_document)),
    ]
}

/// The ops listener's routes outside `/admin` (same rule as [`public_routes`]).
fn ops_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/metrics", get(metrics)),
        ("/healthz", get(health::healthz)),
        (OPENAPI_ROUTE, get(openapi::ops_document)),
    ]
}

/// The admin routes, all behind the bearer token (same rule as [`public_routes`]).
fn admin_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/admin/routes", get(admin::routes)),
        ("/admin/provision", post(admin::provision)),
        ("/admin/reload", post(admin::reload)),
    ]
}

/// Every path the public listener serves.
pub fn public_paths() -> Vec<&'static str> {
    public_routes().into_iter().map(|(path, _)| path).collect()
}

/// Every path the ops listener serves.
pub fn ops_paths() -> Vec<&'static str> {
    ops_routes()
        .into_iter()
        .chain(admin_routes())
        .map(|(path, _)| path)
        .collect()
}

fn router(routes: Vec<(&'static str, MethodRouter<AppState>)>) -> Router<AppState> {
    routes
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
}

/// The public listener: widget configs, health and readiness, its OpenAPI document.
pub fn public_router(state: AppState) -> Router {
    router(public_routes())
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

/// The ops listener: Prometheus metrics, liveness, the admin API and its OpenAPI document.
pub fn ops_router(state: AppState) -> Router {
    let admin = router(admin_routes()).route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        admin::require_token,
    ));
    router(ops_routes())
        .merge(admin)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}

/// Prometheus metrics (text exposition format 0.0.4), names prefixed `flexroute_`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    operation_id = "metrics",
    responses((status = 200, description = "Every flexroute series.", body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8")),
)]
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

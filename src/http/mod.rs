//! The two listeners' routers: the public API and the ops listener.

mod admin;
mod auth;
mod capacity;
mod conditional;
mod config_route;
mod embed;
mod error;
mod health;
mod limit;
mod observe;
mod openapi;
mod refuse;
mod serve;
mod session;
mod write_timeout;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};

pub use auth::{AdminLockout, check_admin_token};
pub use capacity::raise_descriptor_limit;
use limit::RateLimit;
use observe::Shortcut;
pub use refuse::MAX_BODY_BYTES;
pub use serve::{ConnectionLimits, MAX_HEADER_BYTES, serve};

use crate::app::App;
use crate::config::ServerConfig;
use crate::reload::Reloader;

const CONFIG_ROUTE: &str = "/v1/webchat/config";
const INIT_WEBCHAT_ROUTE: &str = "/v1/webchat/{site}/{language}/initWebchat";
const REFRESH_TOKEN_ROUTE: &str = "/v1/webchat/{site}/{language}/refreshToken";
const OPENAPI_ROUTE: &str = "/openapi.json";

/// What the handlers share: the application state ([`App`]) and what only HTTP needs.
/// Cloning it is one reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    /// The table, cache, metrics, provisioner and sessions; `state.cache` and the like reach
    /// them through `Deref`.
    pub app: App,
    cache_control: HeaderValue,
    /// The headers of served config answers, prebuilt with `cache_control`.
    served_headers: config_route::headers::Served,
    http_metrics: observe::HttpMetrics,
    /// `FLEXROUTE_ADMIN_TOKEN` and what guards it; `/admin/*` is off without one.
    admin: Option<auth::AdminAuth>,
    /// Where a reload reads the configuration from (absent for tables built in memory).
    pub reloader: Option<Arc<Reloader>>,
    /// The per-client limit of the config endpoint, when `server.rate_limit_per_second` > 0.
    rate_limit: Option<RateLimit>,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Deref for Shared {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl AppState {
    pub fn new(
        app: App,
        admin: Option<(&str, AdminLockout)>,
        server: &ServerConfig,
        reloader: Option<Arc<Reloader>>,
    ) -> Self {
        let cache_control =
            HeaderValue::from_str(&format!("public, max-age={}", server.cache_max_age_secs))
                .unwrap_or(HeaderValue::from_static("no-cache"));
        // Every public route pattern, which are also the only `route` label values besides
        // `unmatched`.
        let http_metrics = observe::HttpMetrics::new(&public_paths(), &app.metrics);
        Self(Arc::new(Shared {
            http_metrics,
            reloader,
            admin: admin
                .filter(|(token, _)| !token.is_empty())
                .map(|(token, lockout)| auth::AdminAuth::new(token, lockout, &app.metrics)),
            rate_limit: RateLimit::new(server, app.metrics.rate_limited.clone()),
            served_headers: config_route::headers::Served::new(&cache_control),
            cache_control,
            app,
        }))
    }
}

/// The public listener's routes. Its router is built from this list alone, and its
/// `/openapi.json` must describe exactly these paths and methods (`tests/api/openapi.rs`).
/// With the state of a server that limits the rate, the config route goes through the limit.
/// Every request first passes `observe::Observed` (metrics, the `400`/`413` refusals of
/// `refuse`), and a `GET` of the config route may be answered there, before routing: see
/// [`CACHED_CONFIG`].
fn public_routes(limited: Option<&AppState>) -> Vec<(&'static str, MethodRouter<AppState>)> {
    // The config route and the session routes go through the per-client limit when it is on
    // (preflights too: they cost as much to answer).
    let limit = |methods: MethodRouter<AppState>| match limited
        .filter(|state| state.rate_limit.is_some())
    {
        Some(state) => methods.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit::limit,
        )),
        None => methods,
    };
    vec![
        // `GET` reaches `get_config` only on a cache miss, or with the rate limit on: otherwise
        // it is answered ahead of this router ([`CACHED_CONFIG`]).
        (
            CONFIG_ROUTE,
            limit(get(config_route::get_config).options(config_route::cors::preflight)),
        ),
        (
            INIT_WEBCHAT_ROUTE,
            limit(post(session::init_webchat).options(session::preflight)),
        ),
        (
            REFRESH_TOKEN_ROUTE,
            limit(post(session::refresh_token).options(session::preflight_refresh)),
        ),
        ("/v1/webchat/embed.js", get(embed::get_embed)),
        ("/healthz", get(health::healthz)),
        ("/readyz", get(health::readyz)),
        (OPENAPI_ROUTE, get(openapi::public_document)),
    ]
}

/// The one shortcut around the public router: a `GET` of the config route answered from the
/// cache of prebuilt answers (or a client error) by `observe::Observed`, before routing, with
/// the same metrics, refusals and panic handling. It is every page view of every storefront,
/// and the router's per-request boxing and cloning would cost it more than the answer does. A
/// cache miss goes on to the router, hence [`config_route::get_config`], which may wait for
/// provisioning. Off when the rate limit is on: the limit is a layer of the route and must see
/// every request.
const CACHED_CONFIG: Shortcut = Shortcut {
    method: Method::GET,
    route: CONFIG_ROUTE,
    answer: config_route::from_cache,
};

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
        ("/admin/provision", post(admin::plan_or_apply)),
        ("/admin/reload", post(admin::reload)),
    ]
}

/// Every path the public listener serves.
pub fn public_paths() -> Vec<&'static str> {
    public_routes(None)
        .into_iter()
        .map(|(path, _)| path)
        .collect()
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
pub fn public_router(state: AppState) -> observe::Observed<Router> {
    let public = router(public_routes(Some(&state)))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state.clone());
    // Metrics, refusals and panics are handled outside the router (see `Observed`).
    let observed = observe::Observed::new(public, state.clone());
    if state.rate_limit.is_some() {
        observed
    } else {
        observed.with_shortcut(CACHED_CONFIG)
    }
}

/// The ops listener: Prometheus metrics, liveness, the admin API and its OpenAPI document.
pub fn ops_router(state: AppState) -> Router {
    let admin = router(admin_routes()).route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_token,
    ));
    router(ops_routes())
        .merge(admin)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn(refuse::refuse_bad_requests))
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
    if let Some(limit) = &app.rate_limit {
        app.metrics
            .rate_limit_clients
            .set(i64::try_from(limit.clients()).unwrap_or(i64::MAX));
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        app.metrics.render(),
    )
}

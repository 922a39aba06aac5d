//! One middleware for every public request: the request counter and latency histogram, a
//! debug log line, and the `413` for a declared body over `MAX_BODY_BYTES` (counted like any
//! answer). The route label is the matched pattern, so unknown paths collapse into one
//! `unmatched` series instead of one per path. Metric handles are looked up once per (route,
//! status) and kept, so a request costs atomic increments, not label hashing.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;
use prometheus::{Histogram, IntCounter};

use super::AppState;
use crate::metrics::Metrics;

/// Statuses whose counters are kept at hand; any other is looked up by label (still bounded:
/// only flexroute and hyper choose statuses).
const COMMON_STATUSES: [u16; 10] = [200, 204, 304, 400, 404, 405, 413, 429, 500, 503];

pub struct RouteMetrics {
    route: &'static str,
    metrics: Metrics,
    duration: OnceLock<Histogram>,
    requests: [OnceLock<IntCounter>; COMMON_STATUSES.len()],
}

impl RouteMetrics {
    pub fn new(route: &'static str, metrics: &Metrics) -> Self {
        Self {
            route,
            metrics: metrics.clone(),
            duration: OnceLock::new(),
            requests: Default::default(),
        }
    }

    fn record(&self, status: StatusCode, seconds: f64) {
        let labels = [self.route, status.as_str()];
        match COMMON_STATUSES.iter().position(|s| *s == status.as_u16()) {
            Some(i) => self.requests[i]
                .get_or_init(|| self.metrics.http_requests.with_label_values(&labels))
                .inc(),
            None => self.metrics.http_requests.with_label_values(&labels).inc(),
        }
        self.duration
            .get_or_init(|| self.metrics.http_duration.with_label_values(&[self.route]))
            .observe(seconds);
    }
}

/// The handles for every route the router has, plus `unmatched`.
pub struct HttpMetrics(Vec<RouteMetrics>);

impl HttpMetrics {
    pub fn new(routes: &[&'static str], metrics: &Metrics) -> Self {
        let labels = routes.iter().copied().chain(["unmatched"]);
        Self(
            labels
                .map(|route| RouteMetrics::new(route, metrics))
                .collect(),
        )
    }

    fn for_route(&self, pattern: Option<&str>) -> &RouteMetrics {
        let found = pattern.and_then(|p| self.0.iter().find(|r| r.route == p));
        found.unwrap_or_else(|| self.0.last().expect("`unmatched` is always present"))
    }
}

pub async fn observe(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = app.http_metrics.for_route(
        request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let method = tracing::enabled!(tracing::Level::DEBUG).then(|| request.method().clone());
    let response = match super::body_too_large(request.headers()) {
        Some(refused) => refused,
        None => next.run(request).await,
    };
    let elapsed = started.elapsed();
    route.record(response.status(), elapsed.as_secs_f64());
    if let Some(method) = method {
        tracing::debug!(
            %method,
            route = route.route,
            status = response.status().as_u16(),
            micros = elapsed.as_micros() as u64,
            "request"
        );
    }
    response
}

//! One middleware for every public request: the request counter and latency histogram, and a
//! debug log line. The route label is the matched pattern, so unknown paths collapse into one
//! `unmatched` series instead of one per path.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

pub async fn observe(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| route_label(path.as_str()));
    let method = request.method().clone();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status();
    app.metrics
        .http_requests
        .with_label_values(&[route, status.as_str()])
        .inc();
    app.metrics
        .http_duration
        .with_label_values(&[route])
        .observe(elapsed.as_secs_f64());
    tracing::debug!(
        %method,
        route,
        status = status.as_u16(),
        micros = elapsed.as_micros() as u64,
        "request"
    );
    response
}

/// Interns the router's patterns as `'static` labels (the set is fixed by the router).
fn route_label(pattern: &str) -> &'static str {
    super::ROUTES
        .iter()
        .find(|known| **known == pattern)
        .copied()
        .unwrap_or("unmatched")
}

//! Liveness and readiness. Liveness says only that the process answers;
//! readiness says whether this replica should receive traffic: not before the table is loaded,
//! not while shutting down, and not while a shared state store is unreachable when
//! `provisioning.redis_unavailable = "not-ready"` (the default, `serve-stale`, stays ready).

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

/// `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
pub struct Liveness {
    status: Alive,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Alive {
    Ok,
}

/// `{"status": "ready"}` or `{"status": "not_ready"}`.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    status: Ready,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ready {
    Ready,
    NotReady,
}

/// Liveness: 200 while the process answers (on both listeners).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    responses((status = 200, description = "The process is running.", body = Liveness)),
)]
pub async fn healthz() -> Json<Liveness> {
    Json(Liveness { status: Alive::Ok })
}

/// Readiness.
///
/// 200 once the routing table is loaded and the state store answers; 503 before that, while a
/// shared state store is unreachable (with `redis_unavailable = "not-ready"`) and during
/// shutdown.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready for traffic.", body = Readiness,
            example = json!({"status": "ready"})),
        (status = 503, description = "Not ready: starting, shutting down, or the state store is away.",
            body = Readiness, example = json!({"status": "not_ready"})),
    ),
)]
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Readiness>) {
    if app.is_ready() && app.provisioner.ready() {
        (
            StatusCode::OK,
            Json(Readiness {
                status: Ready::Ready,
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: Ready::NotReady,
            }),
        )
    }
}

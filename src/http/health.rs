//! Liveness and readiness (DESIGN §2). Liveness says only that the process answers;
//! readiness says whether this replica should receive traffic: not before the table is loaded,
//! not while shutting down, and not while a shared state store is unreachable when
//! `provisioning.redis_unavailable = "not-ready"` (the default, `serve-stale`, stays ready).

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    if app.is_ready() && app.provisioner.ready() {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready" })),
        )
    }
}

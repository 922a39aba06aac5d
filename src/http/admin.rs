//! `/admin/*` on the ops listener (DESIGN §3): each pair's state, and plan/apply over HTTP.
//! Only with `Authorization: Bearer $FLEXROUTE_ADMIN_TOKEN`; without a configured token the
//! endpoints do not exist. Answers carry SIDs and states, never a credential.

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use crate::provision::plan;

pub async fn require_token(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(expected) = app.admin_token.as_deref() else {
        return ApiError::new(ErrorCode::NotFound, "no such endpoint").into_response();
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        next.run(request).await
    } else {
        ApiError::new(ErrorCode::Unauthorized, "missing or wrong admin token").into_response()
    }
}

/// Takes the same time whatever the inputs hold and however long the expected token is: every
/// byte of the longer input is compared (the shorter is read as zeros past its end), and a
/// length difference only sets the result, so neither the token's bytes nor its length can
/// be learnt from response times. Only the length the caller sent shows, which it knows.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let longest = given.len().max(expected.len());
    let differences = (0..longest).fold(0u8, |acc, i| {
        let a = given.get(i).copied().unwrap_or(0);
        let b = expected.get(i).copied().unwrap_or(0);
        acc | (a ^ b)
    });
    differences == 0 && given.len() == expected.len()
}

/// `GET /admin/routes`: every configured pair, its address, where it came from, its state.
pub async fn routes(State(app): State<AppState>) -> Json<Value> {
    let table = app.table();
    let p = &app.provisioner;
    let mut routes = Vec::new();
    for site in &table.sites {
        for pair in &site.pairs {
            let known = p.known(site, pair);
            let failure = p.failure(site, pair);
            let state = match (&known, &failure) {
                (Some(_), _) => "ready",
                (None, _) if p.is_provisioning(site, pair) => "provisioning",
                (None, Some(_)) => "failing",
                (None, None) => "missing",
            };
            routes.push(json!({
                "site": &*site.id,
                "language": &*pair.language,
                "default": std::ptr::eq(pair, site.default_pair()),
                "state": state,
                "sid": known.as_ref().map(|(address, _)| address.sid().to_string()),
                "source": known.as_ref().map(|(_, source)| source.as_str()),
                "last_error": failure.as_ref().map(|f| f.error.clone()),
                "failed_attempts": failure.as_ref().map_or(0, |f| f.attempts),
                "retry_in_secs": failure.as_ref().map(|f| f.retry_at.saturating_duration_since(std::time::Instant::now()).as_secs()),
            }));
        }
    }
    Json(json!({ "routes": routes }))
}

#[derive(serde::Deserialize)]
pub struct ProvisionQuery {
    #[serde(default = "yes")]
    dry_run: bool,
}

fn yes() -> bool {
    true
}

/// `POST /admin/provision?dry_run=true|false`: the plan (default), or apply it.
pub async fn provision(
    State(app): State<AppState>,
    query: Result<axum::extract::Query<ProvisionQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(axum::extract::Query(query)) = query else {
        return ApiError::new(ErrorCode::InvalidRequest, "dry_run must be true or false")
            .into_response();
    };
    let table = app.table();
    let result = if query.dry_run {
        plan::plan(&table, &app.provisioner).await
    } else {
        plan::apply(&table, &app.provisioner).await
    };
    match result {
        Ok(items) => Json(json!({ "dry_run": query.dry_run, "pairs": items })).into_response(),
        Err(e) => ApiError::new(ErrorCode::UpstreamError, e.to_string()).into_response(),
    }
}

/// `POST /admin/reload`: validate the file and swap it in, or say every problem (422).
pub async fn reload(State(app): State<AppState>) -> Response {
    let Some(reloader) = &app.reloader else {
        return ApiError::new(ErrorCode::InvalidRequest, "started without a config file")
            .into_response();
    };
    match reloader.reload(&app, "admin").await {
        Ok(report) => Json(json!({ "outcome": "success", "report": report })).into_response(),
        Err(problems) => (
            http::StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "outcome": "failure",
                "error": {
                    "code": "invalid_config",
                    "message": "the new configuration was rejected; the last good one keeps serving",
                    "problems": problems,
                }
            })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_match_only_when_equal() {
        let token = b"admin-token-51aa0f3e";
        assert!(constant_time_eq(token, token));
        assert!(!constant_time_eq(b"admin-token-51aa0f3f", token));
        assert!(!constant_time_eq(b"admin-token", token), "a prefix");
        assert!(!constant_time_eq(b"admin-token-51aa0f3e\0", token), "zero padding");
        assert!(!constant_time_eq(b"", token));
        assert!(!constant_time_eq(token, b""));
    }

    #[test]
    fn the_admin_listener_is_loopback_by_default() {
        let server = crate::config::ServerConfig::default();
        let address: std::net::SocketAddr = server.admin_listen.parse().unwrap();
        assert!(address.ip().is_loopback(), "{address}");
    }
}

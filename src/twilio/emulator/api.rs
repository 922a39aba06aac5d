//! The emulator's HTTP surface: routes, Basic auth, latency, logging, and Twilio's error body
//! for every failure, including the ones axum would otherwise answer in plain text.

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Uri};

use super::answer::{code_for, error, not_found_at};
use super::{Emulator, addresses, auth, conversation, flows, list, messages, web_chats};
use crate::text::Bounded;
use crate::twilio::types::ErrorBody;

pub fn router(emulator: Emulator) -> axum::Router {
    axum::Router::new()
        .route("/v1/FlexFlows", get(list::list).post(flows::create))
        .route(
            "/v1/FlexFlows/{sid}",
            get(flows::fetch).post(flows::update).delete(flows::delete),
        )
        .route(
            "/v1/Configuration/Addresses",
            get(addresses::list).post(addresses::create),
        )
        .route(
            "/v1/Configuration/Addresses/{sid}",
            get(addresses::fetch)
                .post(addresses::update)
                .delete(addresses::delete),
        )
        .route("/v2/WebChats", post(web_chats::create))
        .route("/v1/Conversations/{sid}", get(conversation::fetch))
        .route("/v1/Conversations/{sid}/Messages", post(messages::create))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(emulator.clone(), gate))
        .with_state(emulator)
}

/// Around every request: authenticate, answer, wait the configured latency, log one line. The
/// log line has no headers (the `Authorization` header carries a secret), and the method and
/// path are cut to [`crate::text::LOGGED_MAX`] bytes.
async fn gate(State(emulator): State<Emulator>, request: Request, next: Next) -> Response {
    let _in_flight = emulator.enter();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = if auth::authorized(request.headers(), emulator.credentials()) {
        as_twilio_error(next.run(request).await)
    } else {
        let mut response = error(ErrorBody::new(20003, "Authenticate", 401));
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Twilio API\""),
        );
        response
    };
    let latency = emulator.switches().latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    // The message names the first API it served; log readers match on it.
    tracing::debug!(
        method = %Bounded(method.as_str()),
        path = %Bounded(&path),
        status = response.status().as_u16(),
        "flex api emulator"
    );
    response
}

/// An error axum produced itself (a body over its size limit, a path it cannot decode) gets
/// Twilio's error body too, so that clients see one error shape only.
fn as_twilio_error(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let reason = status.canonical_reason().unwrap_or("Error");
    error(ErrorBody::new(
        code_for(status.as_u16()),
        reason,
        status.as_u16(),
    ))
}

async fn not_found(uri: Uri) -> Response {
    not_found_at(uri.path())
}

async fn method_not_allowed() -> Response {
    error(ErrorBody::new(20004, "Method not allowed", 405))
}

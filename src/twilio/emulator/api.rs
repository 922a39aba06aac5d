//! The emulator's HTTP surface: routes, Basic auth, latency, logging, and Twilio's error body
//! for every failure, including the ones axum would otherwise answer in plain text.

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::header::{CONTENT_TYPE, HOST, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};

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

/// Twilio's error code for an HTTP status: the documented ones, else 20000 + status (which is
/// also Twilio's pattern: 20404, 20429, 20500).
pub fn code_for(status: u16) -> u32 {
    match status {
        400 => 20001,
        401 => 20003,
        405 => 20004,
        other => 20000 + u32::from(other),
    }
}

/// A handler's answer: a response, or Twilio's error body already rendered.
pub type Answer = Result<Response, Refusal>;

/// An error answer, boxed so that the `Result`s carrying one on the way out of a handler stay
/// small; `?` makes one from any [`Response`].
pub struct Refusal(Box<Response>);

impl From<Response> for Refusal {
    fn from(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// `{"code", "message", "more_info", "status"}` with the status it names.
pub fn error(body: ErrorBody) -> Response {
    let status = body
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}

/// The answer to a request that the [`super::Switches`] fail.
pub fn injected_failure(status: u16, retry_after: Option<u64>) -> Response {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut response = error(ErrorBody::new(code_for(status), reason, status));
    // Twilio promises no Retry-After; a test that wants one sets it.
    if let (429 | 503, Some(secs)) = (status, retry_after) {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

pub fn not_found_at(path: &str) -> Response {
    error(ErrorBody::new(
        20404,
        format!("The requested resource {path} was not found"),
        404,
    ))
}

async fn not_found(uri: Uri) -> Response {
    not_found_at(uri.path())
}

async fn method_not_allowed() -> Response {
    error(ErrorBody::new(20004, "Method not allowed", 405))
}

/// `http://{Host}`: every URL in an answer points back at the emulator through the address the
/// client used, so a client that follows `next_page_url` or a flow's `url` stays here.
pub fn base_url(headers: &HeaderMap, uri: &Uri) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.parse::<http::uri::Authority>().is_ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_string());
    format!("http://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_follow_twilio() {
        assert_eq!(code_for(400), 20001);
        assert_eq!(code_for(401), 20003);
        assert_eq!(code_for(404), 20404);
        assert_eq!(code_for(405), 20004);
        assert_eq!(code_for(429), 20429);
        assert_eq!(code_for(500), 20500);
        assert_eq!(code_for(503), 20503);
    }

    #[test]
    fn base_url_comes_from_a_valid_host_header() {
        let mut headers = HeaderMap::new();
        let uri: Uri = "/v1/FlexFlows".parse().unwrap();
        assert_eq!(base_url(&headers, &uri), "http://localhost");
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:4010"));
        assert_eq!(base_url(&headers, &uri), "http://127.0.0.1:4010");
        headers.insert(HOST, HeaderValue::from_static("bad host/x"));
        assert_eq!(base_url(&headers, &uri), "http://localhost");
    }
}

//! What the emulator's handlers answer with: Twilio's error body (`{"code", "message",
//! "more_info", "status"}`) and its codes, injected failures, and the base of the URLs an
//! answer links to. Below every handler file and the router ([`super::api`]).

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::header::{HOST, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};

use crate::twilio::types::ErrorBody;

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

//! What is refused before any handler runs, on both listeners: a request without exactly one
//! `Host` (`400`) and a body over [`MAX_BODY_BYTES`] (`413`). One file so that each rule is
//! written once: the public listener applies [`refused`] in `observe::Observed` (ahead of the
//! router and of its shortcut), the ops listener in [`refuse_bad_requests`], and the session
//! routes, the only ones that read a body, answer the same [`payload_too_large`] when a body
//! sent without a length proves longer.

use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorCode};

/// Largest request body accepted, on both listeners. Only the session routes read one (JSON
/// of a few hundred bytes); elsewhere a small one is tolerated and discarded.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The answer to a request refused before routing (`400` or `413`), or `None` to go on. One
/// header lookup or two, no allocation, for a request that is right.
pub fn refused(version: Version, headers: &header::HeaderMap) -> Option<Response> {
    host_refused(version, headers).or_else(|| body_too_large(headers))
}

/// The ops listener's layer of [`refused`]. A chunked body is never read by any handler
/// there: hyper discards what fits in its buffer and closes the connection rather than read
/// on.
pub async fn refuse_bad_requests(request: Request, next: Next) -> Response {
    match refused(request.version(), request.headers()) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

/// `400 invalid_request` for a request RFC 9112 §3.2 says must get one: an HTTP/1.1 request
/// without `Host`, or any request with more than one `Host` line (which one would decide the
/// site?). HTTP/1.0 may leave it out.
fn host_refused(version: Version, headers: &header::HeaderMap) -> Option<Response> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let message = match (hosts.next(), hosts.next()) {
        (Some(_), None) => return None,
        (None, _) if version < Version::HTTP_11 => return None,
        (None, _) => "an HTTP/1.1 request needs a Host header",
        (Some(_), Some(_)) => "a request may have only one Host header",
    };
    let mut response = ApiError::new(ErrorCode::InvalidRequest, message).into_response();
    // Whoever sent it does not speak HTTP as the server reads it: do not read on.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    Some(response)
}

/// The `413` for a request whose declared body (`Content-Length`) is over [`MAX_BODY_BYTES`].
fn body_too_large(headers: &header::HeaderMap) -> Option<Response> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())?;
    (declared > MAX_BODY_BYTES as u64).then(payload_too_large)
}

/// `413 payload_too_large`, for a body declared or found over [`MAX_BODY_BYTES`]. The rest of
/// the body is left unread: the connection cannot be reused.
pub fn payload_too_large() -> Response {
    let mut response = ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

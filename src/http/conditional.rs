//! Conditional requests (RFC 9110 §13): whether an `If-None-Match` still holds, so the answer
//! is `304` with no body. Shared by the two routes that send an `ETag`: the widget config and
//! the embed script.

use http::header::{self, HeaderMap, HeaderValue};

/// RFC 9110 §13.1.2: `*`, or any listed tag equal to ours under weak comparison.
pub fn if_none_match(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes();
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == ours)
}

//! Cross-origin access to the config route: a browser on a storefront reads the answer only if
//! the resolved site lists the page's origin in `allowed_origins`. The grant is the request's
//! own `Origin` echoed, never `*`; anyone else gets no grant headers, which the browser reads
//! as a refusal. Both the answer ([`allow_origin`]) and the preflight ([`preflight`]) use the
//! same check. An allowed origin may also read with credentials (the embed script's
//! `data-credentials="include"`, for a language cookie shared with flexroute's domain): the
//! answer holds nothing private, and its `Vary: Cookie` keeps caches apart.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};

use super::query;
use crate::http::AppState;
use crate::table::Site;

const CREDENTIALS: HeaderValue = HeaderValue::from_static("true");

/// The request's `Origin` if `site` allows it.
pub fn allowed_origin<'r>(site: &Site, request: &'r HeaderMap) -> Option<&'r HeaderValue> {
    request
        .get(header::ORIGIN)
        .filter(|origin| origin.to_str().is_ok_and(|o| site.allows_origin(o)))
}

/// Echoes `Origin` into `headers` when the site allows it; otherwise adds nothing.
pub fn allow_origin(site: &Site, request: &HeaderMap, headers: &mut HeaderMap) {
    if let Some(origin) = allowed_origin(site, request) {
        grant(origin, headers);
    }
}

/// The grant of an answer to `origin`.
pub fn grant(origin: &HeaderValue, headers: &mut HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, CREDENTIALS);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag, Content-Language, Retry-After"),
    );
}

/// CORS preflight for `GET /v1/webchat/config`.
///
/// `OPTIONS /v1/webchat/config`: a CORS preflight. Allowed origins get the grant; anyone else
/// gets an empty 204, which a browser reads as a refusal.
#[utoipa::path(
    options,
    path = "/v1/webchat/config",
    tag = "webchat",
    operation_id = "preflightWebchatConfig",
    params(
        ("site" = Option<String>, Query, description = "As for GET: selects the site whose `allowed_origins` apply."),
        ("lang" = Option<String>, Query),
        ("page" = Option<String>, Query),
        ("Origin" = Option<String>, Header, example = "https://acme.example"),
        ("Access-Control-Request-Method" = Option<String>, Header, example = "GET"),
        ("Access-Control-Request-Headers" = Option<String>, Header, description = "Echoed in `Access-Control-Allow-Headers` when the origin is allowed."),
    ),
    responses(
        (status = 204, description = "Always 204; the grant headers only when the site allows `Origin`.",
            headers(
                ("Vary" = inline(crate::http::openapi::PreflightVary)),
                ("Access-Control-Allow-Origin" = String),
                ("Access-Control-Allow-Credentials" = String, description = "`true`, with `Access-Control-Allow-Origin`."),
                ("Access-Control-Allow-Methods" = inline(crate::http::openapi::AllowMethods)),
                ("Access-Control-Allow-Headers" = String),
                ("Access-Control-Max-Age" = inline(crate::http::openapi::MaxAge)),
            )),
    ),
)]
pub async fn preflight(State(app): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Origin, Access-Control-Request-Headers"),
    );
    let table = app.table();
    let Some(site) = query::site_of(&table, &parts.uri, &parts.headers) else {
        return response;
    };
    if let Some(origin) = allowed_origin(&table.sites[site], &parts.headers) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, CREDENTIALS);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, OPTIONS"),
        );
        if let Some(requested) = parts.headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    response
}

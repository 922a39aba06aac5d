//! `GET /v1/webchat/config`, the request every page view of every storefront makes, read top
//! to bottom: decide the site and language ([`query`]), take the pair's prepared answer
//! ([`answer`]: the cache, else provisioning or the degraded rule), then add this request's
//! headers ([`respond`]: `304`, caching, CORS). A cached answer needs no waiting, so
//! [`from_cache`] gives it synchronously, ahead of the router (declared in
//! `http::public_router`); a miss goes through [`get_config`]. The CORS preflight is in
//! [`cors`].

mod answer;
pub mod cors;
pub mod headers;
mod memo;
mod query;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap, HeaderValue};
use http::{StatusCode, Uri};

use super::AppState;
use super::conditional::if_none_match;
use crate::cache::Prepared;
use crate::table::{Pair, Site};
use query::Decided;

/// Seconds a client should wait before asking again for an address that is not available.
const RETRY_AFTER_SECS: &str = "5";

static VARY: HeaderValue = HeaderValue::from_static("Origin, Accept-Language, Cookie");
/// When `Referer` helped decide (no `page` parameter), caches must key on it too.
static VARY_REFERER: HeaderValue =
    HeaderValue::from_static("Origin, Accept-Language, Cookie, Referer");
static JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The widget configuration for the visitor's site and language.
///
/// The site comes from `site`, else the host of `Origin`, else of the page URL (`page` or
/// `Referer`), else the request's host (an absolute-form target's authority, else `Host`; one
/// that is not a host name matches no site). The language from `lang`, else the page URL's
/// first path segment (sites with `path_language = true`), else the site's language cookie,
/// else `Accept-Language` (several lines read as one list), else the site's default. Unknown
/// query parameters are ignored; an empty one counts as absent.
#[utoipa::path(
    get,
    path = "/v1/webchat/config",
    tag = "webchat",
    operation_id = "getWebchatConfig",
    params(
        ("site" = Option<String>, Query, max_length = 2048, example = "acme",
            description = "A site id (at most 2048 bytes)."),
        ("lang" = Option<String>, Query, max_length = 2048, example = "es-MX",
            description = "A BCP 47 language tag (at most 2048 bytes); matched against the site's languages, falling back along subtags."),
        ("page" = Option<String>, Query, example = "https://acme.example/fr-ca/cart",
            description = "The page URL: its host may select the site, its first path segment the language. The whole query string is at most 8192 bytes."),
        ("Origin" = Option<String>, Header, description = "Selects the site by host; echoed in `Access-Control-Allow-Origin` when the site allows it."),
        ("Referer" = Option<String>, Header, description = "The page URL when `page` is not given."),
        ("Accept-Language" = Option<String>, Header, example = "es-AR, en;q=0.5",
            description = "Honours q-values, `q=0` exclusions and `*`; malformed entries are skipped. (The cookie the site names in `language_cookie` comes before it.)"),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer: 304 when it still holds."),
    ),
    responses(
        (status = 200, description = "The widget configuration. `degraded` answers lend the site default language's address (`no-cache`).",
            body = crate::widget::Body,
            links(("revalidate" = (
                operation_id = "getWebchatConfig",
                description = "Ask again with the ETag: 304 while the answer is unchanged.",
                parameters(
                    ("header.If-None-Match" = "$response.header.ETag"),
                    ("query.site" = "$response.body#/site"),
                    ("query.lang" = "$response.body#/language"),
                ),
            ))),
            headers(
                ("ETag" = inline(crate::http::openapi::ETag)),
                ("Cache-Control" = inline(crate::http::openapi::ConfigCacheControl)),
                ("Vary" = inline(crate::http::openapi::ConfigVary)),
                ("Content-Language" = String, description = "The negotiated language."),
                ("Access-Control-Allow-Origin" = String, description = "The request's `Origin`, only when the site allows it."),
                ("Access-Control-Allow-Credentials" = String, description = "`true`, with `Access-Control-Allow-Origin`: an allowed origin may read with cookies."),
                ("Access-Control-Expose-Headers" = inline(crate::http::openapi::ExposeHeaders), description = "With `Access-Control-Allow-Origin`."),
            )),
        (status = 304, description = "`If-None-Match` matched: the answer is unchanged.",
            headers(
                ("ETag" = inline(crate::http::openapi::ETag)),
                ("Cache-Control" = inline(crate::http::openapi::ConfigCacheControl)),
                ("Vary" = inline(crate::http::openapi::ConfigVary)),
                ("Content-Language" = String, description = "The negotiated language."),
                ("Access-Control-Allow-Origin" = String, description = "The request's `Origin`, only when the site allows it."),
                ("Access-Control-Allow-Credentials" = String, description = "`true`, with `Access-Control-Allow-Origin`: an allowed origin may read with cookies."),
                ("Access-Control-Expose-Headers" = inline(crate::http::openapi::ExposeHeaders), description = "With `Access-Control-Allow-Origin`."),
            )),
        (status = 400, description = "`invalid_request`: the query string is longer than 8192 bytes, or `site` or `lang` longer than 2048.",
            body = crate::http::error::ErrorBody,
            headers(("Cache-Control" = inline(crate::http::openapi::NoStore)))),
        (status = 404, description = "`unknown_site`: no configured site matches.",
            body = crate::http::error::ErrorBody,
            headers(("Cache-Control" = inline(crate::http::openapi::NoStore)))),
        (status = 500, description = "`internal`: a bug; the detail is logged, never sent.",
            body = crate::http::error::ErrorBody,
            headers(("Cache-Control" = inline(crate::http::openapi::NoStore)))),
        (status = 503, description = "`address_unavailable`: the language has no address yet and the site default has none to lend.",
            body = crate::http::error::ErrorBody,
            headers(
                ("Retry-After" = inline(crate::http::openapi::Seconds)),
                ("Cache-Control" = inline(crate::http::openapi::NoStore)),
                ("Vary" = inline(crate::http::openapi::ConfigVary)),
                ("Access-Control-Allow-Origin" = String, description = "The request's `Origin`, only when the site allows it."),
                ("Access-Control-Allow-Credentials" = String, description = "`true`, with `Access-Control-Allow-Origin`: an allowed origin may read with cookies."),
                ("Access-Control-Expose-Headers" = inline(crate::http::openapi::ExposeHeaders), description = "With `Access-Control-Allow-Origin`."),
            )),
    ),
)]
pub async fn get_config(State(app): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let table = app.table();
    let decided = match query::decide(&table, &parts.uri, &parts.headers) {
        Ok(decided) => decided,
        Err(error) => return error.into_response(),
    };
    let site = &table.sites[decided.site];
    let pair = &site.pairs[decided.language];
    let prepared = match answer::cached(&app, site, pair) {
        Some(prepared) => prepared,
        None => answer::built(&app, &table, site, pair).await,
    };
    respond(&app, site, pair, &prepared, &parts.headers, &decided)
}

/// The whole answer when it needs nothing but the cache: a cached answer, or a client error.
/// The decision is remembered for inputs seen before ([`memo`]).
/// `None` (a cache miss) leaves the request to the router, hence [`get_config`], which may
/// wait for provisioning. Synchronous, so the public service answers the commonest request
/// without the router's per-request boxing: `http::public_router` runs it ahead of the router
/// (`observe::Shortcut`).
pub fn from_cache(app: &AppState, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    let table = app.table();
    let changes = app.cache.changes();
    let found = memo::decide(&table, uri, headers, changes, |decided| {
        let site = &table.sites[decided.site];
        answer::cached(app, site, &site.pairs[decided.language])
    });
    let (decided, prepared, remembered) = match found {
        Ok(found) => found,
        Err(error) => return Some(error.into_response()),
    };
    let prepared = prepared?;
    if remembered {
        answer::count_hit(app);
    }
    let site = &table.sites[decided.site];
    let pair = &site.pairs[decided.language];
    Some(respond(app, site, pair, &prepared, headers, &decided))
}

/// The prepared answer as this request's response: `304` when `If-None-Match` holds, the
/// caching headers (`no-cache` for a degraded answer, `no-store` and `Retry-After` for an
/// error), `Vary`, and the CORS grant. Logs the decision at debug.
fn respond(
    app: &AppState,
    site: &Site,
    pair: &Pair,
    prepared: &Prepared,
    request: &HeaderMap,
    decided: &Decided,
) -> Response {
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(
            site = %site.id,
            language = %pair.language,
            site_rule = %decided.site_rule,
            language_rule = %decided.language_rule,
            degraded = prepared.degraded,
            "resolved"
        );
    }
    let not_modified = prepared
        .etag
        .as_ref()
        .is_some_and(|etag| if_none_match(request, etag));
    let (status, body) = if not_modified {
        (StatusCode::NOT_MODIFIED, Body::empty())
    } else {
        (prepared.status, Body::from(prepared.body.clone()))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    // A served answer (every page view): its prebuilt headers.
    if let (Some(served), Some(etag), Some(language)) =
        (&prepared.served, &prepared.etag, &prepared.content_language)
    {
        served.inc();
        let origin = cors::allowed_origin(site, request);
        let variant = headers::Variant {
            not_modified,
            referer: decided.used_referer,
            cors: origin.is_some(),
            degraded: prepared.degraded,
        };
        *response.headers_mut() = app.served_headers.headers(&variant, etag, language, origin);
        return response;
    }
    let headers = response.headers_mut();
    // Room for every header below at once, instead of growing the map insert by insert.
    headers.reserve(10);
    if !not_modified {
        headers.insert(header::CONTENT_TYPE, JSON.clone());
    }
    let vary = if decided.used_referer {
        &VARY_REFERER
    } else {
        &VARY
    };
    headers.insert(header::VARY, vary.clone());
    if let Some(served) = &prepared.served {
        served.inc();
        let cache_control = if prepared.degraded {
            HeaderValue::from_static("no-cache")
        } else {
            app.cache_control.clone()
        };
        headers.insert(header::CACHE_CONTROL, cache_control);
    } else {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    if let Some(etag) = &prepared.etag {
        headers.insert(header::ETAG, etag.clone());
    }
    if let Some(language) = &prepared.content_language {
        headers.insert(header::CONTENT_LANGUAGE, language.clone());
    }
    cors::allow_origin(site, request, headers);
    response
}

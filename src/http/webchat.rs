//! `GET /v1/webchat/config`: resolve the site and language, then answer from the
//! cache of prebuilt responses, adding only the per-request headers (304, CORS).

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, request::Parts};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use crate::cache::Prepared;
use crate::provision::{self, Lookup};
use crate::resolve::{self, Inputs};
use crate::table::{Address, Pair, RoutingTable, Site};
use crate::text::{split_byte, split_once_byte};
use crate::widget;

/// Longest query string accepted. Page URLs with tracking parameters fit easily; anything
/// longer is not a browser asking for a widget.
pub const MAX_QUERY_BYTES: usize = 8192;
/// Longest `site` or `lang` value; longer cannot match the table, so it is a client bug.
/// (A long `page` URL is fine: only its host and first path segment are read.)
const MAX_VALUE_BYTES: usize = 2048;

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
                ("ETag" = inline(super::openapi::ETag)),
                ("Cache-Control" = inline(super::openapi::ConfigCacheControl)),
                ("Vary" = inline(super::openapi::ConfigVary)),
                ("Content-Language" = String, description = "The negotiated language."),
                ("Access-Control-Allow-Origin" = String, description = "The request's `Origin`, only when the site allows it."),
                ("Access-Control-Expose-Headers" = inline(super::openapi::ExposeHeaders), description = "With `Access-Control-Allow-Origin`."),
            )),
        (status = 304, description = "`If-None-Match` matched: the answer is unchanged.",
            headers(
                ("ETag" = inline(super::openapi::ETag)),
                ("Cache-Control" = inline(super::openapi::ConfigCacheControl)),
                ("Vary" = inline(super::openapi::ConfigVary)),
                ("Content-Language" = String, description = "The negotiated language."),
                ("Access-Control-Allow-Origin" = String, description = "The request's `Origin`, only when the site allows it."),
                ("Access-Control-Expose-Headers" = inline(super::openapi::ExposeHeaders), description = "With `Access-Control-Allow-Origin`."),
            )),
        (status = 400, description = "`invalid_request`: the query string is longer than 8192 bytes, or `site` or `lang` longer than 2048.",
            body = super::error::ErrorBody,
            headers(("Cache-Control" = inline(super::openapi::NoStore)))),
        (status = 404, description = "`unknown_site`: no configured site matches.",
            body = super::error::ErrorBody,
            headers(("Cache-Control" = inline(super::openapi::NoStore)))),
        (status = 500, description = "`internal`: a bug; the detail is logged, never sent.",
            body = super::error::ErrorBody,
            headers(("Cache-Control" = inline(super::openapi::NoStore)))),
        (status = 503, description = "`address_unavailable`: the language has no address yet and the site default has none to lend.",
            body = super::error::ErrorBody,
            headers(
                ("Retry-After" = inline(super::openapi::Seconds)),
                ("Cache-Control" = inline(super::openapi::NoStore)),
                ("Vary" = inline(super::openapi::ConfigVary)),
                ("Access-Control-Allow-Origin" = String, description = "The request's `Origin`, only when the site allows it."),
                ("Access-Control-Expose-Headers" = inline(super::openapi::ExposeHeaders), description = "With `Access-Control-Allow-Origin`."),
            )),
    ),
)]
pub async fn get_config(State(app): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    match answer(&app, &parts).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// The query parameters flexroute reads; everything else (cache-busters…) is ignored. Values
/// borrow from the URI unless percent-decoding had to change them.
#[derive(Default)]
struct Query<'a> {
    site: Option<Cow<'a, str>>,
    lang: Option<Cow<'a, str>>,
    page: Option<Cow<'a, str>>,
}

impl<'a> Query<'a> {
    /// Keeps `value` if `key` is one flexroute reads and it is the first non-empty one.
    fn take(&mut self, key: Cow<'a, str>, value: Cow<'a, str>) -> Result<(), ApiError> {
        let (slot, limited) = match key.as_ref() {
            "site" => (&mut self.site, true),
            "lang" => (&mut self.lang, true),
            "page" => (&mut self.page, false),
            _ => return Ok(()),
        };
        if value.is_empty() {
            return Ok(()); // `?site=&lang=` from a template left blank means "not given"
        }
        if limited && value.len() > MAX_VALUE_BYTES {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("parameter `{key}` is longer than {MAX_VALUE_BYTES} bytes"),
            ));
        }
        if slot.is_none() {
            *slot = Some(value);
        }
        Ok(())
    }
}

fn parse_query(uri: &Uri) -> Result<Query<'_>, ApiError> {
    let raw = uri.query().unwrap_or("");
    if raw.len() > MAX_QUERY_BYTES {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("query string longer than {MAX_QUERY_BYTES} bytes"),
        ));
    }
    let mut query = Query::default();
    // Most queries have nothing to decode (`site=acme&lang=es-MX`): those are split in place,
    // every pair borrowed, at a fraction of `form_urlencoded`'s byte-by-byte cost.
    if raw.bytes().any(|b| b == b'%' || b == b'+') {
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            query.take(key, value)?;
        }
    } else {
        for pair in split_byte(raw, b'&').filter(|pair| !pair.is_empty()) {
            let (key, value) = split_once_byte(pair, b'=').unwrap_or((pair, ""));
            query.take(Cow::Borrowed(key), Cow::Borrowed(value))?;
        }
    }
    Ok(query)
}

/// A single-valued header as text; absent when missing or not visible ASCII (never an error).
fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A list-valued header as text, with any invalid byte replaced, so that one bad entry is
/// skipped by the parser rather than costing the whole header. Several lines of it are read as
/// one, joined by `separator` (RFC 9110 §5.3: `, ` for `Accept-Language`; RFC 6265 §5.4: `; `
/// for `Cookie`). Borrowed, with no allocation, when there is one line and it needs no repair.
fn header_list<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    separator: &str,
) -> Option<Cow<'a, str>> {
    let mut lines = headers.get_all(name).iter();
    let first = String::from_utf8_lossy(lines.next()?.as_bytes());
    let Some(second) = lines.next() else {
        return Some(first);
    };
    let mut joined = first.into_owned();
    for line in std::iter::once(second).chain(lines) {
        joined.push_str(separator);
        joined.push_str(&String::from_utf8_lossy(line.as_bytes()));
    }
    Some(Cow::Owned(joined))
}

/// The list-valued headers, held for the duration of a request so that [`Inputs`] can borrow.
struct ListHeaders<'a> {
    cookie: Option<Cow<'a, str>>,
    accept_language: Option<Cow<'a, str>>,
}

impl<'a> ListHeaders<'a> {
    fn read(headers: &'a HeaderMap) -> Self {
        Self {
            cookie: header_list(headers, &header::COOKIE, "; "),
            accept_language: header_list(headers, &header::ACCEPT_LANGUAGE, ", "),
        }
    }
}

/// The host the request was sent to: the authority of an absolute-form request target
/// (`GET http://acme.example/… HTTP/1.1`), which RFC 9112 §3.2.2 says wins over `Host`, else
/// `Host`.
fn request_host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    match uri.authority() {
        Some(authority) => Some(authority.as_str()),
        None => header_str(headers, &header::HOST),
    }
}

fn inputs<'a>(
    query: &'a Query<'_>,
    lists: &'a ListHeaders<'_>,
    uri: &'a Uri,
    headers: &'a HeaderMap,
) -> Inputs<'a> {
    Inputs {
        site: query.site.as_deref(),
        lang: query.lang.as_deref(),
        page: query.page.as_deref(),
        origin: header_str(headers, &header::ORIGIN),
        referer: header_str(headers, &header::REFERER),
        host: request_host(uri, headers),
        cookie: lists.cookie.as_deref(),
        accept_language: lists.accept_language.as_deref(),
    }
}

fn unknown_site(explicit: bool) -> ApiError {
    let message = if explicit {
        "no site has this id"
    } else {
        "no configured site matches this request (site, Origin, page, Referer or Host)"
    };
    ApiError::new(ErrorCode::UnknownSite, message)
}

/// What the request asks for, once resolved: indexes into the table it was resolved against.
struct Decided {
    site: usize,
    language: usize,
    site_rule: resolve::SiteRule,
    language_rule: resolve::LanguageRule,
    used_referer: bool,
}

/// The query and headers resolved against `table`: the site and language, or why not.
fn decide(table: &RoutingTable, uri: &Uri, headers: &HeaderMap) -> Result<Decided, ApiError> {
    let query = parse_query(uri)?;
    let lists = ListHeaders::read(headers);
    let decision = resolve::resolve(table, &inputs(&query, &lists, uri, headers))
        .map_err(|unknown| unknown_site(unknown.explicit))?;
    Ok(Decided {
        site: decision.site,
        language: decision.language,
        site_rule: decision.site_rule,
        language_rule: decision.language_rule,
        used_referer: decision.used_referer,
    })
}

/// The pair's cached answer if it was built for the pair as configured now.
fn cached(app: &AppState, site: &Site, pair: &Pair) -> Option<Arc<Prepared>> {
    let prepared = app.cache.get(&provision::key(site, pair))?;
    (prepared.fingerprint == pair.fingerprint).then(|| {
        app.metrics.cache_hits.inc();
        prepared
    })
}

/// The public service's shortcut (`observe::Observed`): a `GET` of the config route answered
/// from the cache, or `None` for the router.
pub fn shortcut(
    app: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Response> {
    if method != Method::GET || uri.path() != super::CONFIG_ROUTE {
        return None;
    }
    from_cache(app, uri, headers)
}

/// The whole answer when it needs nothing but the cache: a cached answer, or a client error.
/// `None` (a cache miss) leaves the request to [`get_config`], which may wait for provisioning.
/// Synchronous, so the public service answers the commonest request — every page view of every
/// storefront — without the router's per-request boxing (see `observe::Observed`).
fn from_cache(app: &AppState, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    let table = app.table();
    let decided = match decide(&table, uri, headers) {
        Ok(decided) => decided,
        Err(error) => return Some(error.into_response()),
    };
    let site = &table.sites[decided.site];
    let pair = &site.pairs[decided.language];
    let prepared = cached(app, site, pair)?;
    Some(answered(app, site, pair, &prepared, headers, &decided))
}

async fn answer(app: &AppState, parts: &Parts) -> Result<Response, ApiError> {
    let table = app.table();
    let table = &*table;
    let decided = decide(table, &parts.uri, &parts.headers)?;
    let site = &table.sites[decided.site];
    let pair = &site.pairs[decided.language];
    let prepared = match cached(app, site, pair) {
        Some(prepared) => prepared,
        None => {
            app.metrics.cache_misses.inc();
            let key = provision::key(site, pair);
            match app.provisioner.address(site, pair).await {
                // Only answers with the pair's own address are cached (once per key however
                // many requests miss together); degraded ones must not outlive the outage.
                Lookup::Ready(address) => app.cache.get_or_build(key, pair.fingerprint, || {
                    Arc::new(prepare_own(app, table, site, pair, &address))
                }),
                Lookup::Unavailable => Arc::new(prepare_unavailable(app, table, site, pair)),
            }
        }
    };
    Ok(answered(
        app,
        site,
        pair,
        &prepared,
        &parts.headers,
        &decided,
    ))
}

/// Logs the decision (at debug) and turns the prepared answer into this request's response.
fn answered(
    app: &AppState,
    site: &Site,
    pair: &Pair,
    prepared: &Prepared,
    headers: &HeaderMap,
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
    respond(app, site, prepared, headers, decided.used_referer)
}

fn prepare_own(
    app: &AppState,
    table: &RoutingTable,
    site: &Site,
    pair: &Pair,
    address: &Address,
) -> Prepared {
    let body = widget::render(site, pair, address, &answer_context(table), None);
    let served = app.metrics.served_counter(&site.id, &pair.language);
    Prepared::ok(body, &pair.language, false, pair.fingerprint, served)
}

fn answer_context(table: &RoutingTable) -> widget::Context<'_> {
    widget::Context {
        account_sid: table.account_sid.as_deref(),
        public_url: table.public_url.as_deref(),
    }
}

/// The pair has no address now: lend the site default's (`"degraded": true`) if it has one,
/// else `503 address_unavailable`. A default that is itself missing is provisioned in the
/// background so that the next visitors at least get the degraded answer.
fn prepare_unavailable(app: &AppState, table: &RoutingTable, site: &Site, pair: &Pair) -> Prepared {
    let default = site.default_pair();
    // Only an address of the pair's own kind can stand in: the widget that reads it is.
    let lendable = default.kind == pair.kind;
    if let Some((address, _)) = app.provisioner.known(site, default).filter(|_| lendable) {
        let body = widget::render(site, pair, &address, &answer_context(table), Some(default));
        let served = app.metrics.served_counter(&site.id, &pair.language);
        return Prepared::ok(body, &pair.language, true, pair.fingerprint, served);
    }
    if lendable && !std::ptr::eq(default, pair) {
        app.provisioner.prefetch(site, default);
    }
    let error = ApiError::new(
        ErrorCode::AddressUnavailable,
        format!(
            "no chat address for site `{}` in `{}` yet",
            site.id, pair.language
        ),
    );
    Prepared::error(error.code.status(), error.body())
}

fn respond(
    app: &AppState,
    site: &Site,
    prepared: &Prepared,
    request: &HeaderMap,
    used_referer: bool,
) -> Response {
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
    let headers = response.headers_mut();
    // Room for every header below at once, instead of growing the map insert by insert.
    headers.reserve(10);
    if !not_modified {
        headers.insert(header::CONTENT_TYPE, JSON.clone());
    }
    let vary = if used_referer { &VARY_REFERER } else { &VARY };
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
    cors(site, request, headers);
    response
}

/// Echoes `Origin` when the site allows it; otherwise adds nothing, so the browser refuses.
fn cors(site: &Site, request: &HeaderMap, headers: &mut HeaderMap) {
    if let Some(origin) = request.get(header::ORIGIN)
        && origin.to_str().is_ok_and(|o| site.allows_origin(o))
    {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("ETag, Content-Language, Retry-After"),
        );
    }
}

/// RFC 9110 §13.1.2: `*`, or any listed tag equal to ours under weak comparison.
pub(super) fn if_none_match(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes();
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == ours)
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
                ("Vary" = inline(super::openapi::PreflightVary)),
                ("Access-Control-Allow-Origin" = String),
                ("Access-Control-Allow-Methods" = inline(super::openapi::AllowMethods)),
                ("Access-Control-Allow-Headers" = String),
                ("Access-Control-Max-Age" = inline(super::openapi::MaxAge)),
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
    let Ok(query) = parse_query(&parts.uri) else {
        return response;
    };
    let table = app.table();
    let lists = ListHeaders::read(&parts.headers);
    let Ok(decision) =
        resolve::resolve(&table, &inputs(&query, &lists, &parts.uri, &parts.headers))
    else {
        return response;
    };
    let site = &table.sites[decision.site];
    if let Some(origin) = parts.headers.get(header::ORIGIN)
        && origin.to_str().is_ok_and(|o| site.allows_origin(o))
    {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> (Option<String>, Option<String>, Option<String>) {
        let (parts, ()) = http::Request::get(format!("/v1/webchat/config?{raw}"))
            .body(())
            .unwrap()
            .into_parts();
        let query = parse_query(&parts.uri).unwrap();
        let owned = |v: Option<Cow<'_, str>>| v.map(Cow::into_owned);
        (owned(query.site), owned(query.lang), owned(query.page))
    }

    /// What `form_urlencoded` (the reference) makes of the same query.
    fn reference(raw: &str) -> (Option<String>, Option<String>, Option<String>) {
        let mut found = (None, None, None);
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            let slot = match key.as_ref() {
                "site" => &mut found.0,
                "lang" => &mut found.1,
                "page" => &mut found.2,
                _ => continue,
            };
            if !value.is_empty() && slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        found
    }

    #[test]
    fn the_split_in_place_reads_queries_as_form_urlencoded_does() {
        for raw in [
            "site=acme&lang=es-MX",
            "lang=&lang=fr-CA&site=acme",
            "&&site=acme&&",
            "site",
            "site=a=b&lang==x",
            "=x&page=https://shop.example/fr/cart?x=1",
            "site=acme;lang=fr",
            "site=ac%6De&lang=es+MX",
            "page=https%3A%2F%2Fshop.example%2Ffr&site=acme",
            "",
        ] {
            assert_eq!(parsed(raw), reference(raw), "{raw:?}");
        }
    }
}

//! `POST /v1/webchat/{site}/{language}/initWebchat` and `.../refreshToken`: the session
//! backend of `conversations` pairs, spoken as `twilio-webchat-react-app` speaks to its own
//! server (JSON bodies, `{token, conversationSid, identity, expiration}` back). Everything a
//! request could get wrong is refused before any upstream call: the pair (configured, of the
//! `conversations` kind), the `Origin` (one of the site's `allowed_origins`), the content type,
//! the body's size and shape.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use prometheus::IntCounterVec;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::refuse::{MAX_BODY_BYTES, payload_too_large};
use crate::provision::Lookup;
use crate::session::backend::ChatRequest;
use crate::session::token::Minted;
use crate::table::{AddressKind, Pair, RoutingTable, Site};

/// Seconds a browser should wait before asking again for a chat whose address is not ready.
const RETRY_AFTER_SECS: &str = "5";

/// `initWebchat`'s body: the pre-engagement form the visitor filled.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitWebchat {
    /// Every field of the form; `friendlyName` names the visitor, `query` is posted as their
    /// first message. `site` and `language` are set by flexroute. Absent or `null`: an empty
    /// form (as the react app's own server reads it).
    #[serde(default)]
    #[schema(value_type = Option<Object>, required = false)]
    form_data: Option<Map<String, Value>>,
}

/// `initWebchat`'s answer, stored by the react app as the visitor's session.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStarted {
    /// A Conversations access token for `identity` (HS256 JWT with a chat grant).
    token: String,
    #[schema(pattern = "^CH[0-9a-fA-F]{32}$")]
    conversation_sid: String,
    identity: String,
    /// When `token` expires, in milliseconds since the Unix epoch.
    expiration: u64,
}

/// `refreshToken`'s body.
#[derive(Deserialize, ToSchema)]
pub struct RefreshToken {
    /// A token this deployment issued, not yet expired.
    token: String,
}

/// `refreshToken`'s answer.
#[derive(Serialize, ToSchema)]
pub struct TokenRefreshed {
    token: String,
    /// When `token` expires, in milliseconds since the Unix epoch.
    expiration: u64,
}

/// Starts a visitor's chat on the pair's Conversations address.
#[utoipa::path(
    post,
    path = "/v1/webchat/{site}/{language}/initWebchat",
    tag = "sessions",
    operation_id = "initWebchat",
    params(
        ("site" = String, Path, description = "A site id.", example = "initech"),
        ("language" = String, Path, description = "One of the site's languages, as configured (case-insensitive).", example = "en-US"),
        ("Origin" = String, Header, description = "Must be one of the site's `allowed_origins`.", example = "http://localhost:3000"),
    ),
    request_body(content = InitWebchat, content_type = "application/json"),
    responses(
        (status = 200, description = "The chat is started.", body = SessionStarted,
            headers(("Cache-Control" = inline(super::openapi::NoStore)),
                ("Access-Control-Allow-Origin" = String, description = "The request's `Origin`."))),
        (status = 400, description = "`invalid_request`: the body is not JSON of this shape, or its pre-engagement data is over 16 KB.", body = super::error::ErrorBody),
        (status = 403, description = "`origin_not_allowed`: no `Origin`, or not one of the site's.", body = super::error::ErrorBody),
        (status = 404, description = "`unknown_site`, `unknown_language`, or `not_found` for a pair whose address kind has no session backend.", body = super::error::ErrorBody),
        (status = 413, description = "`payload_too_large`: a body over 16 KiB.", body = super::error::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not `application/json`.", body = super::error::ErrorBody),
        (status = 429, description = "`rate_limited` (when `server.rate_limit_per_second` is set).", body = super::error::ErrorBody,
            headers(("Retry-After" = inline(super::openapi::Seconds)))),
        (status = 500, description = "`internal`: a bug; the detail is logged, never sent.", body = super::error::ErrorBody),
        (status = 502, description = "`upstream_error`: Twilio refused or failed; its answer is logged, never sent.", body = super::error::ErrorBody),
        (status = 503, description = "`address_unavailable`: the pair has no address yet, or this deployment has no API key to sign tokens with (TWILIO_API_KEY + TWILIO_API_SECRET).", body = super::error::ErrorBody,
            headers(("Retry-After" = inline(super::openapi::Seconds)))),
    ),
)]
pub async fn init_webchat(
    State(app): State<AppState>,
    Path((site, language)): Path<(String, String)>,
    request: Request,
) -> Response {
    let table = app.table();
    let counter = &app.metrics.webchat_sessions;
    let (call, body) =
        match begin::<InitWebchat>(&table, counter, (&site, &language), request, "invalid").await {
            Ok(begun) => begun,
            Err(refused) => return refused,
        };
    let (site, pair, origin) = (call.site, call.pair, call.origin.clone());
    let outcome = |label: &str| call.count(label);
    let chat = match ChatRequest::new(body.form_data.unwrap_or_default(), site, pair) {
        Ok(chat) => chat,
        Err(refused) => {
            outcome("invalid");
            let refused = ApiError::new(ErrorCode::InvalidRequest, refused.to_string());
            return with_origin(refused.into_response(), origin);
        }
    };
    let Some(sessions) = app.sessions.as_ref() else {
        outcome("unavailable");
        return with_origin(
            unavailable(site, pair, "no Twilio credentials to start chats with"),
            origin,
        );
    };
    let address = match app.provisioner.address(site, pair).await {
        Lookup::Ready(address) => address,
        Lookup::Unavailable => {
            outcome("unavailable");
            return with_origin(unavailable(site, pair, "no chat address yet"), origin);
        }
    };
    let chat_name = app.provisioner.friendly_name(&site.id, &pair.language);
    let response = match sessions.start(chat, &chat_name, &address).await {
        Ok(started) => {
            outcome("started");
            ok(SessionStarted {
                expiration: millis(&started.token),
                token: started.token.token,
                conversation_sid: started.conversation_sid,
                identity: started.identity,
            })
        }
        Err(e) => {
            outcome("upstream_error");
            tracing::warn!(site = %site.id, language = %pair.language, "cannot start a web chat: {e}");
            ApiError::new(
                ErrorCode::UpstreamError,
                "Twilio could not start the chat; try again",
            )
            .into_response()
        }
    };
    with_origin(response, origin)
}

/// Reissues a visitor's token for the same identity.
#[utoipa::path(
    post,
    path = "/v1/webchat/{site}/{language}/refreshToken",
    tag = "sessions",
    operation_id = "refreshToken",
    params(
        ("site" = String, Path, description = "A site id.", example = "initech"),
        ("language" = String, Path, description = "One of the site's languages.", example = "en-US"),
        ("Origin" = String, Header, description = "Must be one of the site's `allowed_origins`.", example = "http://localhost:3000"),
    ),
    request_body(content = RefreshToken, content_type = "application/json"),
    responses(
        (status = 200, description = "A new token for the same identity.", body = TokenRefreshed,
            headers(("Cache-Control" = inline(super::openapi::NoStore)),
                ("Access-Control-Allow-Origin" = String, description = "The request's `Origin`."))),
        (status = 400, description = "`invalid_request`: the body is not JSON of this shape.", body = super::error::ErrorBody),
        (status = 403, description = "`invalid_token` (not signed here, expired, another service) or `origin_not_allowed`.", body = super::error::ErrorBody),
        (status = 404, description = "`unknown_site`, `unknown_language`, or `not_found` for a pair whose address kind has no session backend.", body = super::error::ErrorBody),
        (status = 413, description = "`payload_too_large`: a body over 16 KiB.", body = super::error::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not `application/json`.", body = super::error::ErrorBody),
        (status = 429, description = "`rate_limited` (when `server.rate_limit_per_second` is set).", body = super::error::ErrorBody,
            headers(("Retry-After" = inline(super::openapi::Seconds)))),
        (status = 500, description = "`internal`: a bug; the detail is logged, never sent.", body = super::error::ErrorBody),
        (status = 503, description = "`address_unavailable`: no Twilio credentials to sign with.", body = super::error::ErrorBody,
            headers(("Retry-After" = inline(super::openapi::Seconds)))),
    ),
)]
pub async fn refresh_token(
    State(app): State<AppState>,
    Path((site, language)): Path<(String, String)>,
    request: Request,
) -> Response {
    let table = app.table();
    let counter = &app.metrics.token_refreshes;
    let (call, body) = match begin::<RefreshToken>(
        &table,
        counter,
        (&site, &language),
        request,
        "refused",
    )
    .await
    {
        Ok(begun) => begun,
        Err(refused) => return refused,
    };
    let (site, pair, origin) = (call.site, call.pair, call.origin.clone());
    let outcome = |label: &str| call.count(label);
    let Some(sessions) = app.sessions.as_ref() else {
        outcome("unavailable");
        return with_origin(
            unavailable(site, pair, "no key to sign tokens with"),
            origin,
        );
    };
    let response = match sessions.refresh(&body.token) {
        Ok(minted) => {
            outcome("refreshed");
            ok(TokenRefreshed {
                expiration: millis(&minted),
                token: minted.token,
            })
        }
        Err(e) => {
            outcome("refused");
            tracing::debug!(site = %site.id, language = %pair.language, "refused a token to refresh: {e}");
            ApiError::new(ErrorCode::InvalidToken, "the token is not valid here").into_response()
        }
    };
    with_origin(response, origin)
}

/// A session call past its first checks: its pair, the request's `Origin` (echoed on every
/// answer) and the counter its outcomes go to.
struct Call<'t> {
    site: &'t Site,
    pair: &'t Pair,
    origin: Option<HeaderValue>,
    counter: &'t IntCounterVec,
}

impl Call<'_> {
    fn count(&self, outcome: &str) {
        self.counter
            .with_label_values(&[&self.site.id, &self.pair.language, outcome])
            .inc();
    }
}

/// What both session routes do first: the pair, refused before anything else is looked at,
/// then the JSON body; a refused body is counted as `refused` and answered with the origin.
async fn begin<'t, B: serde::de::DeserializeOwned>(
    table: &'t RoutingTable,
    counter: &'t IntCounterVec,
    (site, language): (&str, &str),
    request: Request,
    refused: &str,
) -> Result<(Call<'t>, B), Response> {
    let (site, pair) = session_pair(table, site, language, request.headers())
        .map_err(IntoResponse::into_response)?;
    let call = Call {
        site,
        pair,
        origin: request.headers().get(header::ORIGIN).cloned(),
        counter,
    };
    match read_json::<B>(request).await {
        Ok(body) => Ok((call, body)),
        Err(response) => {
            call.count(refused);
            Err(with_origin(response, call.origin))
        }
    }
}

/// The configured `conversations` pair a session route names, if the request's `Origin` may
/// use it. Nothing else is looked at before this passes.
fn session_pair<'t>(
    table: &'t RoutingTable,
    site: &str,
    language: &str,
    headers: &HeaderMap,
) -> Result<(&'t Site, &'t Pair), ApiError> {
    let site = table
        .site_by_id(site)
        .map(|index| &table.sites[index])
        .ok_or_else(|| ApiError::new(ErrorCode::UnknownSite, "no site has this id"))?;
    let pair = site
        .languages
        .position(language)
        .map(|index| &site.pairs[index])
        .ok_or_else(|| {
            ApiError::new(ErrorCode::UnknownLanguage, "the site has no such language")
        })?;
    if pair.kind != AddressKind::Conversations {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "this language's address kind is {}, which has no session backend",
                pair.kind
            ),
        ));
    }
    let allowed = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| site.allows_origin(o));
    if !allowed {
        return Err(ApiError::new(
            ErrorCode::OriginNotAllowed,
            "this origin may not start chats for this site",
        ));
    }
    Ok((site, pair))
}

/// The body as `T`: JSON by content type, at most [`MAX_BODY_BYTES`] however it is
/// sent (a chunked body is cut off there, and the connection closed: the rest is unread), and
/// of `T`'s shape.
async fn read_json<T: serde::de::DeserializeOwned>(request: Request) -> Result<T, Response> {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as Content-Type: application/json",
        )
        .into_response());
    }
    // The react app sends the pre-engagement form, a few hundred bytes.
    let bytes: Bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| payload_too_large())?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("the body is not the expected JSON: {e}"),
        )
        .into_response()
    })
}

fn ok(body: impl Serialize) -> Response {
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn unavailable(site: &Site, pair: &Pair, why: &str) -> Response {
    tracing::debug!(site = %site.id, language = %pair.language, "cannot start a chat: {why}");
    let mut response = ApiError::new(
        ErrorCode::AddressUnavailable,
        format!(
            "no chat can be started for site `{}` in `{}` yet",
            site.id, pair.language
        ),
    )
    .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}

/// The answer readable by the page that asked (its origin was checked by [`session_pair`]).
fn with_origin(mut response: Response, origin: Option<HeaderValue>) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

fn millis(minted: &Minted) -> u64 {
    minted.expires_at_ms()
}

/// CORS preflight for `initWebchat` (and, through [`preflight_refresh`], `refreshToken`).
///
/// Allowed origins get `POST` with `Content-Type`; anyone else an empty 204, which a
/// browser reads as a refusal.
#[utoipa::path(
    options,
    path = "/v1/webchat/{site}/{language}/initWebchat",
    tag = "sessions",
    operation_id = "preflightInitWebchat",
    params(
        ("site" = String, Path), ("language" = String, Path),
        ("Origin" = Option<String>, Header, example = "https://acme.example"),
        ("Access-Control-Request-Method" = Option<String>, Header, example = "POST"),
    ),
    responses((status = 204, description = "Always 204; the grant headers only when the site allows `Origin`.")),
)]
pub async fn preflight(
    State(app): State<AppState>,
    Path((site, language)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let out = response.headers_mut();
    out.insert(header::VARY, HeaderValue::from_static("Origin"));
    let table = app.table();
    if session_pair(&table, &site, &language, &headers).is_ok()
        && let Some(origin) = headers.get(header::ORIGIN)
    {
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        out.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Content-Type, Accept"),
        );
        out.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    response
}

/// CORS preflight for `refreshToken`: the same grant as [`preflight`].
#[utoipa::path(
    options,
    path = "/v1/webchat/{site}/{language}/refreshToken",
    tag = "sessions",
    operation_id = "preflightRefreshToken",
    params(
        ("site" = String, Path), ("language" = String, Path),
        ("Origin" = Option<String>, Header, example = "https://acme.example"),
        ("Access-Control-Request-Method" = Option<String>, Header, example = "POST"),
    ),
    responses((status = 204, description = "Always 204; the grant headers only when the site allows `Origin`.")),
)]
pub async fn preflight_refresh(
    state: State<AppState>,
    path: Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    preflight(state, path, headers).await
}

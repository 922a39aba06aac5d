//! The API contract as OpenAPI 3.1, generated from the handlers' `#[utoipa::path]` attributes
//! and the answer types' `ToSchema` derives. Each listener serves the document of what it
//! answers at `GET /openapi.json`: the public listener the widget API (where web teams look, and
//! without advertising the admin API to the internet), the ops listener metrics, health and
//! the admin API. `tests/api/openapi.rs` checks that each document lists exactly the routes its
//! router serves and that live answers match it; `tests/contract/schemathesis.sh` fuzzes both.

use std::sync::LazyLock;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, header};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Schema, Type};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use super::error::ErrorBody;
use super::{
    CONFIG_ROUTE, INIT_WEBCHAT_ROUTE, MAX_BODY_BYTES, MAX_HEADER_BYTES, REFRESH_TOKEN_ROUTE, admin,
    config_route, embed, health, session,
};

/// The public listener's document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "flexroute public API",
        description = "Which Twilio Flex WebChat address a visitor's widget should use, for the \
            visitor's site and language (`server.listen`). The ops listener \
            (`server.admin_listen`) serves its own document at `/openapi.json`: metrics, health \
            and the admin API.",
    ),
    paths(
        config_route::get_config,
        config_route::cors::preflight,
        embed::get_embed,
        session::init_webchat,
        session::refresh_token,
        session::preflight,
        session::preflight_refresh,
        health::healthz,
        health::readyz,
        public_document
    ),
    tags(
        (name = "webchat", description = "Widget configuration for browsers."),
        (name = "sessions", description = "The session backend of `conversations` addresses, as `twilio-webchat-react-app` calls it (`serverUrl`)."),
        (name = "health", description = "Liveness and readiness probes."),
        (name = "meta", description = "This document."),
    ),
    modifiers(&Refusals, &RateLimited, &RequiredHeaders),
)]
pub struct PublicApi;

/// The ops listener's document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "flexroute ops API",
        description = "Metrics, liveness and the admin API of flexroute's ops listener \
            (`server.admin_listen`, keep it private). `/admin/*` needs \
            `Authorization: Bearer $FLEXROUTE_ADMIN_TOKEN` and answers 404 when the server was \
            started without that variable. The widget API is on the public listener, described \
            by its own `/openapi.json`.",
    ),
    paths(
        super::metrics,
        health::healthz,
        ops_document,
        admin::routes,
        admin::plan_or_apply,
        admin::reload
    ),
    tags(
        (name = "ops", description = "Prometheus metrics."),
        (name = "health", description = "Liveness probe."),
        (name = "admin", description = "Each pair's state, plan/apply and reload (bearer token)."),
        (name = "meta", description = "This document."),
    ),
    modifiers(&Refusals, &AdminLockedOut, &RequiredHeaders, &AdminToken),
)]
pub struct OpsApi;

/// Every operation of a document, with its path.
fn operations(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (&str, &mut Operation)> {
    openapi.paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            &mut item.get,
            &mut item.post,
            &mut item.options,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        .map(move |operation| (path.as_str(), operation))
    })
}

/// An error answer: the error body, `Cache-Control: no-store`, and one more header.
fn error_response(description: String, (name, schema): (&str, RefOr<Schema>)) -> ResponseBuilder {
    let header = HeaderBuilder::new().schema(Some(schema)).build();
    plain_error_response(description).header(name, header)
}

/// An error answer: the error body and `Cache-Control: no-store`.
fn plain_error_response(description: String) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .header(
            "Cache-Control",
            HeaderBuilder::new().schema(Some(NoStore::schema())).build(),
        )
}

/// What every operation may answer before its handler runs: `400 invalid_request` without
/// exactly one `Host` and `413 payload_too_large` (on both listeners, ahead of routing on the
/// public one and of the admin token on the ops one), and, without a body so only in the
/// description, hyper's `431` and `400`.
struct Refusals;

/// Why any operation may answer `400`.
const HOST_REFUSAL: &str = "`invalid_request`: an HTTP/1.1 request without a `Host` header, or \
    any request with more than one (RFC 9112 §3.2). Answered before the request is looked at \
    further; the connection is closed.";

impl Modify for Refusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let description = openapi.info.description.get_or_insert_with(String::new);
        description.push_str(&format!(
            "\n\nEvery operation answers `400 invalid_request` to an HTTP/1.1 request without \
            exactly one `Host` header (HTTP/1.0 may leave it out), and `413 payload_too_large` \
            to a request that declares a body over {MAX_BODY_BYTES} bytes (only the session \
            routes read one). The HTTP layer, before the API, answers `431` with no body to a \
            request line and headers over {} KiB, and `400` with no body to a request that is \
            not valid HTTP/1.1.",
            MAX_HEADER_BYTES / 1024
        ));
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut schemas = vec![(ErrorBody::name().into_owned(), ErrorBody::schema())];
        ErrorBody::schemas(&mut schemas);
        for (name, schema) in schemas {
            components.schemas.entry(name).or_insert(schema);
        }
        for (_, operation) in operations(openapi) {
            let response = error_response(
                format!(
                    "`payload_too_large`: the request declares (`Content-Length`) a body over \
                    {MAX_BODY_BYTES} bytes. Answered before the request is looked at further; \
                    the body is not read and the connection is closed."
                ),
                ("Connection", ConnectionClose::schema()),
            );
            let responses = &mut operation.responses.responses;
            responses.insert("413".into(), response.into());
            // An operation's own `400` (a bad parameter) gains the reason; the others get one.
            match responses.get_mut("400") {
                Some(RefOr::T(own)) => {
                    own.description = format!("{} Or {HOST_REFUSAL}", own.description);
                }
                _ => {
                    let response = plain_error_response(HOST_REFUSAL.into());
                    responses.insert("400".into(), response.into());
                }
            }
        }
    }
}

/// `429 rate_limited` on the config and session routes, whose every method goes through the limit when
/// `server.rate_limit_per_second` is set (`src/http/limit.rs`).
struct RateLimited;

impl Modify for RateLimited {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let limited = [CONFIG_ROUTE, INIT_WEBCHAT_ROUTE, REFRESH_TOKEN_ROUTE];
        for (_, operation) in operations(openapi).filter(|(path, _)| limited.contains(path)) {
            let response = error_response(
                "`rate_limited`: only when `server.rate_limit_per_second` is set (it is 0, no \
                limit, by default): this client address (an IPv6 client: its /64) has spent its \
                `server.rate_limit_burst`. `Retry-After` says when to ask again."
                    .into(),
                ("Retry-After", Seconds::schema()),
            );
            operation
                .responses
                .responses
                .insert("429".into(), response.into());
        }
    }
}

/// `429 rate_limited` on the admin routes, for an address that sent too many wrong tokens
/// (`src/http/auth.rs`).
struct AdminLockedOut;

impl Modify for AdminLockedOut {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (_, operation) in operations(openapi).filter(|(path, _)| path.starts_with("/admin/")) {
            let response = error_response(
                "`rate_limited`: this address (an IPv6 client: its /64) sent 10 wrong bearer \
                tokens within a minute, and is refused for 5 minutes whatever it sends, the \
                right token included. `Retry-After` says when to ask again."
                    .into(),
                ("Retry-After", Seconds::schema()),
            );
            operation
                .responses
                .responses
                .insert("429".into(), response.into());
        }
    }
}

/// Every documented response header is always sent, except the CORS ones, which depend on the
/// request's `Origin`. (utoipa's header attribute has no `required`, so it is set here.)
struct RequiredHeaders;

impl Modify for RequiredHeaders {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (_, operation) in operations(openapi) {
            for response in operation.responses.responses.values_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                for (name, header) in &mut response.headers {
                    let RefOr::T(header) = header else {
                        continue;
                    };
                    if !name.to_ascii_lowercase().starts_with("access-control-") {
                        header
                            .extensions
                            .get_or_insert_with(Default::default)
                            .insert("required".into(), true.into());
                    }
                }
            }
        }
    }
}

/// `admin_token`: `Authorization: Bearer $FLEXROUTE_ADMIN_TOKEN`.
struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The value of `FLEXROUTE_ADMIN_TOKEN`, compared in constant time; the \
                        scheme in any case (`bearer` too).",
                    ))
                    .build(),
            ),
        );
    }
}

fn serve(document: &Bytes) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        document.clone(),
    )
        .into_response()
}

static PUBLIC: LazyLock<Bytes> = LazyLock::new(|| document(PublicApi::openapi()));
static OPS: LazyLock<Bytes> = LazyLock::new(|| document(OpsApi::openapi()));

fn document(mut openapi: utoipa::openapi::OpenApi) -> Bytes {
    openapi.info.license = None; // the crate declares none; utoipa would write an empty one
    Bytes::from(openapi.to_pretty_json().unwrap_or_default())
}

/// This listener's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    operation_id = "publicOpenapi",
    responses((status = 200, description = "This document.", body = Object,
        content_type = "application/json", headers(("Cache-Control" = inline(NoCache))))),
)]
pub async fn public_document() -> Response {
    serve(&PUBLIC)
}

/// This listener's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    operation_id = "opsOpenapi",
    responses((status = 200, description = "This document.", body = Object,
        content_type = "application/json", headers(("Cache-Control" = inline(NoCache))))),
)]
pub async fn ops_document() -> Response {
    serve(&OPS)
}

/// Schemas of header values: a string matching a pattern, or one of a few exact values.
macro_rules! header_value {
    ($(#[$doc:meta])* $name:ident, pattern = $pattern:literal) => {
        $(#[$doc])*
        pub struct $name;
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some($pattern))
                    .into()
            }
        }
        impl ToSchema for $name {}
    };
    ($(#[$doc:meta])* $name:ident, values = [$($value:literal),+]) => {
        $(#[$doc])*
        pub struct $name;
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([$($value),+]))
                    .into()
            }
        }
        impl ToSchema for $name {}
    };
}

header_value!(
    /// A strong validator: the hash of the body, quoted.
    ETag, pattern = r#"^"[0-9a-f]{16}"$"#
);
header_value!(
    /// `public, max-age=<server.cache_max_age_secs>`, or `no-cache` on a degraded answer.
    ConfigCacheControl, pattern = "^(public, max-age=[0-9]+|no-cache)$"
);
header_value!(
    /// `public, max-age=300`: a new version reaches visitors within five minutes.
    EmbedCacheControl, values = ["public, max-age=300"]
);
header_value!(AnyOrigin, values = ["*"]);
header_value!(NoStore, values = ["no-store"]);
header_value!(ConnectionClose, values = ["close"]);
header_value!(NoCache, values = ["no-cache"]);
header_value!(
    /// `Referer` is added when it decided the site or language (no `page` parameter).
    ConfigVary, values = ["Origin, Accept-Language, Cookie", "Origin, Accept-Language, Cookie, Referer"]
);
header_value!(
    PreflightVary,
    values = ["Origin, Access-Control-Request-Headers"]
);
header_value!(
    /// Seconds.
    Seconds, pattern = "^[0-9]+$"
);
header_value!(
    ExposeHeaders,
    values = ["ETag, Content-Language, Retry-After"]
);
header_value!(AllowMethods, values = ["GET, OPTIONS"]);
header_value!(MaxAge, values = ["600"]);

//! `GET /v1/webchat/embed.js`: the one-line snippet storefronts paste on every page. The script
//! (`embed.js`, hand-written, readable) is compiled in; at first use its full-line comments and
//! indentation are dropped, and the result is served as is, with a strong `ETag` and a cache
//! lifetime short enough that a new version reaches visitors within minutes.

use std::sync::LazyLock;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};

/// The script as written.
const SOURCE: &str = include_str!("embed.js");
/// How long browsers and CDNs may reuse the script without asking again: five minutes.
const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("public, max-age=300");

struct Served {
    body: Bytes,
    etag: HeaderValue,
}

static SERVED: LazyLock<Served> = LazyLock::new(|| {
    let body = Bytes::from(compact(SOURCE));
    let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&body));
    Served {
        etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
        body,
    }
});

/// The bytes served: `source` without its full-line `//` comments, blank lines and leading
/// indentation. (Only whole lines are dropped, so nothing inside a string can be touched.)
pub fn compact(source: &str) -> String {
    source
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .fold(String::with_capacity(source.len()), |mut out, line| {
            out.push_str(line);
            out.push('\n');
            out
        })
}

/// The embed script.
///
/// Loads the widget configuration for the page it is on, then the widget script of the
/// answer's address kind, and starts it. Any page may load it (`Access-Control-Allow-Origin:
/// *`, so `integrity` and `crossorigin` work too); it carries no per-site data.
#[utoipa::path(
    get,
    path = "/v1/webchat/embed.js",
    tag = "webchat",
    operation_id = "getEmbedScript",
    params(
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer: 304 when it still holds."),
    ),
    responses(
        (status = 200, description = "The script.", body = String,
            content_type = "text/javascript; charset=utf-8",
            headers(
                ("ETag" = inline(super::openapi::ETag)),
                ("Cache-Control" = inline(super::openapi::EmbedCacheControl)),
                ("Access-Control-Allow-Origin" = inline(super::openapi::AnyOrigin)),
            )),
        (status = 304, description = "`If-None-Match` matched: the script is unchanged.",
            headers(
                ("ETag" = inline(super::openapi::ETag)),
                ("Cache-Control" = inline(super::openapi::EmbedCacheControl)),
                ("Access-Control-Allow-Origin" = inline(super::openapi::AnyOrigin)),
            )),
    ),
)]
pub async fn get_embed(request: HeaderMap) -> Response {
    let served = &*SERVED;
    let mut response = if super::conditional::if_none_match(&request, &served.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            )],
            served.body.clone(),
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, served.etag.clone());
    headers.insert(header::CACHE_CONTROL, CACHE_CONTROL);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacting_drops_comment_lines_and_indentation_only() {
        let source = "// a comment\n(function () {\n    // inside\n    var u = 'https://x/';\n\n    go(u); // trailing stays\n})();\n";
        assert_eq!(
            compact(source),
            "(function () {\nvar u = 'https://x/';\ngo(u); // trailing stays\n})();\n"
        );
    }

    /// A guard against growth: served, it is about 4.3 KB (1.7 KB gzipped); minified by a
    /// tool it would be under 3 KB.
    #[test]
    fn the_served_script_is_small() {
        let len = SERVED.body.len();
        assert!(len < 4608, "{len} bytes");
    }
}

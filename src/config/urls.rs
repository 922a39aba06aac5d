//! The URLs of the configuration, parsed whole with the URL parser the HTTP client uses, so
//! that `check` refuses what the first call (or the first browser) would trip over: the Twilio
//! API bases, which get the credentials on every request (`https`, or `http` to a loopback
//! host only), and `server.public_url`, which browsers use (`http` allowed). Messages quote a
//! value only with its user-info masked.

use reqwest::Url;

use crate::redact::{redact_url, url_userinfo};

/// `value` as an absolute `http`/`https` URL with a host, written as one: `scheme://` then the
/// host, no user-info, no spaces or control characters (the parser would drop them silently
/// while the value is used as written).
pub fn parse_http_url(value: &str) -> Result<Url, String> {
    let shown = redact_url(value);
    if url_userinfo(value).is_some() {
        return Err("must not carry credentials (user:password@)".into());
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{}` contains spaces or control characters",
            shown.escape_debug()
        ));
    }
    let url = Url::parse(value).map_err(|e| format!("`{shown}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{shown}` is not an http(s) URL"));
    }
    // `https:host` and `https:///host` parse (as `https://host/`), but are not what was meant.
    let after_scheme = &value[url.scheme().len()..];
    let written_whole = after_scheme
        .strip_prefix("://")
        .is_some_and(|rest| !rest.starts_with(['/', '\\']));
    if !written_whole || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "`{shown}` is not a URL like https://host: it needs `://` and a host"
        ));
    }
    Ok(url)
}

/// Whether `url`'s host is loopback: `localhost`, `127.0.0.0/8` or `[::1]`.
pub fn is_loopback(url: &Url) -> bool {
    // The parser has lower-cased names and normalised addresses (`127.1` is `127.0.0.1`).
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// A Twilio API base (`twilio.flex_api_base`, `twilio.conversations_api_base`, and what the
/// client is built with): an origin — scheme, host, optional port — parsed whole. The API paths
/// are appended to it, so a path, query or fragment has no place; the credentials go with every
/// request, so it is `https` unless the host is loopback (an emulator, the sandbox).
pub fn check_api_base(base: &str) -> Result<Url, String> {
    let url = parse_http_url(base).map_err(|message| {
        if message.starts_with("must not carry credentials") {
            format!("{message}; they come from TWILIO_* variables")
        } else {
            message
        }
    })?;
    let shown = redact_url(base);
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{shown}` must be an origin like https://flex-api.twilio.com: no path, query or fragment (flexroute adds the API's paths)"
        ));
    }
    if url.scheme() != "https" && !is_loopback(&url) {
        return Err(format!(
            "`{shown}` would send the Twilio credentials in clear text: use https (http only for a loopback host: localhost, 127.0.0.0/8, [::1])"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_bases_are_https_origins_or_loopback() {
        for good in [
            "https://flex-api.twilio.com",
            "https://flex-api.twilio.com/",
            "https://flex-api.dublin.ie1.twilio.com:443",
            "http://127.0.0.1:4010",
            "http://127.9.8.7",
            "http://localhost:4010/",
            "http://[::1]:4010",
        ] {
            assert!(
                check_api_base(good).is_ok(),
                "{good}: {:?}",
                check_api_base(good)
            );
        }
        for (bad, why) in [
            ("http://flex-api.twilio.com", "clear text"),
            ("http://10.0.0.1:4010", "clear text"),
            ("http://[::1", "is not a URL"),
            ("https://flex-api.twilio.com:99999", "is not a URL"),
            ("https://", "is not a URL"),
            ("https:", "is not a URL"),
            ("https:///flex-api.twilio.com", "needs `://` and a host"),
            ("https:flex-api.twilio.com", "needs `://` and a host"),
            (
                "https://flex-api.twilio.com/v1",
                "no path, query or fragment",
            ),
            (
                "https://flex-api.twilio.com?x=1",
                "no path, query or fragment",
            ),
            (
                "https://flex-api.twilio.com#x",
                "no path, query or fragment",
            ),
            ("ftp://flex-api.twilio.com", "not an http(s) URL"),
            ("flex-api.twilio.com", "is not a URL"),
            (" https://flex-api.twilio.com", "spaces"),
            ("https://u:secret@flex-api.twilio.com", "credentials"),
        ] {
            let message = check_api_base(bad).expect_err(bad);
            assert!(message.contains(why), "{bad}: {message}");
            assert!(!message.contains("secret"), "{message}");
        }
    }
}

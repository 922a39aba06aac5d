//! The URLs the client builds and follows: which origin a page may lead to, a value as a path
//! segment, and where the Conversations API is when only the Flex API was configured.

/// Whether `url` is on `base`'s origin (scheme, host, port, as parsed), without user-info.
pub(super) fn same_origin(url: &str, base: &reqwest::Url) -> bool {
    reqwest::Url::parse(url).is_ok_and(|url| {
        url.origin() == base.origin() && url.username().is_empty() && url.password().is_none()
    })
}

/// `value` as one path segment: everything but RFC 3986's unreserved characters
/// percent-encoded, so that an address such as `+15550100` or `a/b` cannot change the path
/// (and `+` is not read as a space).
pub(super) fn path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The Conversations API that goes with the Flex API at `flex_base`: Twilio's own for one of
/// Twilio's Flex hosts (`flex-api[.edge.region].twilio.com` → `conversations[…]`), else the same
/// base (an emulator, which serves both).
pub(super) fn conversations_base_for(flex_base: &str) -> String {
    if let Ok(url) = reqwest::Url::parse(flex_base)
        && url.scheme() == "https"
        && let Some(host) = url.host_str()
        && let Some(rest) = host.strip_prefix("flex-api.")
        && (rest == "twilio.com" || rest.ends_with(".twilio.com"))
    {
        let mut url = url.clone();
        if url.set_host(Some(&format!("conversations.{rest}"))).is_ok() {
            return url.as_str().trim_end_matches('/').to_string();
        }
    }
    flex_base.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversations_go_to_twilio_only_when_flex_does() {
        for (flex, conversations) in [
            (
                "https://flex-api.twilio.com",
                "https://conversations.twilio.com",
            ),
            (
                "https://flex-api.dublin.ie1.twilio.com",
                "https://conversations.dublin.ie1.twilio.com",
            ),
            ("http://127.0.0.1:4010", "http://127.0.0.1:4010"),
            ("http://flex-api.twilio.com", "http://flex-api.twilio.com"),
            (
                "https://flex-api.twilio.com.evil.example",
                "https://flex-api.twilio.com.evil.example",
            ),
        ] {
            assert_eq!(conversations_base_for(flex), conversations, "{flex}");
        }
    }

    #[test]
    fn path_segments_cannot_change_the_path() {
        assert_eq!(path_segment("IG0123abcd"), "IG0123abcd");
        assert_eq!(path_segment("+1 555/../x"), "%2B1%20555%2F..%2Fx");
        assert_eq!(path_segment("é"), "%C3%A9");
    }
}

//! Host names: the patterns sites claim (`acme.example`, `*.acme.example`), the index that maps
//! a request's host to a site, and the small URL helpers that pull a host out of `Origin`,
//! `Referer` and the `page` parameter.

use super::FastMap;
use std::fmt;

/// A host a site claims: exact, or every subdomain of a suffix (`*.acme.example` matches
/// `shop.acme.example` and `eu.shop.acme.example`, not `acme.example` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    Wildcard(String),
}

impl HostPattern {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let lower = raw.trim_end_matches('.').to_ascii_lowercase();
        let (wildcard, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        if wildcard && !name.contains('.') {
            return Err(format!(
                "`{raw}` would claim every host under a top-level domain; name at least two labels after `*.`"
            ));
        }
        if !is_hostname(name) {
            return Err(format!(
                "`{raw}` is not a host name (letters, digits, '-' and '.', optionally starting with `*.`; no port, no scheme)"
            ));
        }
        Ok(if wildcard {
            Self::Wildcard(name.to_string())
        } else {
            Self::Exact(name.to_string())
        })
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(host) => f.write_str(host),
            Self::Wildcard(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

fn is_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Maps hosts to site indexes. Exact names win over wildcards, and the longest wildcard
/// suffix wins, so lookups cost one hash probe per label of the request's host.
#[derive(Debug, Default)]
pub struct HostIndex {
    exact: FastMap<Box<str>, usize>,
    wildcard: FastMap<Box<str>, usize>,
}

/// Longest host we look up; anything longer cannot be a configured name.
const MAX_HOST: usize = 253;

impl HostIndex {
    pub fn insert(&mut self, pattern: &HostPattern, site: usize) {
        match pattern {
            HostPattern::Exact(host) => self.exact.insert(host.as_str().into(), site),
            HostPattern::Wildcard(suffix) => self.wildcard.insert(suffix.as_str().into(), site),
        };
    }

    /// The site claiming `host` (any case, with or without a port or one trailing dot). A host
    /// that is not a host name — anything but letters, digits, `-` and `_` in non-empty labels
    /// between dots (`evil.example#.acme.example`, `a@b.acme.example`, `a b.acme.example`,
    /// `localhost..`) — matches no site, not even a wildcard it ends like. Checked in the same
    /// pass that lower-cases it, with no allocation.
    pub fn lookup(&self, host: &str) -> Option<usize> {
        let host = strip_port(host);
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.is_empty() || host.len() > MAX_HOST {
            return None;
        }
        let mut buf = [0u8; MAX_HOST];
        let lower = &mut buf[..host.len()];
        // `.` before the first byte: a leading dot is an empty label.
        let mut previous = b'.';
        for (slot, byte) in lower.iter_mut().zip(host.bytes()) {
            let byte = byte.to_ascii_lowercase();
            match byte {
                b'.' if previous == b'.' => return None,
                b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => *slot = byte,
                _ => return None,
            }
            previous = byte;
        }
        if previous == b'.' {
            return None; // `localhost..`: an empty last label
        }
        let lower = std::str::from_utf8(lower).ok()?;
        if let Some(site) = self.exact.get(lower) {
            return Some(*site);
        }
        let mut rest = lower;
        while let Some(dot) = rest.bytes().position(|b| b == b'.') {
            rest = &rest[dot + 1..];
            if let Some(site) = self.wildcard.get(rest) {
                return Some(*site);
            }
        }
        None
    }
}

/// `host:port` → `host`, leaving IPv6 literals (`[::1]:8080` → `[::1]`) intact.
fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        };
    }
    match authority.bytes().rposition(|b| b == b':') {
        Some(at)
            if authority.as_bytes()[at + 1..]
                .iter()
                .all(u8::is_ascii_digit) =>
        {
            &authority[..at]
        }
        _ => authority,
    }
}

/// The host of an absolute URL (`https://user@shop.acme.example:8443/x?y` →
/// `shop.acme.example:8443`; the port is stripped by [`HostIndex::lookup`]).
pub fn url_host(url: &str) -> Option<&str> {
    let rest = crate::text::after_scheme(url)?;
    let end = rest.bytes().position(|b| matches!(b, b'/' | b'?' | b'#'));
    let authority = &rest[..end.unwrap_or(rest.len())];
    let host = match authority.bytes().rposition(|b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    (!host.is_empty()).then_some(host)
}

/// The path of an absolute URL, or of a URL that is already just a path.
pub fn url_path(url: &str) -> &str {
    let after_authority = match crate::text::after_scheme(url) {
        Some(rest) => rest
            .bytes()
            .position(|b| b == b'/')
            .map_or("", |i| &rest[i..]),
        None => url,
    };
    let end = after_authority
        .bytes()
        .position(|b| b == b'?' || b == b'#')
        .unwrap_or(after_authority.len());
    &after_authority[..end]
}

/// An `allowed_origins` entry in the form browsers send: lower-case scheme and host, the port
/// only when it is not the scheme's default. `None` when it is not an origin.
pub fn normalize_origin(raw: &str) -> Option<String> {
    let (scheme, rest) = raw.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@', '*']) || authority.is_empty() {
        return None;
    }
    let host = strip_port(authority);
    let port = &authority[host.len()..];
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    if !(is_hostname(bare_host) || bare_host.parse::<std::net::IpAddr>().is_ok()) {
        return None;
    }
    let port = match (scheme.as_str(), port) {
        ("http", ":80") | ("https", ":443") => "",
        (_, port) => port,
    };
    Some(format!("{scheme}://{}{port}", host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_subdomains_and_exact_names_win() {
        let mut index = HostIndex::default();
        index.insert(&HostPattern::parse("*.acme.example").unwrap(), 0);
        index.insert(&HostPattern::parse("special.acme.example").unwrap(), 1);
        index.insert(&HostPattern::parse("*.eu.acme.example").unwrap(), 2);
        assert_eq!(index.lookup("shop.acme.example"), Some(0));
        assert_eq!(index.lookup("SHOP.Acme.Example:8443"), Some(0));
        assert_eq!(index.lookup("special.acme.example."), Some(1));
        assert_eq!(index.lookup("de.eu.acme.example"), Some(2));
        assert_eq!(index.lookup("acme.example"), None);
        assert_eq!(index.lookup(".acme.example"), None, "an empty label");
        assert_eq!(
            index.lookup("shop..eu.acme.example"),
            None,
            "an empty label"
        );
        assert_eq!(index.lookup(""), None);
        assert_eq!(index.lookup(&"a.".repeat(300)), None);
    }

    #[test]
    fn what_is_not_a_host_name_matches_nothing() {
        let mut index = HostIndex::default();
        index.insert(&HostPattern::parse("*.acme.example").unwrap(), 0);
        index.insert(&HostPattern::parse("localhost").unwrap(), 1);
        assert_eq!(
            index.lookup("localhost."),
            Some(1),
            "one trailing dot: a name"
        );
        assert_eq!(index.lookup("Shop_1.acme.example"), Some(0));
        for host in [
            "evil.example#.acme.example",
            "a@b.acme.example",
            "a b.acme.example",
            "a\tb.acme.example",
            "localhost..",
            "localhost..:8080",
            ".localhost",
            "shop.acme.example..",
            "shop/x.acme.example",
            "[::1].acme.example",
            "shop.acme.example:80:80",
            "\u{e9}.acme.example",
        ] {
            assert_eq!(index.lookup(host), None, "{host:?}");
        }
    }

    #[test]
    fn urls_give_hosts_and_paths() {
        assert_eq!(
            url_host("https://u@shop.example:1/fr-ca/x?q"),
            Some("shop.example:1")
        );
        assert_eq!(url_host("/relative"), None);
        assert_eq!(url_path("https://shop.example/fr-ca/x?q#f"), "/fr-ca/x");
        assert_eq!(url_path("https://shop.example"), "");
        assert_eq!(url_path("/de/cart"), "/de/cart");
    }

    #[test]
    fn origins_normalize_like_browsers_send_them() {
        assert_eq!(
            normalize_origin("HTTPS://Acme.Example:443/").as_deref(),
            Some("https://acme.example")
        );
        assert_eq!(
            normalize_origin("http://localhost:3000").as_deref(),
            Some("http://localhost:3000")
        );
        assert_eq!(normalize_origin("https://*.acme.example"), None);
        assert_eq!(normalize_origin("https://acme.example/path"), None);
        assert_eq!(normalize_origin("null"), None);
    }

    #[test]
    fn patterns_reject_what_no_site_should_claim() {
        assert!(HostPattern::parse("*.com").is_err());
        assert!(HostPattern::parse("acme.example:8080").is_err());
        assert!(HostPattern::parse("https://acme.example").is_err());
        assert!(HostPattern::parse("*.*.acme.example").is_err());
        assert_eq!(
            HostPattern::parse("*.Acme.Example.").unwrap(),
            HostPattern::Wildcard("acme.example".into())
        );
    }
}

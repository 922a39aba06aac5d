//! `provisioning.state`: where provisioned addresses are kept. A [`StateUrl`] names its backend
//! once ([`StateUrl::backend`]), for validation and for opening the store alike; `redis://` and
//! `rediss://` URLs are checked and described without ever showing what could be a credential
//! (the user-info part), in error messages as much as in logs.

use std::fmt;
use std::ops::Deref;
use std::path::Path;

use serde::Deserialize;

use crate::redact::redact_url;

/// The value of `provisioning.state`, as written. `Debug` masks a URL's user-info (a Redis URL
/// may hold a password); `Deref` gives the text.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct StateUrl(String);

/// The store a [`StateUrl`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend<'a> {
    /// `file:PATH`: the embedded store (the path may be empty: validation refuses it).
    File(&'a Path),
    /// `redis://…` or `rediss://…`: the store replicas share.
    Redis,
    /// Anything else (validation refuses it).
    Unknown,
}

impl StateUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn backend(&self) -> Backend<'_> {
        if self.0.starts_with("redis://") || self.0.starts_with("rediss://") {
            Backend::Redis
        } else if let Some(path) = self.0.strip_prefix("file:") {
            Backend::File(Path::new(path))
        } else {
            Backend::Unknown
        }
    }
}

impl Deref for StateUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for StateUrl {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for StateUrl {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

impl fmt::Debug for StateUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&redact_url(&self.0), f)
    }
}

/// Checks a `provisioning.state` Redis URL: scheme, host, port, database number. The message
/// never quotes the URL.
pub fn check_url(url: &str) -> Result<(), String> {
    let parts = Parts::parse(url).ok_or_else(|| {
        "is not a Redis URL like redis://[:password@]host[:port][/db] or rediss://…".to_string()
    })?;
    if parts.host.is_empty() {
        return Err("a Redis URL needs a host, e.g. redis://redis:6379/0".into());
    }
    if let Some(port) = parts.port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err("the Redis URL's port must be a number from 1 to 65535".into());
    }
    if !parts.db.is_empty() && parts.db.parse::<u32>().is_err() {
        return Err("the Redis URL's path must be a database number, e.g. /0".into());
    }
    redis::Client::open(url)
        .map(|_| ())
        .map_err(|_| "is not a Redis URL the client accepts (credentials not shown)".to_string())
}

/// `redis://***@host:port/db` (the user-info masked when present), for logs and `describe`.
pub fn describe(url: &str) -> String {
    match Parts::parse(url) {
        Some(parts) => {
            let mut out = format!("{}://", parts.scheme);
            if parts.userinfo {
                out.push_str("***@");
            }
            out.push_str(parts.host);
            if let Some(port) = parts.port {
                out.push(':');
                out.push_str(port);
            }
            out.push('/');
            out.push_str(if parts.db.is_empty() { "0" } else { parts.db });
            out
        }
        None => "redis (unparsable URL)".into(),
    }
}

/// The host and port a Redis URL connects to (6379 when it names none), and whether it asks
/// for TLS.
pub fn endpoint(url: &str) -> Option<(String, u16, bool)> {
    let parts = Parts::parse(url)?;
    let port = match parts.port {
        Some(port) => port.parse().ok()?,
        None => 6379,
    };
    Some((parts.host.to_string(), port, parts.scheme == "rediss"))
}

/// A Redis URL's pieces. User-info is what [`crate::redact::redact_url`] masks (everything up
/// to the last `@` after `://`): a password may contain `/`, `?` or `#` unescaped, and must
/// still never leak into the host.
struct Parts<'a> {
    scheme: &'a str,
    userinfo: bool,
    host: &'a str,
    port: Option<&'a str>,
    db: &'a str,
}

impl<'a> Parts<'a> {
    fn parse(url: &'a str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        if scheme != "redis" && scheme != "rediss" {
            return None;
        }
        let (userinfo, rest) = match crate::redact::url_userinfo(url) {
            Some(range) => (true, &url[range.end + 1..]),
            None => (false, rest),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        let path = tail.split(['?', '#']).next().unwrap_or("");
        let db = path.strip_prefix('/').unwrap_or(path);
        Some(Parts {
            scheme,
            userinfo,
            host,
            port,
            db,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_is_named_by_the_scheme() {
        let names = |url: &str, backend: Backend| {
            assert_eq!(StateUrl::from(url).backend(), backend, "{url}");
        };
        names("file:state/x", Backend::File(Path::new("state/x")));
        names("file:", Backend::File(Path::new("")));
        names("redis://h", Backend::Redis);
        names("rediss://:pw@h:6380/1", Backend::Redis);
        names("memory:", Backend::Unknown);
        let shown = format!("{:?}", StateUrl::from("rediss://:s3cret@h/0"));
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn good_urls_pass_and_are_described_without_credentials() {
        for url in [
            "redis://localhost",
            "redis://127.0.0.1:6379/0",
            "rediss://:s3cret@redis.example:6380/2",
            "redis://user:p%40ss@[::1]:6379/1",
        ] {
            assert_eq!(check_url(url), Ok(()), "{url}");
        }
        assert_eq!(
            describe("rediss://:s3cret@redis.example:6380/2"),
            "rediss://***@redis.example:6380/2"
        );
        assert_eq!(describe("redis://h"), "redis://h/0");
        // An unescaped slash in a password does not make half of it the host.
        let odd = "redis://:pa/ss@host:1/3";
        assert!(!describe(odd).contains("pa"), "{}", describe(odd));
        let masked = crate::redact::redact_url(odd);
        assert!(!masked.contains("pa"), "{masked}");
    }

    #[test]
    fn bad_urls_are_refused_without_quoting_them() {
        for url in [
            "redis://:topsecret@/0",
            "redis://:topsecret@host:99999/0",
            "redis://:topsecret@host:6379/zero",
            "memcache://:topsecret@host",
        ] {
            let message = check_url(url).expect_err(url);
            assert!(!message.contains("topsecret"), "{message}");
        }
    }
}

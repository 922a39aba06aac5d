//! Masking what may be a credential in anything flexroute shows: the user-info of URLs
//! (`scheme://user:password@host` → `scheme://***@host`), in a configured URL as much as in free
//! text that may quote one (a line of the config file, a message from Twilio). This is the one
//! implementation: configuration errors and `Debug`, plan differences, logs and Redis store
//! descriptions all go through it. A value that is a secret whole (an auth token, an API
//! secret) is held in a [`Redacted`], so that a derived `Debug` never shows it.

use std::fmt;
use std::ops::{Deref, Range};

/// What a masked user-info or secret value is shown as.
pub const MASK: &str = "***";

/// `url` with its user-info masked. Everything between the first `://` and the last `@` after
/// it counts as user-info: a password may hold `/`, `?`, `#` or `@` unescaped and must not leak
/// as part of the host or path. A URL whose path or query holds an `@` loses more than its
/// user-info in the message, which leaks nothing. A value without `://` is returned as is.
pub fn redact_url(url: &str) -> String {
    match url_userinfo(url) {
        Some(range) => replace(url, &[range]),
        None => url.to_string(),
    }
}

/// Where [`redact_url`] finds the user-info of `url` (without its `@`), if it has one.
pub(crate) fn url_userinfo(url: &str) -> Option<Range<usize>> {
    let separator = url.find("://")?;
    userinfo(url, separator + 3, url.len())
}

/// `text` with the user-info of every URL in it masked (see [`userinfo_ranges`]).
pub fn redact_urls_in(text: &str) -> String {
    let ranges = userinfo_ranges(text);
    if ranges.is_empty() {
        text.to_string()
    } else {
        replace(text, &ranges)
    }
}

/// Where the user-info of each URL in free text is: after each `://`, up to the last `@` before
/// the URL ends. A URL opened by a quote, a backtick or `<` ends where that closes (a `\"` in a
/// double-quoted one does not close it), so a password with a space in a quoted URL is still
/// masked whole; any other URL ends at whitespace. Either ends at the end of its line.
pub(crate) fn userinfo_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let separator = from + found;
        let start = separator + 3;
        let scheme_start = text[..separator]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || "+.-".contains(*c)))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let opener = text[..scheme_start].chars().next_back();
        let end = url_end(text, start, opener);
        if let Some(range) = userinfo(text, start, end) {
            ranges.push(range);
        }
        from = end.max(start);
    }
    ranges
}

/// The end of a URL whose authority starts at `start`, opened by `opener` (the character before
/// its scheme).
fn url_end(text: &str, start: usize, opener: Option<char>) -> usize {
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let closer = match opener {
        Some('"') => '"',
        Some('\'') => '\'',
        Some('`') => '`',
        Some('<') => '>',
        _ => {
            return text[start..line_end]
                .find(char::is_whitespace)
                .map_or(line_end, |i| start + i);
        }
    };
    let bytes = text.as_bytes();
    let mut i = start;
    while i < line_end {
        match bytes[i] {
            b'\\' if closer == '"' => i += 2,
            b if b == closer as u8 => return i,
            _ => i += 1,
        }
    }
    line_end
}

/// The user-info of a URL whose authority is `text[start..end]`: up to its last `@`.
fn userinfo(text: &str, start: usize, end: usize) -> Option<Range<usize>> {
    let end = end.min(text.len());
    text.get(start..end)?.rfind('@').map(|at| start..start + at)
}

/// `text` with each of `ranges` (sorted, disjoint, on character boundaries) replaced by
/// [`MASK`].
pub(crate) fn replace(text: &str, ranges: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for range in ranges {
        out.push_str(&text[at..range.start]);
        out.push_str(MASK);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Whether a configuration key's value is to be treated as a secret when a line holding it is
/// shown: its name (any part of a dotted key, any case) contains `token`, `secret`, `password`,
/// `passwd`, `pwd`, `key`, `auth`, `credential` or `private`. Broad on purpose: masking a
/// harmless value (`redis_key_prefix`) costs a little of a message, showing a secret costs the
/// secret.
pub fn is_secret_key(name: &str) -> bool {
    const WORDS: [&str; 9] = [
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "key",
        "auth",
        "credential",
        "private",
    ];
    let name = name.to_ascii_lowercase();
    WORDS.iter().any(|word| name.contains(word))
}

/// A secret: `Debug` prints `<redacted>`, so the structs holding one derive theirs. The value
/// is reached through `Deref` (or [`Redacted::expose`] where the reader should see that it is
/// taken out).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Redacted<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> Deref for Redacted<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_value_never_shows_in_debug() {
        #[derive(Debug)]
        #[allow(dead_code)] // read through Debug only
        struct Holder {
            name: &'static str,
            secret: Redacted<String>,
        }
        let holder = Holder {
            name: "visible",
            secret: Redacted::new("s3cret".to_string()),
        };
        let shown = format!("{holder:?}");
        assert!(
            shown.contains("visible") && shown.contains("<redacted>"),
            "{shown}"
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(holder.secret.expose(), "s3cret");
    }

    #[test]
    fn a_urls_user_info_is_masked_whatever_it_holds() {
        for (url, masked) in [
            ("https://user:pw@host/x", "https://***@host/x"),
            ("https://user@host", "https://***@host"),
            ("redis://:hunter2@host:6379/0", "redis://***@host:6379/0"),
            // Unescaped `/`, `?`, `#` and `@` in a password do not leak into the host.
            ("redis://:pa/ss@host:1/3", "redis://***@host:1/3"),
            ("rediss://:a?b#c@d@host", "rediss://***@host"),
            ("https://host/path", "https://host/path"),
            ("file:state/flexroute-state", "file:state/flexroute-state"),
            ("not a url @ all", "not a url @ all"),
        ] {
            assert_eq!(redact_url(url), masked, "{url}");
        }
    }

    #[test]
    fn urls_in_text_are_masked_up_to_where_they_end() {
        for (text, masked) in [
            (
                r#"state = "redis://:hunter2@host:6379/0"#,
                r#"state = "redis://***@host:6379/0"#,
            ),
            (
                r#"a = "https://u:p w@h" # mail me@example.com"#,
                r#"a = "https://***@h" # mail me@example.com"#,
            ),
            (
                r#"invalid type: string "redis://:x\"y@h", expected u64"#,
                r#"invalid type: string "redis://***@h", expected u64"#,
            ),
            (
                "unknown variant `https://a:b@c`, expected `x`",
                "unknown variant `https://***@c`, expected `x`",
            ),
            (
                "see https://u:p@one and https://two/x@y then",
                "see https://***@one and https://***@y then",
            ),
            ("no url here: a@b", "no url here: a@b"),
            ("https://u:p@a\nb@c", "https://***@a\nb@c"),
        ] {
            assert_eq!(redact_urls_in(text), masked, "{text}");
        }
    }

    #[test]
    fn secret_key_names() {
        for name in [
            "password",
            "api_token",
            "TWILIO_AUTH_TOKEN",
            "apiKey",
            "client-secret",
            "auth.pwd",
        ] {
            assert!(is_secret_key(name), "{name}");
        }
        for name in ["state", "webhook_url", "listen", "languages"] {
            assert!(!is_secret_key(name), "{name}");
        }
    }
}

//! TOML syntax errors, shown as the `toml` crate shows them (line, column, the offending line
//! with a caret, what is wrong) but with the quoted line masked: a syntax error is most often a
//! missing quote or a stray character on the line of a value, and that value may be a password
//! (`state = "redis://:hunter2@host:6379/0`), while the message goes to `check`'s output, the
//! log and the admin API.
//!
//! What is masked in the quoted line (the line and column stay those of the file):
//! - the user-info of every URL (`scheme://***@host`), whatever the key;
//! - the whole value of every key whose name looks secret ([`crate::redact::is_secret_key`]):
//!   a quoted value up to its closing quote (or the end of the line when it has none, which
//!   keeps a missing quote visible: `password = "***`), an unquoted one to the end of the line;
//! - the whole line when it continues the value of such a key from an earlier line (a
//!   multi-line string or array), and the message then names that key.

use std::ops::Range;

use crate::redact::{MASK, is_secret_key, redact_urls_in, replace, userinfo_ranges};

/// `error`, raised while parsing `text`, rendered with its quoted line masked.
pub(super) fn render(text: &str, error: &toml::de::Error) -> String {
    let Some(span) = error.span() else {
        // No position: `toml` shows the message (and the key it was at) only.
        return redact_urls_in(error.to_string().trim_end());
    };
    let position = Position::of(text, span.start);
    let line = &text[position.line_start..position.line_end];
    let owner = continued_key(text, position.line_start);
    let ranges = match &owner {
        Some(key) if is_secret_key(key) => {
            let start = line.len() - line.trim_start().len();
            let whole = start..line.len();
            if whole.is_empty() {
                Vec::new()
            } else {
                vec![whole]
            }
        }
        _ => line_ranges(line),
    };
    let shown = replace(line, &ranges);
    let caret_at = masked_offset(position.offset, &ranges);
    let caret_column = shown[..caret_at.min(shown.len())].chars().count();
    let touches_mask = ranges
        .iter()
        .any(|r| r.start < position.offset + span.len().max(1) && position.offset <= r.end);
    let highlight = if touches_mask {
        1
    } else {
        line[position.offset.min(line.len())..]
            .chars()
            .count()
            .min(span.len())
            .max(1)
    };
    let number = position.line.to_string();
    let gutter = " ".repeat(number.len() + 1);
    let mut out = format!(
        "TOML parse error at line {}, column {}",
        position.line, position.column
    );
    if let Some(key) = owner {
        out.push_str(&format!(
            ", in the value of `{key}` begun on an earlier line"
        ));
    }
    out.push('\n');
    out.push_str(&format!("{gutter}|\n{number} | {shown}\n{gutter}|"));
    out.push_str(&" ".repeat(caret_column + 1));
    out.push_str(&"^".repeat(highlight));
    out.push('\n');
    out.push_str(&redact_urls_in(error.message()));
    out
}

/// Where an error is: 1-based line and column (in characters), and the line's byte range.
struct Position {
    line: usize,
    column: usize,
    line_start: usize,
    line_end: usize,
    /// Byte offset of the error in its line.
    offset: usize,
}

impl Position {
    fn of(text: &str, index: usize) -> Self {
        let mut index = index.min(text.len());
        // At the very end of a file that ends with a newline, point past its last line (as
        // `toml` does) rather than at an empty one.
        let mut past_end = 0;
        if index == text.len() && text.ends_with('\n') {
            index -= 1;
            past_end = 1;
        }
        while !text.is_char_boundary(index) {
            index -= 1;
        }
        let line_start = text[..index].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[index..].find('\n').map_or(text.len(), |i| index + i);
        let line_end = if text[line_start..line_end].ends_with('\r') {
            line_end - 1
        } else {
            line_end
        };
        Self {
            line: text[..line_start].matches('\n').count() + 1,
            column: text[line_start..index].chars().count() + 1 + past_end,
            line_start,
            line_end,
            offset: index - line_start,
        }
    }
}

/// Where `offset` of the original line lands once `ranges` are masked (a masked spot: the
/// start of its mask).
fn masked_offset(offset: usize, ranges: &[Range<usize>]) -> usize {
    let mut shift: isize = 0;
    for range in ranges {
        if offset < range.start {
            break;
        }
        if offset < range.end {
            return range.start.saturating_add_signed(shift);
        }
        shift += MASK.len() as isize - range.len() as isize;
    }
    offset.saturating_add_signed(shift)
}

/// The ranges of `line` to mask: values of secret-looking keys and URLs' user-info, sorted and
/// merged.
fn line_ranges(line: &str) -> Vec<Range<usize>> {
    let mut ranges = secret_values(line);
    ranges.extend(userinfo_ranges(line));
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// The values of every `key = value` on `line` (inline tables included) whose key looks secret.
fn secret_values(line: &str) -> Vec<Range<usize>> {
    let bytes = line.as_bytes();
    let mut ranges = Vec::new();
    let mut key_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => i = string_at(line, i).end,
            b'#' => break,
            b'{' | b',' | b'[' => {
                i += 1;
                key_start = i;
            }
            b'=' => {
                let secret = is_secret_key(line[key_start..i].trim());
                let after = &line[i + 1..];
                let value_start = i + 1 + (after.len() - after.trim_start().len());
                i = match bytes.get(value_start) {
                    Some(b'"' | b'\'') => {
                        let string = string_at(line, value_start);
                        if secret && !string.content.is_empty() {
                            ranges.push(string.content);
                        }
                        string.end
                    }
                    // Unquoted (a typo'd string, an inline table…): all of the rest.
                    Some(_) if secret => {
                        ranges.push(value_start..line.len());
                        line.len()
                    }
                    // Anything else is scanned on, for the keys of inline tables.
                    _ => value_start.max(i + 1),
                };
                key_start = i;
            }
            _ => i += 1,
        }
    }
    ranges
}

/// A quoted string starting at `start`: its content, and where it ends (after its closing
/// quote, or the end of the line when it has none).
struct StringAt {
    content: Range<usize>,
    end: usize,
}

fn string_at(line: &str, start: usize) -> StringAt {
    let bytes = line.as_bytes();
    let quote = bytes[start];
    let triple = line[start..].starts_with(if quote == b'"' { "\"\"\"" } else { "'''" });
    let width = if triple { 3 } else { 1 };
    let mut i = start + width;
    while i < bytes.len() {
        if quote == b'"' && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote && (!triple || line[i..].starts_with(&line[start..start + 3])) {
            return StringAt {
                content: start + width..i,
                end: i + width,
            };
        }
        i += 1;
    }
    let content_start = (start + width).min(line.len());
    StringAt {
        content: content_start..line.len(),
        end: line.len(),
    }
}

/// The key whose value the line starting at `line_start` continues, when it does not begin
/// with a key, a table header or a comment of its own: the key of the nearest earlier line
/// that begins with one (`None` if that is a header, or there is none).
fn continued_key(text: &str, line_start: usize) -> Option<String> {
    if starts_own_line(&text[line_start..]) {
        return None;
    }
    for earlier in text[..line_start].lines().rev() {
        let trimmed = earlier.trim_start();
        if trimmed.starts_with('[') {
            return None;
        }
        if let Some(key) = assigned_key(trimmed) {
            return Some(key.to_string());
        }
    }
    None
}

/// Whether a line begins with something of its own (a key, a header, a comment, nothing).
fn starts_own_line(rest: &str) -> bool {
    let line = rest.lines().next().unwrap_or("").trim_start();
    line.is_empty() || line.starts_with(['[', '#']) || assigned_key(line).is_some()
}

/// The key a line assigns, if it begins with `key =` (bare, dotted or quoted keys).
fn assigned_key(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => i = string_at(line, i).end,
            b'=' => {
                let key = line[..i].trim();
                return (!key.is_empty()).then_some(key);
            }
            b if b.is_ascii_alphanumeric() || b"_-. \t".contains(&b) => i += 1,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        let error = toml::de::DeTable::parse(text).expect_err(text);
        render(text, &error)
    }

    #[test]
    fn a_redis_password_on_a_broken_line_is_masked_and_the_position_kept() {
        let text = "[provisioning]\nstate = \"redis://:hunter2@redis:6379/0\nwait_ms = 5\n";
        let shown = error(text);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("line 2"), "{shown}");
        assert!(
            shown.contains("state = \"redis://***@redis:6379/0"),
            "{shown}"
        );
    }

    #[test]
    fn secret_keys_are_masked_whole_on_their_line_and_on_the_next() {
        for (text, secret, line) in [
            (
                "[twilio]\nauth_token = \"abc123\" x\n",
                "abc123",
                "auth_token = \"***\" x",
            ),
            ("password = hunter2\n", "hunter2", "password = ***"),
            (
                "a = { api_key = 'k3y', b = 1 } junk\n",
                "k3y",
                "a = { api_key = '***', b = 1 } junk",
            ),
            (
                "x = 1\n\"secret\" = \"s3\" y\n",
                "s3",
                "\"secret\" = \"***\" y",
            ),
        ] {
            let shown = error(text);
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains(line), "{line:?} not in:\n{shown}");
        }
        // A multi-line string left open: the error is on a later line, which is masked whole.
        let text = "password = \"\"\"\nhunter2\n";
        let shown = error(text);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("in the value of `password`"), "{shown}");
    }

    #[test]
    fn the_caret_follows_the_mask() {
        let text = "webhook_url = \"https://user:pw@hooks.example/x\" oops\n";
        let shown = error(text);
        assert!(!shown.contains("pw@"), "{shown}");
        let lines: Vec<&str> = shown.lines().collect();
        let quoted = lines[2];
        let caret = lines[3];
        let at = caret.find('^').unwrap();
        assert_eq!(&quoted[at..at + 4], "oops", "{shown}");
        assert!(lines[0].contains("column 49"), "{shown}");
    }

    #[test]
    fn harmless_lines_are_shown_as_they_are() {
        let text = "[server\nlisten = 1\n";
        let shown = error(text);
        assert!(shown.contains("1 | [server"), "{shown}");
        let toml = toml::de::DeTable::parse(text).unwrap_err().to_string();
        assert_eq!(shown.trim_end(), toml.trim_end());
    }

    /// Every prefix of a document full of awkward bytes (CRLF, multi-byte characters, escapes,
    /// open strings, URLs), broken in a few ways, renders without a panic and without the
    /// secrets in it.
    #[test]
    fn any_broken_document_renders_without_a_panic() {
        let text = "a = \"é\\\"ü\"\r\npassword = '''\r\nsécret\r\n'''\r\n[t]\r\nurl = \"redis://:pä@ß/0\\é\" ü\r\nk = { api_key = \"x\\\"yz\", u = 'https://u:pö@h' }\r\n";
        for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            for tail in ["", "\"", " x", "\n", "\"\"\"\n"] {
                let broken = format!("{}{tail}", &text[..end]);
                if let Err(e) = toml::de::DeTable::parse(&broken) {
                    let shown = render(&broken, &e);
                    for secret in ["sécret", ":pä@", "yz", ":pö@"] {
                        assert!(!shown.contains(secret), "{broken:?}:\n{shown}");
                    }
                }
            }
        }
    }
}

//! Splitting request text at ASCII delimiters by plain byte scans. `str::split(',')` and its
//! kin go through a `char` searcher built for any pattern; on the short header values of every
//! request that costs several times the scan itself (a tenth of an `Accept-Language`
//! negotiation). Splitting at an ASCII byte always lands on a `char` boundary, so the results
//! are the same as `str`'s.

/// Like `text.split(byte as char)`.
pub fn split_byte(text: &str, byte: u8) -> SplitByte<'_> {
    SplitByte {
        rest: Some(text),
        byte,
    }
}

#[derive(Clone)]
pub struct SplitByte<'a> {
    rest: Option<&'a str>,
    byte: u8,
}

impl<'a> Iterator for SplitByte<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match split_once_byte(rest, self.byte) {
            Some((piece, tail)) => {
                self.rest = Some(tail);
                Some(piece)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// Like `text.split_once(byte as char)`.
pub fn split_once_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    debug_assert!(byte.is_ascii());
    let at = text.bytes().position(|b| b == byte)?;
    Some((&text[..at], &text[at + 1..]))
}

/// Like `text.trim_matches([' ', '\t'])`.
pub fn trim_blank(text: &str) -> &str {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let bytes = text.as_bytes();
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    &text[start..end.max(start)]
}

/// What follows the first `://` of a URL, like `url.split_once("://").map(|(_, rest)| rest)`.
pub fn after_scheme(url: &str) -> Option<&str> {
    let bytes = url.as_bytes();
    let at = bytes
        .iter()
        .enumerate()
        .position(|(i, &b)| b == b':' && bytes[i + 1..].starts_with(b"//"))?;
    Some(&url[at + 3..])
}

/// The most of a client-chosen value (a request's method or path) that a log line shows. Every
/// method and path flexroute and its emulator serve is far shorter (the longest, a chat's
/// messages, is ~60 bytes), while a request head may be 64 KiB: uncut, each request could
/// write that much to the log, letting a client fill disks or log quotas ~250 times faster
/// than with its requests alone.
pub const LOGGED_MAX: usize = 256;

/// `value` for a log line: whole up to [`LOGGED_MAX`] bytes, else its first bytes up to there
/// (on a character boundary) and how many were left out.
pub struct Bounded<'a>(pub &'a str);

impl std::fmt::Display for Bounded<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = self.0;
        if value.len() <= LOGGED_MAX {
            return f.write_str(value);
        }
        let mut end = LOGGED_MAX;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, "{}…(+{} bytes)", &value[..end], value.len() - end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: [&str; 12] = [
        "",
        ",",
        "a",
        "a,b",
        ",a,,b,",
        " \tfr-CH ; q=0.9 \t",
        "é,ü;ñ=ø",
        "https://shop.example/x://y",
        "no scheme",
        ":/",
        "://",
        "a;b=c;d",
    ];

    #[test]
    fn the_byte_scans_agree_with_str() {
        for text in SAMPLES {
            for byte in [b',', b';', b'=', b'/'] {
                let ours: Vec<&str> = split_byte(text, byte).collect();
                let std: Vec<&str> = text.split(byte as char).collect();
                assert_eq!(ours, std, "{text:?} split at {}", byte as char);
                assert_eq!(
                    split_once_byte(text, byte),
                    text.split_once(byte as char),
                    "{text:?}"
                );
            }
            assert_eq!(trim_blank(text), text.trim_matches([' ', '\t']), "{text:?}");
            assert_eq!(
                after_scheme(text),
                text.split_once("://").map(|(_, rest)| rest),
                "{text:?}"
            );
        }
    }

    #[test]
    fn long_values_are_cut_for_the_log_on_a_character_boundary() {
        assert_eq!(Bounded("GET").to_string(), "GET");
        let exact = "a".repeat(LOGGED_MAX);
        assert_eq!(Bounded(&exact).to_string(), exact);
        let long = format!("a{}", "é".repeat(5000));
        let shown = Bounded(&long).to_string();
        assert!(
            shown.starts_with('a') && shown.ends_with("…(+9746 bytes)"),
            "{shown}"
        );
        assert!(shown.len() < LOGGED_MAX + 20, "{}", shown.len());
    }
}

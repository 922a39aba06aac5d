//! `Accept-Language` (RFC 9110 §12.5.4) read without allocating: entries in header order with
//! their weight as an integer in thousandths, so no float parsing (the `accept-language`
//! crate parses `q=NaN` into a float and then panics in `sort`), and malformed entries skipped.

use crate::text::{split_byte, split_once_byte, trim_blank};

/// How much of a header is read. Browsers send well under 1 KB; hyper admits headers of
/// hundreds of KB, and negotiation should not cost more for them.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The header cut to at most [`MAX_HEADER_BYTES`], at an entry boundary.
pub fn bounded(header: &str) -> &str {
    if header.len() <= MAX_HEADER_BYTES {
        return header;
    }
    let cut = header.as_bytes()[..MAX_HEADER_BYTES]
        .iter()
        .rposition(|b| *b == b',')
        .unwrap_or(0);
    &header[..cut]
}

/// One `language-range [ weight ]` of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Entry<'a> {
    /// The range as sent: a tag, or `*`.
    pub range: &'a str,
    /// Weight in thousandths: `q=0.8` is 800, no `q` is 1000, `q=0` is 0 (refused).
    pub quality: u16,
}

/// The header's well-formed entries, in order.
pub fn entries(header: &str) -> impl Iterator<Item = Entry<'_>> + Clone {
    split_byte(header, b',').filter_map(entry)
}

fn entry(raw: &str) -> Option<Entry<'_>> {
    let mut parts = split_byte(raw, b';');
    let range = trim_blank(parts.next()?);
    if range.is_empty()
        || !(range == "*"
            || range
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return None;
    }
    let mut quality = 1000;
    for param in parts {
        let (name, value) = split_once_byte(trim_blank(param), b'=')?;
        if name.trim_end().eq_ignore_ascii_case("q") {
            quality = qvalue(value.trim_start())?;
        }
    }
    Some(Entry { range, quality })
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn qvalue(raw: &str) -> Option<u16> {
    let (whole, fraction) = split_once_byte(raw, b'.').unwrap_or((raw, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, digit) in fraction.bytes().enumerate() {
        thousandths += u16::from(digit - b'0') * [100, 10, 1][i];
    }
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(header: &str) -> Vec<(&str, u16)> {
        entries(header).map(|e| (e.range, e.quality)).collect()
    }

    #[test]
    fn weights_and_malformed_entries() {
        assert_eq!(
            parsed("en-US, fr;q=0.8 ,de; q=0.125, *;q=0"),
            vec![("en-US", 1000), ("fr", 800), ("de", 125), ("*", 0)]
        );
        assert_eq!(parsed("en;q=NaN, fr;q=1.5, it;q=0.1234, es;q"), vec![]);
        assert_eq!(parsed("en;Q=1.000;level=1, ,;q=1, e n"), vec![("en", 1000)]);
    }

    #[test]
    fn long_headers_are_cut_at_an_entry() {
        let header = "ab,".repeat(10_000);
        let cut = bounded(&header);
        assert!(cut.len() <= MAX_HEADER_BYTES && cut.ends_with("ab"));
        assert_eq!(bounded("de, fr"), "de, fr");
    }
}

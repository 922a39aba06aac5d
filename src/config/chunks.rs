//! A large file parsed a site at a time. The `toml` crate builds the whole document's tree
//! before anything can be typed, and for a table of 100,000 pairs that tree is most of the
//! load's memory (~320 MB for 12.9 MB of TOML). Cut where each `[[sites]]` header begins a
//! line, the file is a head (every other section) and one chunk per site, each parsed, typed
//! and dropped before the next: only one site's tree is alive at a time.
//!
//! The cut is checked, never trusted: a header that is really inside a multi-line string or
//! array leaves the chunk before it unterminated (each chunk is the document read from a real
//! header, so it ends where the whole parse would still be inside that value), and a chunk
//! that defines anything but `sites`, or a head that defines `sites`, would mean the pieces
//! interact. Any of these, or any syntax error, and the caller parses the whole document
//! instead, so that what it accepts, and the message and location of every error, are exactly
//! those of one parse.

/// `text` cut at the lines that begin with a `[[sites]]` header: the head (everything before
/// the first) and the chunks, each starting with its header. No header: the head alone.
pub(super) fn split(text: &str) -> (&str, Vec<&str>) {
    let mut cuts = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        if is_sites_header(line) {
            cuts.push(start);
        }
        start += line.len();
    }
    let Some(&first) = cuts.first() else {
        return (text, Vec::new());
    };
    cuts.push(text.len());
    let chunks = cuts.windows(2).map(|w| &text[w[0]..w[1]]).collect();
    (&text[..first], chunks)
}

/// `[[sites]]`, with optional blanks inside the brackets and an optional comment after.
fn is_sites_header(line: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix("[[") else {
        return false;
    };
    let Some(rest) = rest.trim_start().strip_prefix("sites") else {
        return false;
    };
    let Some(rest) = rest.trim_start().strip_prefix("]]") else {
        return false;
    };
    let rest = rest.trim_start();
    rest.is_empty() || rest.starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_each_header_and_keeps_every_byte() {
        let text = "[server]\nlisten = \"x\"\n[[sites]]\nid = \"a\"\n  [[ sites ]] # b\nid = \"b\"\n";
        let (head, chunks) = split(text);
        assert_eq!(head, "[server]\nlisten = \"x\"\n");
        assert_eq!(chunks, ["[[sites]]\nid = \"a\"\n", "  [[ sites ]] # b\nid = \"b\"\n"]);
        assert_eq!(format!("{head}{}", chunks.concat()), text);
    }

    #[test]
    fn other_headers_are_not_cuts() {
        for line in [
            "[sites]",
            "[[sites.language]]",
            "[[sitesx]]",
            "[[sites]] x",
            "x = [[sites]]",
            "# [[sites]]",
        ] {
            assert!(!is_sites_header(line), "{line}");
        }
        assert_eq!(split("[server]\n").1.len(), 0);
    }
}

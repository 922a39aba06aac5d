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

/// The text before the first `[[sites]]` header (all of it when there is none): where the
/// top-level keys are.
pub(super) fn head(text: &str) -> &str {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        if is_sites_header(line) {
            return &text[..start];
        }
        start += line.len();
    }
    text
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
    use crate::config::{Config, ConfigError, Environment};

    const HEAD: &str = "[twilio]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\n\
        [provisioning]\nenabled = false\n\
        [defaults.widget]\ntheme = { colour = \"blue\" }\n";

    fn site(id: &str) -> String {
        format!(
            "[[sites]]\nid = \"{id}\"\nhosts = [\"{id}.example\"]\ndefault_language = \"en\"\n\
            languages = [\"en\", \"de\"]\n[sites.language.\"de\"]\n\
            flex_flow_sid = \"FO0123456789abcdef0123456789abcdef\"\n[sites.widget]\nsize = 2\n"
        )
    }

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, &Environment::from_pairs::<&str, &str>([]))
            .map(|loaded| loaded.config)
    }

    /// The same text parsed whole: a quoted `[["sites"]]` header is never a cut.
    fn whole(text: &str) -> String {
        text.replace("[[sites]]", "[[\"sites\"]]")
    }

    /// What went wrong, and where, without the quoted line (the whole parse's shows the
    /// header quoted).
    fn first_line(result: Result<Config, ConfigError>) -> String {
        outcome(result)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    fn outcome(result: Result<Config, ConfigError>) -> String {
        match result {
            Ok(config) => format!("{config:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_file_in_chunks_loads_as_it_does_whole() {
        let text = format!("{HEAD}{}{}{}", site("a"), site("b"), site("c"));
        assert_eq!(split(&text).1.len(), 3);
        let chunked = load(&text).unwrap();
        assert_eq!(chunked.sites.len(), 3);
        assert_eq!(format!("{chunked:?}"), outcome(load(&whole(&text))));
    }

    #[test]
    fn problems_keep_their_site_numbers_and_order() {
        let text = format!(
            "{HEAD}{}{}hostz = []\n{}[sites.language.\"en\"]\nflexflow_sid = 1\n[[sites]]\nid = 5\n",
            site("a"),
            site("b").replace("[sites.widget]\nsize = 2\n", ""),
            site("c").replace("[sites.language.\"de\"]", "[sites.language.\"fr\"]"),
        );
        let problems = load(&text).unwrap_err().problems();
        assert_eq!(problems, load(&whole(&text)).unwrap_err().problems());
        assert_eq!(
            problems,
            [
                "sites[1].language.\"de\".hostz: unknown key",
                "sites[2].language.\"en\".flexflow_sid: unknown key",
                "sites[3]: invalid type: integer `5`, expected a string",
            ]
        );
    }

    #[test]
    fn a_syntax_error_in_a_later_site_names_its_line_in_the_file() {
        let text = format!(
            "{HEAD}{}{}",
            site("a"),
            site("b").replace("id = \"b\"", "id = \"b")
        );
        let line = text.lines().position(|l| l == "id = \"b").unwrap() + 1;
        let message = load(&text).unwrap_err().to_string();
        assert!(
            message.contains(&format!("TOML parse error at line {line}, column")),
            "{message}"
        );
        assert_eq!(message, outcome(load(&whole(&text))));
    }

    #[test]
    fn a_header_inside_a_multi_line_string_is_not_a_cut() {
        let text = format!(
            "{HEAD}{}note = \"\"\"\n[[sites]]\nid = \"x\"\n\"\"\"\n{}",
            site("a"),
            site("b")
        );
        let config = load(&text).unwrap();
        assert_eq!(config.sites.len(), 2);
        assert_eq!(
            config.sites[0].widget["note"].as_str(),
            Some("[[sites]]\nid = \"x\"\n")
        );
    }

    #[test]
    fn sections_after_the_sites_and_sites_in_the_head_are_read_whole() {
        let after = format!("{HEAD}{}[server]\ncache_max_age_secs = 7\n", site("a"));
        assert_eq!(load(&after).unwrap().server.cache_max_age_secs, 7);
        assert_eq!(outcome(load(&after)), outcome(load(&whole(&after))));
        let twice = format!(
            "{HEAD}{}[server]\nlisten = \"x\"\n{}[server]\nlisten = \"y\"\n",
            site("a"),
            site("b")
        );
        assert!(load(&twice).is_err());
        assert_eq!(first_line(load(&twice)), first_line(load(&whole(&twice))));
        let inline = format!("sites = []\n{HEAD}{}", site("a"));
        assert!(load(&inline).is_err());
        assert_eq!(first_line(load(&inline)), first_line(load(&whole(&inline))));
    }

    #[test]
    fn cuts_at_each_header_and_keeps_every_byte() {
        let text =
            "[server]\nlisten = \"x\"\n[[sites]]\nid = \"a\"\n  [[ sites ]] # b\nid = \"b\"\n";
        let (head, chunks) = split(text);
        assert_eq!(head, "[server]\nlisten = \"x\"\n");
        assert_eq!(super::head(text), head);
        assert_eq!(
            chunks,
            ["[[sites]]\nid = \"a\"\n", "  [[ sites ]] # b\nid = \"b\"\n"]
        );
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

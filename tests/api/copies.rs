//! Test helpers live in `support/` only: a test file that defines its own copy of one (a
//! "flows named" filter, `ask`, a replica fleet, the seeded generator, the JWT reader), writes
//! an admin token literal, or spells out the "GET config, parse JSON" chain fails here, naming
//! the file and what it copied. A text scan: what it cannot see (a copy under another name) is
//! for review.

use std::path::Path;

use crate::support::ADMIN_TOKEN;
use crate::support::source::rust_files;

/// Definitions that belong to `support/` alone, and the helper to use instead.
const DEFINED_IN_SUPPORT: &[(&str, &str)] = &[
    ("fn flows_named(", "support::flows_named"),
    ("fn named(", "support::flows_named"),
    ("fn ask(", "Server::ask / Running::ask"),
    ("fn upstream_env(", "support::upstream_env"),
    ("fn replica_env(", "support::replica_env"),
    ("struct Fleet", "support::Fleet"),
    ("struct Cluster", "support::Fleet"),
    ("struct Rng", "support::Rng"),
    ("fn now_ms(", "support::jwt::now_ms"),
    ("fn claims(", "support::jwt::segment"),
    ("fn segment(", "support::jwt::segment"),
];

#[test]
fn test_files_define_no_copies_of_the_support_helpers() {
    let planted = format!(
        "const ADMIN: &str = \"{ADMIN_TOKEN}\";\nfn flows_named(e: &Emulator) {{}}\n\
         let body = json(\n    server\n        .config(\"site=acme\")\n        .send()\n        \
         .await\n        .unwrap(),\n)\n.await;\n"
    );
    assert_eq!(
        copies(Path::new("planted.rs"), &planted).len(),
        3,
        "the check finds a planted token, helper and chain: {:?}",
        copies(Path::new("planted.rs"), &planted)
    );

    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api");
    let this = api.join("copies.rs");
    let problems: Vec<String> = rust_files(&api)
        .into_iter()
        .filter(|path| !path.starts_with(api.join("support")) && *path != this)
        .flat_map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            copies(path.strip_prefix(&api).unwrap(), &text)
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What `text` (the file at `path`) copies from `support/`.
fn copies(path: &Path, text: &str) -> Vec<String> {
    let path = path.display();
    let mut found = Vec::new();
    for (definition, instead) in DEFINED_IN_SUPPORT {
        if text.contains(definition) {
            found.push(format!("{path}: defines `{definition}…`; use {instead}"));
        }
    }
    if text.contains(ADMIN_TOKEN) || text.contains("const ADMIN: &str") {
        found.push(format!(
            "{path}: an admin token of its own; use support::ADMIN_TOKEN"
        ));
    }
    let dense: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if config_chain(&dense.replace("().", ".")) {
        found.push(format!(
            "{path}: `json(….config(…).send().await.unwrap()).await`; use config_json"
        ));
    }
    found
}

/// Whether `code` (without whitespace, `().` read as `.`, so that `client().get` is a name)
/// has `json(NAME.config(…)` or `json(NAME.get(NAME.config_url(…))` followed at once by
/// `.send().await.unwrap()).await` (or `,).await`).
fn config_chain(code: &str) -> bool {
    let name = |s: &str| s.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'));
    code.match_indices("json(").any(|(at, open)| {
        let rest = &code[at + open.len()..];
        let Some(end) = name(rest) else { return false };
        let (callee, rest) = rest.split_at(end);
        let after = if callee.ends_with(".config") {
            after_parens(rest)
        } else if let Some(inner) = rest.strip_prefix('(').filter(|_| callee.ends_with(".get")) {
            let end = name(inner).unwrap_or(0);
            if !inner[..end].ends_with(".config_url") {
                return false;
            }
            after_parens(&inner[end..]).and_then(|s| s.strip_prefix(')'))
        } else {
            None
        };
        after
            .and_then(|s| s.strip_prefix(".send.await.unwrap()"))
            .is_some_and(|s| s.starts_with(").await") || s.starts_with(",).await"))
    })
}

/// What follows the parenthesised group `s` starts with, if it does.
fn after_parens(s: &str) -> Option<&str> {
    if !s.starts_with('(') {
        return None;
    }
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[i + 1..]);
                }
            }
            _ => {}
        }
    }
    None
}

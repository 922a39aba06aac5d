//! The import direction of `src/`: which module may use which. Reads every file under `src/`
//! for `crate::…` paths (in `use` lines and inline, test modules included), builds the graph of
//! top-level modules, and fails on a cycle (naming it) and on any import that is not downward in
//! [`LAYERS`]. The same for the files of the Twilio emulator ([`EMULATOR_LAYERS`]), which name
//! each other through `super::…`. A new module or file must be placed in a layer here.
//!
//! Paths a text scan cannot see (a glob `use crate::*`, a macro building a path) are not
//! checked; the code has none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::source::rust_files;

/// The top-level modules of `src/`, from the bottom up. A module may import from the layers
/// below its own, never from its own layer or above. `lib.rs` (what `main.rs` and the tests
/// call: `run`, `state`, `Services`) is "crate root"; its own imports are not checked (it
/// composes the modules declared in it).
const LAYERS: &[&[&str]] = &[
    // Vocabulary, text helpers, the metrics registry, logging: no flexroute imports.
    &["text", "redact", "address", "metrics", "telemetry"],
    // Host patterns and language tags: parsed by config, indexed by the table.
    &["lookup"],
    // The file format, validated once.
    &["config"],
    // The validated configuration compiled for requests.
    &["table"],
    // What is built from the table: answers, resolution, the answer cache.
    &["widget", "resolve", "cache"],
    // The Twilio client and emulator.
    &["twilio"],
    // What talks to Twilio for a pair: provisioning addresses, starting chats.
    &["provision", "session"],
    // The application state.
    &["app"],
    // What changes the state: hot reload.
    &["reload"],
    // The listeners and handlers.
    &["http"],
    // `lib.rs`: builds the state and runs the listeners.
    &[ROOT],
    // The sandbox (an emulator and a server in one process) and the command line.
    &["sandbox"],
    &["cli"],
];

/// The files of `src/twilio/emulator/` (without `.rs`), from the bottom up, on the same rule.
/// `mod.rs` holds the `Emulator` every file serves and is not checked.
const EMULATOR_LAYERS: &[&[&str]] = &[
    // Helpers: SIDs, clock, connection faults, auth, fault switches, form reading, answers.
    &["sids", "time", "link", "auth", "switches", "form", "answer"],
    // Stored resources and request parameters.
    &["store", "chats", "params", "address_params"],
    // Handlers.
    &["flows", "conversation", "messages", "web_chats"],
    // Handlers that reuse others (listing renders flows; addresses list through it).
    &["list"],
    &["addresses"],
    // The router.
    &["api"],
];

const ROOT: &str = "crate root";
const EMULATOR: &str = "src/twilio/emulator";

/// An edge of the graph and one place that makes it.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

#[test]
fn modules_import_downward_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = check(&module_graph(&src), LAYERS, "src/");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn emulator_files_import_downward_only() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(EMULATOR);
    let problems = check(&emulator_graph(&dir), EMULATOR_LAYERS, EMULATOR);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The README's layout table names every top-level module (and nothing else keeps a list of
/// them to drift from this file's).
#[test]
fn the_readme_layout_names_every_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let layout = readme
        .split("\n## Layout\n")
        .nth(1)
        .expect("a Layout section");
    let layout = layout.split("\n## ").next().unwrap();
    let missing: Vec<&str> = LAYERS
        .iter()
        .flat_map(|layer| layer.iter())
        .filter(|module| **module != ROOT && !layout.contains(&format!("`{module}`")))
        .copied()
        .collect();
    assert!(
        missing.is_empty(),
        "README's Layout does not name {missing:?}"
    );
}

/// The check itself, on graphs made up here: a cycle is named, an upward edge is named.
#[test]
fn the_check_names_a_cycle_and_an_upward_import() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph = Graph::new();
        for (from, to) in edges {
            graph
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string(), format!("src/{from}.rs"));
        }
        graph
    };
    let layers: &[&[&str]] = &[&["a"], &["b"], &["c"]];
    assert!(check(&graph(&[("c", "b"), ("b", "a")]), layers, "").is_empty());
    let problems = check(&graph(&[("a", "c"), ("c", "b"), ("b", "a")]), layers, "");
    assert!(
        problems.iter().any(|p| p.contains("cycle: a → c → b → a")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("a imports c (src/a.rs), which is above it")),
        "{problems:?}"
    );
    let problems = check(&graph(&[("d", "a")]), layers, "");
    assert!(problems[0].contains("d is in no layer"), "{problems:?}");
}

/// Every cycle (one per strongly connected group), every edge that is not downward, every
/// module missing from `layers`.
fn check(graph: &Graph, layers: &[&[&str]], place: &str) -> Vec<String> {
    let layer_of = |name: &str| layers.iter().position(|layer| layer.contains(&name));
    let mut problems = Vec::new();
    let nodes: BTreeSet<&str> = graph
        .iter()
        .flat_map(|(from, to)| std::iter::once(from.as_str()).chain(to.keys().map(String::as_str)))
        .collect();
    for node in &nodes {
        if layer_of(node).is_none() {
            problems.push(format!(
                "{node} is in no layer: add it where it belongs in this file's list for {place}"
            ));
        }
    }
    for cycle in cycles(graph) {
        problems.push(format!("import cycle: {}", cycle.join(" → ")));
    }
    for (from, edges) in graph {
        for (to, at) in edges {
            if let (Some(f), Some(t)) = (layer_of(from), layer_of(to))
                && t >= f
            {
                let where_ = if t == f {
                    "in its own layer"
                } else {
                    "above it"
                };
                problems.push(format!("{from} imports {to} ({at}), which is {where_}"));
            }
        }
    }
    problems
}

/// One cycle through each group of nodes that reach each other, found by a depth-first search
/// from the group's first node, written first node to first node again.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let reach = |start: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.to_string()];
        while let Some(node) = stack.pop() {
            for next in graph.get(&node).into_iter().flat_map(|e| e.keys()) {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let mut covered = BTreeSet::new();
    let mut found = Vec::new();
    for start in graph.keys() {
        if covered.contains(start) || !reach(start).contains(start) {
            continue;
        }
        // The path back: breadth-first from `start` until it is reached again.
        let mut previous: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.clone()]);
        'search: while let Some(node) = queue.pop_front() {
            for next in graph.get(&node).into_iter().flat_map(|e| e.keys()) {
                if next == start {
                    previous.insert(start.clone(), node.clone());
                    break 'search;
                }
                if !previous.contains_key(next) {
                    previous.insert(next.clone(), node.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        let mut cycle = vec![start.clone()];
        let mut node = previous[start].clone();
        while &node != start {
            cycle.push(node.clone());
            node = previous[&node].clone();
        }
        cycle.push(start.clone());
        let last = cycle.len() - 1;
        cycle[1..last].reverse();
        let group: BTreeSet<String> = reach(start)
            .into_iter()
            .filter(|n| reach(n).contains(start))
            .collect();
        covered.extend(group);
        found.push(cycle);
    }
    found
}

/// Top-level module → module it names with `crate::`, with one file that does.
fn module_graph(src: &Path) -> Graph {
    let modules: BTreeSet<String> = std::fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|name| name != "lib" && name != "main")
        .collect();
    let mut graph = Graph::new();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.iter().next().unwrap().to_str().unwrap();
        let from = first.trim_end_matches(".rs");
        if from == "lib" || from == "main" {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        for path in paths(&code, "crate") {
            let to = match path.first() {
                Some(name) if modules.contains(name) => name.as_str(),
                _ => ROOT,
            };
            if to != from {
                graph
                    .entry(from.to_string())
                    .or_default()
                    .entry(to.to_string())
                    .or_insert_with(|| format!("src/{}", relative.display()));
            }
        }
    }
    graph
}

/// Emulator file → sibling file it names (`super::x` outside its test module, or
/// `crate::twilio::emulator::x`).
fn emulator_graph(dir: &Path) -> Graph {
    let mut graph = Graph::new();
    for file in rust_files(dir) {
        let from = file.file_stem().unwrap().to_str().unwrap();
        if from == "mod" {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        let outside_tests = without_test_modules(&code);
        let siblings = paths(&outside_tests, "super").into_iter().chain(
            paths(&code, "crate")
                .into_iter()
                .filter(|p| p.starts_with(&["twilio".into(), "emulator".into()]))
                .map(|p| p[2..].to_vec()),
        );
        for path in siblings {
            let Some(to) = path.first() else { continue };
            if dir.join(format!("{to}.rs")).is_file() && to != from {
                graph
                    .entry(from.to_string())
                    .or_default()
                    .entry(to.clone())
                    .or_insert_with(|| format!("{EMULATOR}/{from}.rs"));
            }
        }
    }
    graph
}

/// `text` without comments, and with string and character literals emptied, so that a path
/// quoted in a message or a doc comment is not read as an import.
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            let mut depth = 0;
            while i < bytes.len() {
                if text[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if text[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(text, i) {
            let open = rest.find('"').unwrap() + 1;
            let close = format!("\"{}", "#".repeat(hashes));
            let end = rest[open..]
                .find(&close)
                .map_or(rest.len(), |e| open + e + close.len());
            out.push_str("\"\"");
            i += end;
        } else if bytes[i] == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if let Some(len) = char_literal(rest) {
            i += len;
            out.push_str("' '");
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The number of `#` of a raw string literal starting at `i` (`r"`, `r#"`, `br#"`…).
fn raw_string_start(text: &str, i: usize) -> Option<usize> {
    let before = text[..i].chars().next_back();
    if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let rest = text[i..].strip_prefix('b').unwrap_or(&text[i..]);
    let rest = rest.strip_prefix('r')?;
    let hashes = rest.len() - rest.trim_start_matches('#').len();
    rest[hashes..].starts_with('"').then_some(hashes)
}

/// The length of a character literal at the start of `text` (`'a'`, `'\n'`, `'\u{1F600}'`),
/// `None` for a lifetime.
fn char_literal(text: &str) -> Option<usize> {
    let inner = text.strip_prefix('\'')?;
    if let Some(escaped) = inner.strip_prefix('\\') {
        let end = escaped.find('\'')?;
        return Some(end + 3);
    }
    let c = inner.chars().next()?;
    inner[c.len_utf8()..]
        .starts_with('\'')
        .then_some(c.len_utf8() + 2)
}

/// `code` without the module that follows each `#[cfg(test)]` (its `super::` is the file
/// itself).
fn without_test_modules(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let Some(open) = after.find('{') else {
            return out;
        };
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Every path that starts with `root::` in `code`, `use` trees expanded:
/// `crate::{a::b, c}` gives `[a, b]` and `[c]`.
fn paths(code: &str, root: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let prefix = format!("{root}::");
    let mut from = 0;
    while let Some(at) = code[from..].find(&prefix) {
        let start = from + at;
        from = start + prefix.len();
        let before = code[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        tree(code, from, Vec::new(), &mut found);
    }
    found
}

/// Reads a `use` tree (or a plain path) at `at`; returns where it ends.
fn tree(code: &str, at: usize, prefix: Vec<String>, found: &mut Vec<Vec<String>>) -> usize {
    let skip = |i: usize| i + code[i..].len() - code[i..].trim_start().len();
    let mut i = skip(at);
    if code[i..].starts_with('{') {
        i += 1;
        loop {
            i = skip(i);
            if code[i..].starts_with('}') {
                return i + 1;
            }
            i = tree(code, i, prefix.clone(), found);
            i = skip(i);
            if code[i..].starts_with(',') {
                i += 1;
            } else if !code[i..].starts_with('}') {
                return i;
            }
        }
    }
    let name_len = code[i..]
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(code.len() - i);
    if name_len == 0 {
        if !prefix.is_empty() {
            found.push(prefix);
        }
        return i;
    }
    let mut path = prefix;
    path.push(code[i..i + name_len].to_string());
    i += name_len;
    let after = skip(i);
    if let Some(next) = code[after..].strip_prefix("::")
        && !next.trim_start().starts_with('<')
    {
        return tree(code, after + 2, path, found);
    }
    found.push(path);
    i
}

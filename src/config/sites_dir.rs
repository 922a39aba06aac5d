//! `sites_dir`: a directory of one file per site, besides (or instead of) `[[sites]]` in the
//! main file — what a fleet that keeps its sites in Git wants, each team owning its file. Each
//! `*.toml` directly in the directory (by name; names starting with `.` skipped, as Kubernetes
//! keeps its own files there) holds one site's keys at its top level, as under a `[[sites]]`
//! header (`id = …`, `[language."en-US"]`, `[widget]`). The files are read, validated and put
//! in force together with the main file, so a reload is atomic across them: one bad file and
//! the whole table keeps its last good version.
//!
//! A problem in a site file names the file and the key (`sites.d/acme.toml: hosts[0]: …`); a
//! syntax error, the file, line and column.

use std::path::{Path, PathBuf};

use toml::de::DeTable;

/// One site file: how problems name it, and its text.
pub(super) struct SiteFile {
    pub shown_as: String,
    pub text: String,
}

/// The directory `dir` names (relative to `base`, the main file's directory), as problems show
/// it and as it is opened.
pub(super) fn resolve(base: &Path, dir: &str) -> (String, PathBuf) {
    let path = base.join(dir);
    (path.display().to_string(), path)
}

/// The `*.toml` files of `dir`, by name.
fn listing(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.starts_with('.') && name.ends_with(".toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Every site file of `dir` (shown as `shown_as`), or what stopped reading one.
pub(super) fn read(shown_as: &str, dir: &Path) -> Result<Vec<SiteFile>, String> {
    let cannot =
        |what: &dyn std::fmt::Display, e: std::io::Error| format!("cannot read {what}: {e}");
    let files = listing(dir).map_err(|e| cannot(&shown_as, e))?;
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let shown_as = Path::new(shown_as).join(&*name).display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| cannot(&shown_as, e))?;
            Ok(SiteFile { shown_as, text })
        })
        .collect()
}

/// A hash of the site files of the directory the main file `text` (at `path`) names, or
/// `None` when it names none: what the watcher compares to see a change in any of them.
pub fn fingerprint(path: &Path, text: &str) -> Option<u64> {
    let head = DeTable::parse(super::chunks::head(text)).ok()?.into_inner();
    let dir = head.get("sites_dir")?.get_ref().as_str()?.to_string();
    let (_, dir) = resolve(path.parent().unwrap_or(Path::new("")), &dir);
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for file in listing(&dir).unwrap_or_default() {
        hasher.update(file.as_os_str().as_encoded_bytes());
        hasher.update(&std::fs::read(&file).unwrap_or_default());
        hasher.update(b"\x1f");
    }
    Some(hasher.digest())
}

/// `text` (a problem's path or message) with every `sites[N]` of a site from a file named by
/// that file: `sites[3].hosts[0]` becomes `sites.d/acme.toml: hosts[0]`.
pub(super) fn locate(text: &str, origins: &[Option<String>]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("sites[") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "sites[".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let file = after[..digits]
            .parse::<usize>()
            .ok()
            .filter(|_| after[digits..].starts_with(']'))
            .and_then(|index| origins.get(index)?.as_deref());
        match file {
            Some(file) => {
                out.push_str(file);
                rest = &after[digits + 1..];
                if let Some(key) = rest.strip_prefix('.') {
                    out.push_str(": ");
                    rest = key;
                }
            }
            None => {
                out.push_str("sites[");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_from_files_are_named_by_their_file() {
        let origins = [None, Some("sites.d/b.toml".to_string())];
        assert_eq!(
            locate("sites[1].hosts[0]", &origins),
            "sites.d/b.toml: hosts[0]"
        );
        assert_eq!(locate("sites[1]", &origins), "sites.d/b.toml");
        assert_eq!(
            locate(
                "also claimed by sites[1] at sites[1].hosts[0], not sites[0]",
                &origins
            ),
            "also claimed by sites.d/b.toml at sites.d/b.toml: hosts[0], not sites[0]"
        );
        assert_eq!(locate("sites[x] sites[", &origins), "sites[x] sites[");
    }
}

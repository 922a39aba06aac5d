//! The log earlier versions kept at `file:PATH` (one line per record, `<json>\t<xxh3 hex>\n`),
//! read once to move its records into the database ([`super::embedded`]). Reading is bounded:
//! a line longer than [`MAX_LINE`] is skipped as it streams past, never held in memory; a line
//! that fails its checksum, or whose address is not a SID of its kind, is skipped; a torn last
//! line is dropped. The old log is kept beside the database as `PATH.log-migrated`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::StoredAddress;

/// Longer lines are not records flexroute wrote (those are a few hundred bytes).
pub const MAX_LINE: usize = 64 * 1024;

/// What reading a log found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Good lines, superseded ones included.
    pub lines: usize,
    /// Complete lines that failed their checksum or their SID check.
    pub damaged: usize,
    /// Lines longer than [`MAX_LINE`], skipped unread.
    pub oversized: usize,
    /// Whether the log ended in a line without its newline (dropped).
    pub torn: bool,
}

/// The latest record per (site, slot), read from `reader` in bounded memory.
pub fn read(mut reader: impl BufRead) -> io::Result<(Vec<StoredAddress>, Counts)> {
    let mut latest: HashMap<(String, String), StoredAddress> = HashMap::new();
    let mut counts = Counts::default();
    let mut line = Vec::new();
    let mut discarding = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            counts.torn = discarding || !line.is_empty();
            break;
        }
        let (chunk, complete) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let taken = chunk.len();
        if !discarding && line.len() + taken > MAX_LINE + 1 {
            discarding = true;
            line = Vec::new(); // gives its memory back
        }
        if !discarding {
            line.extend_from_slice(chunk);
        }
        reader.consume(taken);
        if complete {
            if discarding {
                counts.oversized += 1;
                discarding = false;
            } else {
                match decode(&line) {
                    Some(record) => {
                        counts.lines += 1;
                        latest.insert((record.site.clone(), record.slot().into_owned()), record);
                    }
                    None => counts.damaged += 1,
                }
                line.clear();
            }
        }
    }
    Ok((latest.into_values().collect(), counts))
}

/// One line as earlier versions wrote it (tests write old logs with it).
#[cfg(test)]
pub fn encode(record: &StoredAddress) -> io::Result<Vec<u8>> {
    let json = serde_json::to_vec(record)?;
    let mut line = json.clone();
    line.extend_from_slice(format!("\t{:016x}\n", xxhash_rust::xxh3::xxh3_64(&json)).as_bytes());
    Ok(line)
}

fn decode(line: &[u8]) -> Option<StoredAddress> {
    let line = line.strip_suffix(b"\n")?;
    let tab = line.iter().rposition(|b| *b == b'\t')?;
    let (json, sum) = (&line[..tab], &line[tab + 1..]);
    let expected = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(json));
    let record: StoredAddress =
        (sum == expected.as_bytes()).then(|| serde_json::from_slice(json).ok())??;
    record.is_servable().then_some(record)
}

/// Moves the log at `real` (the configured `path` with its symlinks resolved) into a new
/// database: reads it, has `write` make the database at a temporary path in the same
/// directory (committed, so fsynced), links the log to `PATH.log-migrated`, renames the
/// database over `real` and fsyncs the directory. At every moment `real` is either the whole
/// old log or the whole new database. Holds the log's lock, and the `.lock` file earlier
/// versions held, meanwhile: an older flexroute still running on it makes this fail.
pub fn migrate(
    path: &Path,
    real: &Path,
    write: impl FnOnce(&Path, &[StoredAddress]) -> io::Result<()>,
) -> io::Result<()> {
    let in_use = || {
        io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "state store {} is in use by another flexroute process (one process per file)",
                path.display()
            ),
        )
    };
    let file = File::open(real)?;
    file.try_lock().map_err(|_| in_use())?;
    let side_lock = path.with_extension("lock");
    let _old_lock = match File::options().write(true).open(&side_lock) {
        Ok(lock) => {
            lock.try_lock().map_err(|_| in_use())?;
            Some(lock)
        }
        Err(_) => None,
    };
    // Another process may have migrated it between our open and our lock.
    if !same_file(&file, real)? {
        return Ok(());
    }
    let (records, counts) = read(BufReader::with_capacity(64 * 1024, &file))?;
    let dir = real.parent().unwrap_or(Path::new("."));
    let name = real
        .file_name()
        .ok_or_else(|| io::Error::other("state path names no file"))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!("{name}.migrating"));
    let _ = std::fs::remove_file(&tmp);
    write(&tmp, &records)?;
    File::open(&tmp)?.sync_all()?;
    let kept = free_name(dir, &format!("{name}.log-migrated"));
    std::fs::hard_link(real, &kept)?;
    std::fs::rename(&tmp, real)?;
    File::open(dir)?.sync_all()?;
    tracing::info!(
        path = %path.display(),
        records = records.len(),
        lines = counts.lines,
        damaged = counts.damaged,
        oversized = counts.oversized,
        torn_tail = counts.torn,
        old_log = %kept.display(),
        "migrated the state log to the database"
    );
    Ok(())
}

fn same_file(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (file.metadata()?, std::fs::metadata(path)?);
    Ok(a.dev() == b.dev() && a.ino() == b.ino())
}

/// `dir/base`, or `dir/base.2`, `.3`… if taken (an earlier migration's log is never replaced).
fn free_name(dir: &Path, base: &str) -> PathBuf {
    let mut candidate = dir.join(base);
    let mut n = 2;
    while std::fs::symlink_metadata(&candidate).is_ok() {
        candidate = dir.join(format!("{base}.{n}"));
        n += 1;
    }
    candidate
}

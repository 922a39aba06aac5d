//! The embedded state store (`provisioning.state = "file:PATH"`): a redb database at PATH, one
//! table of records keyed by (site, slot), each a JSON [`StoredAddress`]. redb commits are
//! atomic and fsynced before they return, so a record is durable when `record` returns and a
//! `kill -9` loses at most the transaction being committed. redb locks the database file
//! itself, so a second process on the same file (through another path or a symlink) is
//! refused, and two different files never share a lock. After an I/O error (a full disk) redb
//! refuses every operation until the database is reopened: a failed write closes it and the
//! next operation reopens it (the file is unlocked for that moment only). Nothing here ever
//! renames the database, except the one-off migration of a log written by earlier versions
//! ([`super::oldlog`]), which works on the path with its symlinks resolved.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};

use super::oldlog;
use super::{BoxFuture, StateStore, StoredAddress};

/// (site, slot) → JSON of the record.
const RECORDS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("addresses");

/// A stored value larger than this is not a record flexroute wrote: skipped unread.
const MAX_VALUE: usize = 64 * 1024;

/// The first bytes of every redb database file.
const REDB_MAGIC: &[u8] = b"redb\x1a\x0a\xa9\x0d\x0a";

pub struct FileStore {
    /// As configured (for messages).
    path: PathBuf,
    /// With its symlinks resolved: what is reopened.
    real: PathBuf,
    /// `None` after a failed write until reopened: redb refuses every operation after an I/O
    /// error (a full disk) until the database is closed and opened again.
    db: Arc<Mutex<Option<Database>>>,
}

fn named(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("state store {}: {what}", path.display()))
}

impl FileStore {
    /// Opens (creating) the database at `path`, migrating a log written by earlier versions
    /// first. Refuses a path that is not a regular file (a directory, `/dev/null`), one it
    /// cannot read, and a database another process has open, naming the path each time.
    pub fn open(path: &Path) -> io::Result<Self> {
        let real = resolve(path)?;
        if looks_like_old_log(&real)? {
            oldlog::migrate(path, &real, write_new).map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock => e,
                _ => named(path, format!("cannot migrate the old log: {e}")),
            })?;
        }
        let existed = real.exists();
        let db = open_db(path, &real)?;
        // The table exists from the first open on, so that reads never meet its absence.
        let txn = db.begin_write().map_err(|e| named(path, e))?;
        txn.open_table(RECORDS).map_err(|e| named(path, e))?;
        txn.commit().map_err(|e| named(path, e))?;
        if !existed && let Some(dir) = real.parent() {
            // A new file's directory entry must be durable before records in it are.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| named(path, e))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            real,
            db: Arc::new(Mutex::new(Some(db))),
        })
    }

    /// Runs `f` on the database, reopening it first if an earlier failure closed it; a failure
    /// closes it (the next call reopens it, and so recovers once the disk has room again).
    fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, Box<dyn std::error::Error>> + Send + 'static,
    ) -> BoxFuture<'static, io::Result<T>> {
        let (db, path, real) = (self.db.clone(), self.path.clone(), self.real.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut slot = db.lock();
                if slot.is_none() {
                    *slot = Some(open_db(&path, &real)?);
                    tracing::info!(path = %path.display(), "state store reopened");
                }
                let result = f(slot.as_ref().expect("opened above"));
                if result.is_err() {
                    *slot = None; // closes it: redb takes nothing more after an I/O error
                }
                result.map_err(|e| named(&path, e))
            })
            .await
            .map_err(io::Error::other)?
        })
    }
}

fn open_db(path: &Path, real: &Path) -> io::Result<Database> {
    Database::builder().create(real).map_err(|e| match e {
        DatabaseError::DatabaseAlreadyOpen => io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "state store {} is in use by another flexroute process (one process per file)",
                path.display()
            ),
        ),
        other => named(path, format!("cannot open it as a database: {other}")),
    })
}

/// The path with its symlinks resolved (the file itself when it exists, else its directory,
/// created if needed), refused unless it is (or will be) a regular file.
fn resolve(path: &Path) -> io::Result<PathBuf> {
    if path.as_os_str().is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "provisioning.state file: needs a path",
        ));
    }
    let real = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok() {
                return Err(named(path, "is a symlink to nothing"));
            }
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(|e| named(path, e))?;
            let name = path
                .file_name()
                .ok_or_else(|| named(path, "names no file"))?;
            std::fs::canonicalize(dir)
                .map_err(|e| named(path, e))?
                .join(name)
        }
        Err(e) => return Err(named(path, e)),
    };
    match std::fs::metadata(&real) {
        Ok(meta) if !meta.is_file() => Err(named(
            path,
            "is not a regular file (a directory or a device cannot hold the state)",
        )),
        Ok(_) => {
            File::open(&real).map_err(|e| named(path, format!("cannot be read: {e}")))?;
            Ok(real)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(real),
        Err(e) => Err(named(path, e)),
    }
}

/// Whether the file holds something other than a redb database (or nothing): the log of
/// earlier versions, to migrate. Whatever it is, migration keeps it beside the database.
fn looks_like_old_log(real: &Path) -> io::Result<bool> {
    let mut head = [0u8; REDB_MAGIC.len()];
    let mut file = match File::open(real) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(named(real, e)),
    };
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok(read > 0 && head[..read] != REDB_MAGIC[..read])
}

/// Writes `records` into a new database at `tmp` (migration), committed (fsynced) on return.
fn write_new(tmp: &Path, records: &[StoredAddress]) -> io::Result<()> {
    let db = Database::builder().create(tmp).map_err(|e| named(tmp, e))?;
    let txn = db.begin_write().map_err(|e| named(tmp, e))?;
    {
        let mut table = txn.open_table(RECORDS).map_err(|e| named(tmp, e))?;
        for record in records {
            let value = serde_json::to_vec(record)?;
            table
                .insert((record.site.as_str(), &*record.slot()), value.as_slice())
                .map_err(|e| named(tmp, e))?;
        }
    }
    txn.commit().map_err(|e| named(tmp, e))?;
    Ok(())
}

/// Every servable record; a value that does not decode or whose address is not a SID of its
/// kind is skipped with a warning, never served.
fn read_all(db: &Database) -> Result<(Vec<StoredAddress>, usize), Box<dyn std::error::Error>> {
    let txn = db.begin_read()?;
    let table = txn.open_table(RECORDS)?;
    let mut records = Vec::new();
    let mut skipped = 0;
    for entry in table.iter()? {
        let (key, value) = entry?;
        let value = value.value();
        let record = (value.len() <= MAX_VALUE)
            .then(|| serde_json::from_slice::<StoredAddress>(value).ok())
            .flatten()
            .filter(|r| {
                let (site, slot) = key.value();
                r.site == site && r.slot() == slot
            });
        match record {
            Some(record) if record.is_servable() => records.push(record),
            Some(_) => skipped += 1,
            None => {
                let (site, slot) = key.value();
                tracing::warn!(site, slot, "skipping a stored record that does not decode");
                skipped += 1;
            }
        }
    }
    Ok((records, skipped))
}

impl StateStore for FileStore {
    fn load(&self) -> BoxFuture<'_, io::Result<Vec<StoredAddress>>> {
        let path = self.path.clone();
        let read = self.with_db(read_all);
        Box::pin(async move {
            let (records, skipped) = read.await?;
            if skipped > 0 {
                tracing::warn!(path = %path.display(), skipped, "the state store has records that cannot be served; skipped them");
            }
            Ok(records)
        })
    }

    fn record(&self, address: StoredAddress) -> BoxFuture<'_, io::Result<()>> {
        let value = match serde_json::to_vec(&address) {
            Ok(value) => value,
            Err(e) => return Box::pin(async move { Err(e.into()) }),
        };
        self.with_db(move |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(RECORDS)?;
                table.insert((address.site.as_str(), &*address.slot()), value.as_slice())?;
            }
            txn.commit()?;
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

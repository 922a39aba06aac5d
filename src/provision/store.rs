//! Where provisioned addresses are remembered across restarts, behind a small trait so that a
//! shared store (Redis, for replicas: `super::redis`) can sit beside the embedded one. The
//! trait also carries what replicas need to agree: a per-pair lease, a record fenced by it, and
//! a feed of what the others record; the embedded stores answer those trivially.
//!
//! The embedded store is an append-only log: one line per record, `<json>\t<xxh3 hex>\n`,
//! written with a single `write` and `fdatasync` before `record` returns. A `kill -9` can only
//! tear the last line, which opening drops; a failed write is cut back off at once; a line
//! that fails its checksum anywhere else is skipped, not allowed to take the lines after it
//! along. So at most the record being written is lost. Each write is O(1); the log is
//! compacted on open when most of it is superseded. A separate `.lock` file (never renamed)
//! is held exclusively, so two processes never append to one log.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub use super::lease::{Claim, Feed, Lease, Recorded, Update};
use crate::address::AddressKind;
use crate::config::ProvisioningConfig;

/// One pair's address as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAddress {
    pub site: String,
    pub language: String,
    pub sid: String,
    /// Absent in records written before there were other kinds: those are Flex Flows.
    #[serde(default, skip_serializing_if = "is_flex_flow")]
    pub kind: AddressKind,
    pub friendly_name: String,
    /// `adopted` (found at Twilio by name) or `created` (by flexroute).
    pub source: String,
    /// Unix seconds.
    pub recorded_at: u64,
}

fn is_flex_flow(kind: &AddressKind) -> bool {
    *kind == AddressKind::FlexFlow
}

impl StoredAddress {
    /// Whether the record's SID has its kind's shape; one that does not (damaged, or written
    /// by something other than flexroute) is skipped, never served.
    pub fn is_servable(&self) -> bool {
        let servable = self.kind.accepts(&self.sid);
        if !servable {
            tracing::warn!(site = %self.site, language = %self.language, kind = %self.kind, "skipping a stored record whose address is not a {} SID", self.kind);
        }
        servable
    }

    /// The record's slot in the store (see [`crate::cache::RouteKey::slot`]).
    pub fn slot(&self) -> std::borrow::Cow<'_, str> {
        crate::cache::slot(&self.language, self.kind)
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait StateStore: Send + Sync {
    /// The latest record of every pair.
    fn load(&self) -> BoxFuture<'_, io::Result<Vec<StoredAddress>>>;
    /// Durable when the future completes. A shared store keeps a record it already has for
    /// the pair (first writer wins) and tells every replica which one is in force.
    fn record(&self, address: StoredAddress) -> BoxFuture<'_, io::Result<()>>;
    /// Human-readable location, for logs (never a secret).
    fn describe(&self) -> String;

    // Coordination between processes that share the store (see `super::flight`). The embedded
    // stores belong to one process, whose in-process single flight is all it takes: their
    // lease is always granted, never expires, and recording with it is plain `record`.

    /// Takes the pair's provisioning lease, or says who has it for how long.
    fn lease<'a>(&'a self, site: &'a str, language: &'a str) -> BoxFuture<'a, io::Result<Claim>> {
        let _ = (site, language);
        Box::pin(async { Ok(Claim::Granted(Lease::local())) })
    }
    /// Extends a held lease by its TTL; `false` when it is no longer the holder's.
    fn renew<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, io::Result<bool>> {
        let _ = lease;
        Box::pin(async { Ok(true) })
    }
    /// Gives a lease back (only its holder can: a stale token deletes nothing).
    fn release<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, io::Result<()>> {
        let _ = lease;
        Box::pin(async { Ok(()) })
    }
    /// Records `address` only while `lease` is still the holder's (fencing), and releases it.
    fn record_leased<'a>(
        &'a self,
        lease: &'a Lease,
        address: StoredAddress,
    ) -> BoxFuture<'a, io::Result<Recorded>> {
        let _ = lease;
        Box::pin(async move { self.record(address).await.map(|()| Recorded::Written) })
    }
    /// One pair's record as the store has it now (a shared store may have learned it from
    /// another replica a moment ago). Embedded stores: everything is in memory already.
    fn fetch<'a>(
        &'a self,
        site: &'a str,
        language: &'a str,
    ) -> BoxFuture<'a, io::Result<Option<StoredAddress>>> {
        let _ = (site, language);
        Box::pin(async { Ok(None) })
    }
    /// What other replicas record, and whether the store is reachable; `None` for stores no
    /// one else writes to. Taken once (the provisioner follows it).
    fn feed(&self) -> Option<Feed> {
        None
    }
}

/// Opens the store a `provisioning.state` value names.
pub fn open(config: &ProvisioningConfig) -> io::Result<Arc<dyn StateStore>> {
    let spec = config.state.as_str();
    if spec.starts_with("redis://") || spec.starts_with("rediss://") {
        return Ok(Arc::new(super::redis::RedisStore::open(config)?));
    }
    match spec.strip_prefix("file:") {
        Some(path) => Ok(Arc::new(FileStore::open(Path::new(path))?)),
        None if spec == "memory:" => Ok(Arc::new(MemoryStore::default())),
        None => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "provisioning.state must be file:PATH, redis://… or rediss://…",
        )),
    }
}

/// Kept in memory only: sandbox mode (whose emulator forgets on restart too) and tests.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<(String, String), StoredAddress>>,
}

impl StateStore for MemoryStore {
    fn load(&self) -> BoxFuture<'_, io::Result<Vec<StoredAddress>>> {
        let records = lock(&self.records).values().cloned().collect();
        Box::pin(async move { Ok(records) })
    }

    fn record(&self, address: StoredAddress) -> BoxFuture<'_, io::Result<()>> {
        let key = (address.site.clone(), address.slot().into_owned());
        lock(&self.records).insert(key, address);
        Box::pin(async { Ok(()) })
    }

    fn describe(&self) -> String {
        "memory (not persisted)".into()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct FileStore {
    path: PathBuf,
    file: Arc<Mutex<File>>,
    records: Vec<StoredAddress>,
    /// Held for the life of the store; the lock goes when it drops.
    _lock: File,
}

impl FileStore {
    /// Opens (creating) the log, drops a torn last line, and takes an exclusive lock so two
    /// processes never append to one log.
    pub fn open(path: &Path) -> io::Result<Self> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let lock_path = path.with_extension("lock");
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)?;
        lock.try_lock().map_err(|_| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is in use by another flexroute process", path.display()),
            )
        })?;
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        if !existed {
            // The new file's directory entry must be durable before records in it are.
            File::open(dir)?.sync_all()?;
        }
        let contents = read_log(&mut file)?;
        if contents.skipped > 0 {
            tracing::warn!(path = %path.display(), skipped = contents.skipped, "state log has damaged records; skipped them");
        }
        if contents.complete_len < file.metadata()?.len() {
            tracing::warn!(path = %path.display(), "state log ends in a torn record; dropping it");
            file.set_len(contents.complete_len)?;
            file.sync_data()?;
        }
        let records: Vec<StoredAddress> = contents.latest.into_values().collect();
        let mut store = Self {
            path: path.to_path_buf(),
            file: Arc::new(Mutex::new(file)),
            records,
            _lock: lock,
        };
        if contents.lines > 2 * store.records.len() + 64
            && let Err(e) = store.compact()
        {
            // Compaction saves space; failing it loses nothing.
            tracing::warn!(path = %path.display(), "cannot compact the state log: {e}");
        }
        Ok(store)
    }

    /// Rewrites the log with only the latest records: temp file, fsync, rename, fsync dir.
    fn compact(&mut self) -> io::Result<()> {
        let tmp = self.path.with_extension("compacting");
        {
            let mut out = File::create(&tmp)?;
            for record in &self.records {
                out.write_all(&encode(record)?)?;
            }
            out.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        *lock(&self.file) = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)?;
        Ok(())
    }
}

/// What opening found in a log.
struct LogContents {
    /// The latest record per (site, slot): a pair has one per address kind.
    latest: HashMap<(String, String), StoredAddress>,
    /// Good lines, superseded ones included.
    lines: usize,
    /// Complete lines that failed their checksum (skipped).
    skipped: usize,
    /// Bytes up to the end of the last complete line; anything after is a torn tail.
    complete_len: u64,
}

fn read_log(file: &mut File) -> io::Result<LogContents> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(&*file);
    let mut contents = LogContents {
        latest: HashMap::new(),
        lines: 0,
        skipped: 0,
        complete_len: 0,
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 || !line.ends_with(b"\n") {
            break; // end, or a torn tail without its newline
        }
        contents.complete_len += read as u64;
        match decode(&line) {
            Some(record) => {
                contents.lines += 1;
                let key = (record.site.clone(), record.slot().into_owned());
                contents.latest.insert(key, record);
            }
            None => contents.skipped += 1,
        }
    }
    Ok(contents)
}

fn encode(record: &StoredAddress) -> io::Result<Vec<u8>> {
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

impl StateStore for FileStore {
    fn load(&self) -> BoxFuture<'_, io::Result<Vec<StoredAddress>>> {
        let records = self.records.clone();
        Box::pin(async move { Ok(records) })
    }

    fn record(&self, address: StoredAddress) -> BoxFuture<'_, io::Result<()>> {
        let file = self.file.clone();
        Box::pin(async move {
            let line = encode(&address)?;
            tokio::task::spawn_blocking(move || {
                let mut file = lock(&file);
                let before = file.metadata()?.len();
                let written = file.write_all(&line).and_then(|()| file.sync_data());
                if written.is_err() {
                    // Never leave half a line for the next record to be appended to.
                    let _ = file.set_len(before);
                }
                written
            })
            .await
            .map_err(io::Error::other)?
        })
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-formed Flex Flow SID standing for `short` (the same one every time).
    fn sid(short: &str) -> String {
        format!("FO{:032x}", xxhash_rust::xxh3::xxh3_128(short.as_bytes()))
    }

    fn address(site: &str, language: &str, short: &str) -> StoredAddress {
        StoredAddress {
            site: site.into(),
            language: language.into(),
            sid: sid(short),
            kind: Default::default(),
            friendly_name: format!("WebChat {site} {language}"),
            source: "created".into(),
            recorded_at: 1,
        }
    }

    #[tokio::test]
    async fn records_survive_reopen_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/log");
        {
            let store = FileStore::open(&path).unwrap();
            store.record(address("a", "en", "FO1")).await.unwrap();
            store.record(address("a", "de", "FO2")).await.unwrap();
            store.record(address("a", "en", "FO3")).await.unwrap();
        }
        // A crash mid-write leaves half a line.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"site\":\"b\",\"lang").unwrap();
        drop(file);
        let store = FileStore::open(&path).unwrap();
        let mut loaded = store.load().await.unwrap();
        loaded.sort_by(|x, y| x.language.cmp(&y.language));
        assert_eq!(
            loaded,
            vec![address("a", "de", "FO2"), address("a", "en", "FO3")]
        );
        store.record(address("b", "en", "FO4")).await.unwrap();
        drop(store);
        assert_eq!(
            FileStore::open(&path).unwrap().load().await.unwrap().len(),
            3
        );
    }

    #[tokio::test]
    async fn a_damaged_line_in_the_middle_costs_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        {
            let store = FileStore::open(&path).unwrap();
            store.record(address("a", "en", "FO1")).await.unwrap();
            store.record(address("a", "de", "FO2")).await.unwrap();
            store.record(address("a", "fr", "FO3")).await.unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let flipped = sid("FO2").replacen("FO", "FX", 1);
        std::fs::write(&path, text.replacen(&sid("FO2"), &flipped, 1)).unwrap(); // a flipped byte
        let store = FileStore::open(&path).unwrap();
        let mut sids: Vec<String> = store
            .load()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.sid)
            .collect();
        sids.sort();
        let mut expected = [sid("FO1"), sid("FO3")];
        expected.sort();
        assert_eq!(sids, expected);
        store.record(address("a", "de", "FO4")).await.unwrap();
        drop(store);
        assert_eq!(
            FileStore::open(&path).unwrap().load().await.unwrap().len(),
            3
        );
    }

    /// A line whose checksum holds but whose address is not a SID of its kind (written by
    /// something else, or damaged before it was summed) is skipped, never served.
    #[tokio::test]
    async fn a_record_that_is_not_a_sid_of_its_kind_is_never_served() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        {
            let store = FileStore::open(&path).unwrap();
            store.record(address("a", "en", "FO1")).await.unwrap();
        }
        let mut forged = address("a", "de", "FO2");
        forged.sid = "FO<script>".into();
        let mut wrong_kind = address("a", "fr", "FO3");
        wrong_kind.kind = AddressKind::Conversations; // an FO SID recorded as a chat address
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&encode(&forged).unwrap()).unwrap();
        file.write_all(&encode(&wrong_kind).unwrap()).unwrap();
        drop(file);
        let loaded = FileStore::open(&path).unwrap().load().await.unwrap();
        assert_eq!(loaded, vec![address("a", "en", "FO1")]);
    }

    #[tokio::test]
    async fn a_second_process_cannot_open_the_same_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let _first = FileStore::open(&path).unwrap();
        let second = FileStore::open(&path).err().expect("locked");
        assert!(second.to_string().contains("in use"), "{second}");
    }

    #[tokio::test]
    async fn superseded_records_are_compacted_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        {
            let store = FileStore::open(&path).unwrap();
            for i in 0..200 {
                store
                    .record(address("a", "en", &format!("FO{i}")))
                    .await
                    .unwrap();
            }
        }
        let store = FileStore::open(&path).unwrap();
        assert_eq!(
            store.load().await.unwrap(),
            vec![address("a", "en", "FO199")]
        );
        drop(store);
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(lines, 1);
    }
}

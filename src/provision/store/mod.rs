//! Where provisioned addresses are remembered across restarts, behind one trait, a file per
//! backend: the embedded redb database (`embedded`, which replaced the append-only log of
//! earlier versions, migrated on first open: `oldlog`), the shared Redis store for replicas
//! (`redis`), and the in-memory one (`memory`: sandbox mode and tests). The trait also carries
//! what replicas need to agree (`lease`): a per-pair lease, a record fenced by it, and a feed of
//! what the others record; the embedded stores answer those trivially.

mod embedded;
mod lease;
mod memory;
mod oldlog;
pub mod redis;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::address::AddressKind;
use crate::config::ProvisioningConfig;
use crate::config::state_url::Backend;
pub use embedded::FileStore;
pub use lease::{Claim, Feed, Lease, Recorded, StoreProblem, Update};
pub use memory::MemoryStore;
pub use redis::RedisStore;

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
    /// `adopted` (found at Twilio by name) or `created` (by flexroute); what a replica
    /// writes back is `stored` when it learned the address from the store.
    pub source: super::Source,
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
    /// Records `address` unless the pair has a record already, and says which one is in
    /// force (`Written`, or the `Existing` record, which wins).
    fn record_if_absent(&self, address: StoredAddress) -> BoxFuture<'_, io::Result<Recorded>> {
        Box::pin(async move { self.record(address).await.map(|()| Recorded::Written) })
    }
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
    match config.state.backend() {
        Backend::Redis => Ok(Arc::new(RedisStore::open(config)?)),
        Backend::File(path) => Ok(Arc::new(FileStore::open(path)?)),
        Backend::Unknown => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "provisioning.state must be file:PATH, redis://… or rediss://…",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::oldlog;
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
            source: crate::provision::Source::Created,
            recorded_at: 1,
        }
    }

    async fn sorted(store: &dyn StateStore) -> Vec<StoredAddress> {
        let mut loaded = store.load().await.unwrap();
        loaded.sort_by(|x, y| (&x.site, &x.language).cmp(&(&y.site, &y.language)));
        loaded
    }

    #[tokio::test]
    async fn records_survive_reopen_keyed_by_site_and_slot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/db");
        {
            let store = FileStore::open(&path).unwrap();
            store.record(address("a", "en", "FO1")).await.unwrap();
            store.record(address("a", "de", "FO2")).await.unwrap();
            store.record(address("a", "en", "FO3")).await.unwrap();
            let mut chat = address("a", "en", "IS1");
            chat.kind = AddressKind::Conversations;
            chat.sid = format!("IG{:032x}", 7);
            store.record(chat).await.unwrap();
        }
        let store = FileStore::open(&path).unwrap();
        let loaded = sorted(&store).await;
        assert_eq!(loaded.len(), 3, "{loaded:?}");
        assert_eq!(loaded[0], address("a", "de", "FO2"));
        let en: Vec<_> = loaded.iter().filter(|r| r.language == "en").collect();
        assert!(en.iter().any(|r| r.sid == sid("FO3")));
        assert!(en.iter().any(|r| r.kind == AddressKind::Conversations));
    }

    /// A value that does not decode, is not the record of its key, or whose address is not a
    /// SID of its kind (written by something else, or damaged) is skipped, never served.
    #[tokio::test]
    async fn a_record_that_is_not_a_sid_of_its_kind_is_never_served() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = FileStore::open(&path).unwrap();
            store.record(address("a", "en", "FO1")).await.unwrap();
            let mut forged = address("a", "de", "FO2");
            forged.sid = "FO<script>".into();
            store.record(forged).await.unwrap();
            let mut wrong_kind = address("a", "fr", "FO3");
            wrong_kind.kind = AddressKind::Conversations; // an FO SID recorded as a chat address
            store.record(wrong_kind).await.unwrap();
        }
        {
            // Garbage and a record filed under another pair's key, written behind our back.
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut table = txn
                    .open_table(redb::TableDefinition::<(&str, &str), &[u8]>::new(
                        "addresses",
                    ))
                    .unwrap();
                table.insert(("a", "it"), b"not json".as_slice()).unwrap();
                let misfiled = serde_json::to_vec(&address("a", "en", "FO9")).unwrap();
                table.insert(("b", "en"), misfiled.as_slice()).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = FileStore::open(&path).unwrap();
        assert_eq!(store.load().await.unwrap(), vec![address("a", "en", "FO1")]);
    }

    /// The database file itself is locked: a second open of it is refused, through a symlink
    /// too, naming the path; two different files never share a lock.
    #[tokio::test]
    async fn a_second_open_of_the_same_file_is_refused_even_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.v1");
        let _first = FileStore::open(&path).unwrap();
        let second = FileStore::open(&path).err().expect("locked");
        assert!(second.to_string().contains("in use"), "{second}");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let through_link = FileStore::open(&link).err().expect("locked");
        assert!(
            through_link
                .to_string()
                .contains(&link.display().to_string())
                && through_link.to_string().contains("in use"),
            "{through_link}"
        );
        // Names that differ only in their extension are different stores.
        FileStore::open(&dir.path().join("state.v2")).unwrap();
    }

    /// `/dev/null`, a directory, a dangling symlink: refused at open, with the path named.
    #[test]
    fn a_path_that_cannot_hold_the_state_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere/at/all"), &dangling).unwrap();
        for path in [Path::new("/dev/null"), dir.path(), &dangling] {
            let e = FileStore::open(path).err().expect("refused");
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
    }

    /// A log written by earlier versions is moved into the database on first open: its latest
    /// records kept, a torn tail, a bad checksum and a huge garbage line skipped (the huge line
    /// streamed past, never held), the old log kept as `PATH.log-migrated`, and opening
    /// through a symlink migrates the file it points to and leaves the link alone.
    #[tokio::test]
    async fn an_old_log_is_migrated_once_and_kept_beside_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("flexroute-state");
        let mut log = Vec::new();
        log.extend(oldlog::encode(&address("a", "en", "FO1")).unwrap());
        log.extend(oldlog::encode(&address("a", "de", "FO2")).unwrap());
        let mut bad_sum = oldlog::encode(&address("a", "fr", "FO3")).unwrap();
        let at = bad_sum.len() - 3;
        bad_sum[at] = if bad_sum[at] == b'0' { b'1' } else { b'0' };
        log.extend(bad_sum);
        log.extend(vec![b'x'; 8 * 1024 * 1024]); // a huge garbage line
        log.push(b'\n');
        log.extend(oldlog::encode(&address("a", "en", "FO4")).unwrap()); // supersedes FO1
        log.extend(oldlog::encode(&address("b", "en", "FO5")).unwrap());
        log.extend(&oldlog::encode(&address("c", "en", "FO6")).unwrap()[..40]); // torn tail
        std::fs::write(&real, &log).unwrap();
        let link = dir.path().join("via-link");
        std::os::unix::fs::symlink(&real, &link).unwrap();

        let store = FileStore::open(&link).unwrap();
        assert_eq!(
            sorted(&store).await,
            vec![
                address("a", "de", "FO2"),
                address("a", "en", "FO4"),
                address("b", "en", "FO5")
            ]
        );
        store.record(address("d", "en", "FO7")).await.unwrap();
        drop(store);
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        let kept = dir.path().join("flexroute-state.log-migrated");
        assert_eq!(
            std::fs::read(&kept).unwrap(),
            log,
            "the old log is kept as it was"
        );
        // Opened again: a database now, not migrated twice.
        let store = FileStore::open(&real).unwrap();
        assert_eq!(store.load().await.unwrap().len(), 4);
        assert!(!dir.path().join("flexroute-state.log-migrated.2").exists());
    }

    /// The reader never holds a line longer than its bound, and counts what it skipped.
    #[test]
    fn the_old_log_reader_streams_past_a_huge_line() {
        let mut log = Vec::new();
        log.extend(oldlog::encode(&address("a", "en", "FO1")).unwrap());
        log.extend(vec![b'{'; 3 * oldlog::MAX_LINE]);
        log.push(b'\n');
        log.extend(oldlog::encode(&address("a", "de", "FO2")).unwrap());
        log.extend(b"torn");
        let reader = std::io::BufReader::with_capacity(4096, log.as_slice());
        let (mut records, counts) = oldlog::read(reader).unwrap();
        records.sort_by(|x, y| x.language.cmp(&y.language));
        assert_eq!(
            records,
            vec![address("a", "de", "FO2"), address("a", "en", "FO1")]
        );
        assert_eq!(
            counts,
            oldlog::Counts {
                lines: 2,
                damaged: 0,
                oversized: 1,
                torn: true
            }
        );
    }
}

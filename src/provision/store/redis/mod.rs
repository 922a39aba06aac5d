//! The state store replicas share (`provisioning.state = "redis://…"` or `"rediss://…"`):
//! records in one Redis hash, a per-pair lease with a fencing token so that one replica at a
//! time may create a pair's address, and a pub/sub channel (plus a periodic re-read) through
//! which every replica learns what the others recorded. See docs/replicas.md for the
//! guarantee and what it relies on.
//!
//! Connections: `provisioning.redis_pool_size` multiplexed connection managers, used in
//! turn. One multiplexed connection pipelines any number of concurrent commands, so the pool
//! is not about concurrency: it keeps a large re-read from delaying lease renewals queued
//! behind it on the same socket, and a connection that timed out is replaced without
//! stalling the others. Each reconnects by itself; nothing is connected until first used, so
//! the process starts while Redis is down.

mod commands;
mod follow;
mod scripts;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisError};
use tokio::sync::watch;

use super::{StoreProblem, StoredAddress};
use crate::config::ProvisioningConfig;
use crate::config::state_url::{self as url, describe};
use scripts::Keys;

/// Records read per `HSCAN` round trip when re-reading everything.
const SCAN_BATCH: usize = 1000;

pub struct RedisStore {
    inner: Arc<Inner>,
    /// The follower task, started when the feed is taken; stopped with the store.
    follower: Mutex<Option<tokio::task::AbortHandle>>,
}

struct Inner {
    client: redis::Client,
    pool: Vec<Mutex<ConnectionManager>>,
    next: AtomicUsize,
    manager_config: ConnectionManagerConfig,
    keys: Keys,
    connect_timeout: Duration,
    command_timeout: Duration,
    lease_ttl: Duration,
    resync_every: Duration,
    available: watch::Sender<bool>,
    /// Why Redis fails now (`None` while it answers).
    problem: watch::Sender<Option<StoreProblem>>,
    /// Where the URL points, for telling a TLS failure from an unreachable host.
    endpoint: Option<(String, u16, bool)>,
    /// While Redis fails, one warning per this interval (the last one's time).
    warn_every: Duration,
    warned_at: Mutex<Option<Instant>>,
    /// The last TCP probe's time and answer: at most one per [`PROBE_EVERY`].
    probed: Mutex<Option<(Instant, bool)>>,
    description: String,
    /// The epoch this replica last saw in Redis ('' before the first answer): another one
    /// means Redis lost its data (see `scripts`).
    epoch: Mutex<String>,
    /// Wakes the follower to re-read everything and write back what Redis lost, at once.
    resync_now: tokio::sync::Notify,
    /// Lease requests (and releases) that got no answer here but may have run in Redis, by
    /// lease key: their nonces. A grant nobody holds is deleted as soon as Redis answers.
    strays: Mutex<HashMap<String, Vec<String>>>,
}

/// Stray grants remembered per pair (older ones are dropped: their leases have expired long
/// before this many requests timed out).
const MAX_STRAYS: usize = 8;

/// How long a TCP probe's answer (TLS failure or unreachable host) is reused.
const PROBE_EVERY: Duration = Duration::from_secs(1);

impl RedisStore {
    /// Prepares the pool without connecting (the first command does): the process starts
    /// while Redis is down, and serves what it can.
    pub fn open(config: &ProvisioningConfig) -> io::Result<Self> {
        let client = redis::Client::open(config.state.as_str()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "provisioning.state is not a Redis URL the client accepts",
            )
        })?;
        let connect_timeout = Duration::from_millis(config.redis_connect_timeout_ms);
        let command_timeout = Duration::from_millis(config.redis_command_timeout_ms);
        // No retries inside a command: it fails fast and the next one reconnects, so a request
        // never waits out a reconnection schedule while Redis is down.
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(command_timeout))
            .set_number_of_retries(0);
        let pool = (0..config.redis_pool_size.max(1))
            .map(|_| new_manager(&client, &manager_config).map(Mutex::new))
            .collect::<io::Result<Vec<_>>>()?;
        let description = format!(
            "redis {} (key prefix `{}`, {} connection(s))",
            describe(&config.state),
            config.redis_key_prefix,
            pool.len()
        );
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                pool,
                next: AtomicUsize::new(0),
                manager_config,
                keys: Keys::new(&config.redis_key_prefix),
                connect_timeout,
                command_timeout,
                lease_ttl: Duration::from_millis(config.redis_lease_ttl_ms),
                resync_every: Duration::from_millis(config.redis_resync_ms),
                available: watch::Sender::new(false),
                problem: watch::Sender::new(None),
                endpoint: url::endpoint(&config.state),
                warn_every: Duration::from_millis(config.redis_warn_every_ms),
                warned_at: Mutex::new(None),
                probed: Mutex::new(None),
                description,
                epoch: Mutex::new(String::new()),
                resync_now: tokio::sync::Notify::new(),
                strays: Mutex::new(HashMap::new()),
            }),
            follower: Mutex::new(None),
        })
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        if let Some(task) = self.follower.lock().take() {
            task.abort();
        }
    }
}

fn new_manager(
    client: &redis::Client,
    config: &ConnectionManagerConfig,
) -> io::Result<ConnectionManager> {
    ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
        .map_err(|e| io::Error::other(format!("cannot set up Redis connections: {:?}", e.kind())))
}

/// A nonce unique to this process and grant: a holder's token never equals another's, even
/// after Redis lost its fence counters and numbers start again from 1.
fn nonce() -> String {
    static PROCESS: LazyLock<u64> = LazyLock::new(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = format!("{nanos}:{}:{:p}", std::process::id(), &nanos);
        xxhash_rust::xxh3::xxh3_64(seed.as_bytes())
    });
    static GRANTS: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:016x}-{}",
        *PROCESS,
        GRANTS.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether an error means Redis cannot be reached (as opposed to a refused command).
fn unreachable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}

/// An error for logs and callers: its kind and Redis's own words, never the URL.
fn io_error(e: &RedisError) -> io::Error {
    let kind = if unreachable(e) {
        io::ErrorKind::ConnectionAborted
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, format!("redis: {e}"))
}

/// What a failure says about Redis, before any probe: `None` when only a probe can tell a TLS
/// failure from an unreachable host.
fn classify(e: &RedisError, tls: bool) -> Option<StoreProblem> {
    if e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
    {
        return Some(StoreProblem::Auth);
    }
    if tls && !e.is_connection_refusal() && (unreachable(e) || e.is_io_error()) {
        return None;
    }
    if unreachable(e) {
        return Some(StoreProblem::Unreachable);
    }
    Some(StoreProblem::Other)
}

impl Inner {
    /// Notes a failure: its category (`flexroute_state_store_problem`, `/admin/routes`) and,
    /// at most once per `redis_warn_every_ms` while failures last, a warning with the reason
    /// and the URL with its credentials masked.
    async fn failed(&self, detail: &str, error: Option<&RedisError>) {
        let tls = self.endpoint.as_ref().is_some_and(|(_, _, tls)| *tls);
        let problem = match error.map(|e| classify(e, tls)) {
            Some(Some(problem)) => problem,
            // A timeout, or a broken TLS connection: the host answering TCP means the TLS
            // handshake is what fails.
            _ if tls && self.tcp_answers().await => StoreProblem::Tls,
            _ => StoreProblem::Unreachable,
        };
        self.problem.send_if_modified(|now| {
            let changed = *now != Some(problem);
            *now = Some(problem);
            changed
        });
        let mut warned_at = self.warned_at.lock();
        if warned_at.is_none_or(|at| at.elapsed() >= self.warn_every) {
            *warned_at = Some(Instant::now());
            drop(warned_at);
            let hint = match problem {
                StoreProblem::Auth => "check the password (or user) in provisioning.state",
                StoreProblem::Unreachable => "check the host and port, and that Redis runs",
                StoreProblem::Tls => {
                    "check rediss:// against the server's TLS setup and its certificate"
                }
                StoreProblem::Other => "see the error",
            };
            tracing::warn!(
                store = %self.description,
                reason = problem.as_str(),
                "the shared state store fails ({}): {hint}; {detail}",
                problem.as_str()
            );
        }
    }

    /// Notes that Redis answered: no problem any more.
    fn answered(&self) {
        self.problem.send_if_modified(|now| now.take().is_some());
        *self.warned_at.lock() = None;
    }

    /// Whether a TCP connection to the URL's host and port opens (within the connect timeout);
    /// a recent answer is reused, so failing commands do not each wait for a probe.
    async fn tcp_answers(&self) -> bool {
        if let Some((at, answered)) = *self.probed.lock()
            && at.elapsed() < PROBE_EVERY
        {
            return answered;
        }
        let Some((host, port, _)) = &self.endpoint else {
            return false;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let connect = tokio::net::TcpStream::connect((host, *port));
        let answered = matches!(
            tokio::time::timeout(self.connect_timeout, connect).await,
            Ok(Ok(_))
        );
        *self.probed.lock() = Some((Instant::now(), answered));
        answered
    }

    /// The epoch this replica last saw ('' if none yet).
    fn epoch_seen(&self) -> String {
        self.epoch.lock().clone()
    }

    /// Takes in the epoch Redis answered with. A different one than this replica saw means
    /// Redis lost its data: the follower re-reads and writes back what it knows, now.
    fn saw_epoch(&self, epoch: &str) -> bool {
        let mut seen = self.epoch.lock();
        if *seen == epoch {
            return false;
        }
        let lost = !seen.is_empty();
        *seen = epoch.to_string();
        drop(seen);
        if lost {
            tracing::warn!(
                store = %self.description,
                quiet_ms = self.lease_ttl.as_millis() as u64,
                "the shared state store lost its data (restarted empty, or flushed): writing back every address this replica knows; no new address is created for one lease TTL"
            );
            self.resync_now.notify_one();
        }
        lost
    }

    /// Runs the heartbeat's epoch check (see [`scripts::EPOCH`]); whether Redis lost its data
    /// since the last one.
    async fn check_epoch(&self) -> io::Result<bool> {
        let mut invocation = scripts::EPOCH.prepare_invoke();
        invocation
            .key(&self.keys.epoch)
            .key(&self.keys.quiet)
            .arg(self.epoch_seen())
            .arg(nonce())
            .arg(self.lease_ttl.as_millis() as u64);
        let epoch: String = self
            .call(async move |mut c| invocation.invoke_async(&mut c).await)
            .await?;
        Ok(self.saw_epoch(&epoch))
    }

    fn strays_of(&self, lease_key: &str) -> Vec<String> {
        self.strays
            .lock()
            .get(lease_key)
            .cloned()
            .unwrap_or_default()
    }

    fn stray(&self, lease_key: &str, nonce: String) {
        let mut strays = self.strays.lock();
        let nonces = strays.entry(lease_key.to_string()).or_default();
        if nonces.len() >= MAX_STRAYS {
            nonces.remove(0);
        }
        nonces.push(nonce);
    }

    /// A lease request that carried `handled` was answered: each of them is deleted or no
    /// longer holds the lease.
    fn settled_strays(&self, lease_key: &str, handled: &[String]) {
        if handled.is_empty() {
            return;
        }
        let mut strays = self.strays.lock();
        if let Some(nonces) = strays.get_mut(lease_key) {
            nonces.retain(|n| !handled.contains(n));
            if nonces.is_empty() {
                strays.remove(lease_key);
            }
        }
    }

    /// Deletes every lease a stray grant of this replica holds (Redis answers again).
    async fn release_strays(&self) {
        let pending: Vec<(String, Vec<String>)> = self
            .strays
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (lease_key, nonces) in pending {
            let mut invocation = scripts::RELEASE_STRAYS.prepare_invoke();
            invocation.key(&lease_key).arg(&nonces);
            let released: io::Result<i64> = self
                .call(async move |mut c| invocation.invoke_async(&mut c).await)
                .await;
            match released {
                Ok(deleted) => {
                    if deleted == 1 {
                        tracing::info!(lease = %lease_key, "deleted a lease granted to a request that timed out here");
                    }
                    self.settled_strays(&lease_key, &nonces);
                }
                Err(_) => return,
            }
        }
    }

    fn set_available(&self, up: bool) {
        self.available.send_if_modified(|now| {
            let changed = *now != up;
            *now = up;
            changed
        });
    }

    /// The next connection of the pool, and its slot.
    fn connection(&self) -> (usize, ConnectionManager) {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len();
        (slot, self.pool[slot].lock().clone())
    }

    /// Runs one command on the next connection, bounded in time, and notes whether Redis
    /// answered. A connection whose command timed out is replaced (a silently dead peer would
    /// otherwise keep it "open" for minutes).
    async fn call<T, F, Fut>(&self, op: F) -> io::Result<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let (slot, connection) = self.connection();
        // A command may first have to (re)connect.
        let limit = self.connect_timeout + self.command_timeout;
        match tokio::time::timeout(limit, op(connection)).await {
            Ok(Ok(value)) => {
                self.set_available(true);
                self.answered();
                Ok(value)
            }
            Ok(Err(e)) => {
                if unreachable(&e) {
                    self.set_available(false);
                    if e.is_timeout() {
                        self.replace(slot);
                    }
                }
                let error = io_error(&e);
                self.failed(&error.to_string(), Some(&e)).await;
                Err(error)
            }
            Err(_) => {
                self.set_available(false);
                self.replace(slot);
                let error = io::Error::new(
                    io::ErrorKind::TimedOut,
                    "redis: no answer within redis_connect_timeout_ms + redis_command_timeout_ms",
                );
                self.failed(&error.to_string(), None).await;
                Err(error)
            }
        }
    }

    fn replace(&self, slot: usize) {
        if let Ok(fresh) = new_manager(&self.client, &self.manager_config) {
            *self.pool[slot].lock() = fresh;
        }
    }

    /// The write counter (`None` before the first write).
    async fn version(&self) -> io::Result<Option<i64>> {
        let key = self.keys.version.clone();
        self.call(async move |mut c| c.get(key).await).await
    }

    /// The version, then every record (a write during the scan bumps the version past what
    /// this returns, so the next check reads again).
    async fn snapshot(&self) -> io::Result<(Option<i64>, Vec<StoredAddress>)> {
        let version = self.version().await?;
        let mut records = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let key = self.keys.addresses.clone();
            let (next, batch): (u64, Vec<(String, String)>) = self
                .call(async move |mut c| {
                    redis::cmd("HSCAN")
                        .arg(key)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(SCAN_BATCH)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            records.extend(batch.into_iter().filter_map(|(_, json)| parse(&json)));
            cursor = next;
            if cursor == 0 {
                return Ok((version, records));
            }
        }
    }
}

/// A record as stored; a damaged one is skipped (and said so), never fatal.
fn parse(json: &str) -> Option<StoredAddress> {
    match serde_json::from_str::<StoredAddress>(json) {
        Ok(record) => record.is_servable().then_some(record),
        Err(e) => {
            tracing::warn!("skipping an unreadable record in Redis: {e}");
            None
        }
    }
}

fn to_json(record: &StoredAddress) -> io::Result<String> {
    serde_json::to_string(record).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_whose_address_is_not_a_sid_of_its_kind_is_skipped() {
        let record = |sid: &str, kind: &str| {
            format!(
                r#"{{"site":"shop","language":"en","sid":"{sid}",{kind}"friendly_name":"WebChat shop en","source":"created","recorded_at":1}}"#
            )
        };
        let flow = format!("FO{}", "a".repeat(32));
        assert!(parse(&record(&flow, "")).is_some());
        assert!(parse(&record("FO<script>", "")).is_none());
        assert!(parse(&record(&flow, r#""kind":"conversations","#)).is_none());
        let chat = format!("IG{}", "b".repeat(32));
        assert!(parse(&record(&chat, r#""kind":"conversations","#)).is_some());
        assert!(parse("not json").is_none());
    }
}

//! The vocabulary of coordination between replicas that share a state store: the per-pair
//! provisioning lease and its fencing token, what a fenced record did, and the feed of records
//! other replicas write. `crate::provision::lease_flight` uses it; `super::redis` implements
//! it.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

use super::StoredAddress;

/// The answer to [`StateStore::lease`].
#[derive(Debug)]
pub enum Claim {
    Granted(Lease),
    /// Another process holds the lease; it expires in this long unless renewed.
    Busy {
        expires_in: Duration,
    },
}

/// What [`StateStore::record_leased`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Written,
    /// The pair already had this record (written without a lease, e.g. by `apply`): it wins.
    Existing(StoredAddress),
    /// The lease was no longer the caller's: nothing was written.
    LeaseLost,
}

/// A pair's provisioning lease. `token` (`<fence>:<nonce>`) is what the store compares: the
/// fence comes from a per-pair counter and only grows, the nonce is this process's and this
/// grant's. The holder counts the lease as its own only until `valid_until`, measured on its
/// own monotonic clock from before the request that took or renewed it, less a margin for
/// clock-rate drift, so it stops trusting the lease before the store lets it expire.
#[derive(Debug)]
pub struct Lease {
    site: String,
    language: String,
    pub token: String,
    pub fence: u64,
    /// `None`: never expires (embedded stores).
    pub ttl: Option<Duration>,
    valid_until: Mutex<Option<Instant>>,
}

impl Lease {
    /// The embedded stores' lease: always granted, never expires.
    pub fn local() -> Self {
        Self {
            site: String::new(),
            language: String::new(),
            token: String::new(),
            fence: 0,
            ttl: None,
            valid_until: Mutex::new(None),
        }
    }

    /// A lease the store granted for `ttl` in answer to a request sent at `sent_at`.
    pub fn granted(
        (site, language): (&str, &str),
        token: String,
        fence: u64,
        ttl: Duration,
        sent_at: Instant,
    ) -> Self {
        let lease = Self {
            site: site.to_string(),
            language: language.to_string(),
            token,
            fence,
            ttl: Some(ttl),
            valid_until: Mutex::new(None),
        };
        lease.extended(sent_at);
        lease
    }

    /// The pair a store granted this lease for (`None` for the embedded stores' lease).
    pub fn pair(&self) -> Option<(&str, &str)> {
        self.ttl
            .map(|_| (self.site.as_str(), self.language.as_str()))
    }

    /// A renewal sent at `sent_at` succeeded.
    pub fn extended(&self, sent_at: Instant) {
        if let Some(ttl) = self.ttl {
            // 10 % for the two clocks' rates: the store's expiry and ours.
            *self.valid_until.lock() = Some(sent_at + ttl.mul_f64(0.9));
        }
    }

    /// The store said another holder has it.
    pub fn mark_lost(&self) {
        *self.valid_until.lock() = None;
    }

    /// Whether the holder may still count on it.
    pub fn is_valid(&self) -> bool {
        self.remaining() > Duration::ZERO
    }

    /// How much longer the holder may count on it (`Duration::MAX` for the embedded stores).
    pub fn remaining(&self) -> Duration {
        match self.ttl {
            None => Duration::MAX,
            Some(_) => self.valid_until.lock().map_or(Duration::ZERO, |until| {
                until.saturating_duration_since(Instant::now())
            }),
        }
    }

    /// Waits until the lease is valid for at least `needed` (a renewal extends it), or says it
    /// is lost. A create starts only then, so that it ends (or times out) before the store could
    /// give the lease to another replica, even if Redis becomes unreachable the moment after.
    pub async fn valid_for(&self, needed: Duration) -> bool {
        loop {
            let remaining = self.remaining();
            if remaining >= needed {
                return true;
            }
            if remaining.is_zero() {
                return false;
            }
            tokio::time::sleep(remaining.min(Duration::from_millis(20))).await;
        }
    }
}

/// Updates from a shared store, for the provisioner.
pub struct Feed {
    pub updates: mpsc::UnboundedReceiver<Update>,
    /// Whether the store answers now.
    pub available: watch::Receiver<bool>,
    /// Why it does not, as far as the last failure tells (`None` once it answers).
    pub problem: watch::Receiver<Option<StoreProblem>>,
}

/// Why a shared store fails, in bounded categories (a metric label, an admin field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreProblem {
    /// The store refused the credentials (`NOAUTH`, `WRONGPASS`, an ACL refusal).
    Auth,
    /// No connection: host unknown, connection refused, no answer in time.
    Unreachable,
    /// The TLS handshake failed (`rediss://` to a plain server, a certificate refused).
    Tls,
    /// Anything else the store answered with.
    Other,
}

impl StoreProblem {
    pub const ALL: [StoreProblem; 4] = [Self::Auth, Self::Unreachable, Self::Tls, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Unreachable => "unreachable",
            Self::Tls => "tls",
            Self::Other => "other",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Update {
    /// A record another replica (or this one) just wrote.
    Recorded(StoredAddress),
    /// Every record, re-read after a reconnect or because the store changed since the last
    /// read; records this replica knows but the store lacks should be written back.
    Snapshot(Vec<StoredAddress>),
}

//! A faithful in-process Flex API v1 for `/v1/FlexFlows` (reference/twilio-oai/): what keeps
//! flexroute's Twilio client honest in tests, what `flexroute serve --sandbox` provisions
//! against, and what `flexroute emulator` serves to front-end developers without a Twilio
//! account. Bodies, status codes, error codes and paging follow the spec and Twilio's own
//! examples; [`Switches`] add the faults a real upstream has (latency, 429/5xx now, for a while
//! or at random, down).

mod api;
mod auth;
mod flows;
mod link;
mod list;
mod params;
mod store;
mod switches;
mod time;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::response::Response;

pub use self::params::is_sid;
use self::store::Store;
use self::switches::Injected;
pub use self::switches::Switches;
use crate::twilio::Credentials;
use crate::twilio::types::FlexFlow;

/// The emulator: flows, accepted credentials, switches and call counters. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    account_sid: String,
    credentials: Vec<Credentials>,
    switches: Switches,
    store: Store,
    calls: [AtomicU64; Op::ALL.len()],
    /// Requests being answered now, and the most there ever were at once.
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// Decrements the in-flight count when a request is answered (or dropped).
pub(crate) struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The API's operations, as counted by [`Emulator::calls`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    List,
    Fetch,
    Create,
    Update,
    Delete,
}

impl Op {
    const ALL: [Op; 5] = [Op::List, Op::Fetch, Op::Create, Op::Update, Op::Delete];
}

impl Emulator {
    /// `account_sid` is stamped on created flows; `credentials` are the accepted Basic-auth
    /// pairs (Account SID + Auth Token, or API Key SID + Secret).
    pub fn new(account_sid: impl Into<String>, credentials: Vec<Credentials>) -> Self {
        Self {
            shared: Arc::new(Shared {
                account_sid: account_sid.into(),
                credentials,
                switches: Switches::default(),
                store: Store::new(),
                calls: Default::default(),
                in_flight: AtomicU64::new(0),
                max_in_flight: AtomicU64::new(0),
            }),
        }
    }

    /// The `/v1/FlexFlows` API, authentication and switches included (except `down`, which
    /// only [`Emulator::serve`] can honour).
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }

    /// Serves on `listener` until `shutdown` completes. While the `down` switch is on, the
    /// listening socket is closed (connects get ECONNREFUSED) and open connections are cut;
    /// when it goes off, the same address is bound again, with the same flows.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        link::serve(self, listener, shutdown).await
    }

    pub fn switches(&self) -> &Switches {
        &self.shared.switches
    }

    /// A snapshot of every flow, in creation order. `url` is the one a flow was created under
    /// (answers build it from each request's `Host`).
    pub fn flows(&self) -> Vec<FlexFlow> {
        self.shared.store.all()
    }

    /// Stores a flow as if it had existed before (for tests of adopting an existing flow); a
    /// flow with the same SID is replaced.
    pub fn insert_flow(&self, flow: FlexFlow) {
        self.shared.store.insert(flow);
    }

    /// The most requests this emulator was answering at one time (latency included), so a
    /// test can check a client's cap on concurrent calls.
    pub fn max_in_flight(&self) -> u64 {
        self.shared.max_in_flight.load(Ordering::Relaxed)
    }

    /// The requests this emulator is answering now (latency included).
    pub fn in_flight(&self) -> u64 {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// Marks a request in flight until the returned guard drops.
    pub(crate) fn enter(&self) -> InFlight {
        let now = self.shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.shared.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(self.shared.clone())
    }

    /// Requests received for `op`: counted after authentication, including those the switches
    /// failed and those that found no flow.
    pub fn calls(&self, op: Op) -> u64 {
        self.shared.calls[op as usize].load(Ordering::Relaxed)
    }

    pub fn account_sid(&self) -> &str {
        &self.shared.account_sid
    }

    fn credentials(&self) -> &[Credentials] {
        &self.shared.credentials
    }

    fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Counts a request for `op`; returns the failure the switches inject into it, which
    /// answers it instead, if any. (Creates use [`Emulator::count`]: theirs may come after.)
    fn count_call(&self, op: Op) -> Option<Response> {
        match self.count(op)? {
            Injected::Fail(status) => Some(self.injected_failure(status)),
            Injected::FailAfterApplying => None,
        }
    }

    /// Counts a request for `op`; what the switches do to it.
    fn count(&self, op: Op) -> Option<Injected> {
        self.shared.calls[op as usize].fetch_add(1, Ordering::Relaxed);
        self.switches().take_failure(op == Op::Create)
    }

    /// Twilio's error body for `status`, with `Retry-After` when the switches say so.
    fn injected_failure(&self, status: u16) -> Response {
        api::injected_failure(status, self.switches().retry_after())
    }
}

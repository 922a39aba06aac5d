//! A faithful in-process emulator of the Twilio APIs flexroute calls (tests/reference/twilio-oai/):
//! Flex v1 `/v1/FlexFlows`, Flex v2 `/v2/WebChats`, and Conversations v1
//! `/v1/Configuration/Addresses` and `/v1/Conversations/{Sid}/Messages`, all on one listener
//! (Twilio serves them from two hosts; a client points both bases here). It is what keeps
//! flexroute's Twilio client honest in tests, what `flexroute serve --sandbox` provisions
//! against, and what `flexroute emulator` serves to front-end developers without a Twilio
//! account. Bodies, status codes, error codes and paging follow the specs and Twilio's own
//! examples; [`Switches`] add the faults a real upstream has (latency, 429/5xx now, for a while
//! or at random, down) to every route alike.

mod address_params;
mod addresses;
mod answer;
mod api;
mod auth;
mod chats;
mod conversation;
mod flows;
mod form;
mod link;
mod list;
mod messages;
mod params;
mod sids;
mod store;
mod switches;
mod time;
mod web_chats;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::response::Response;

use self::chats::Chats;
pub use self::chats::{RecordedMessage, RecordedWebChat};
pub use self::form::is_sid;
use self::store::Store;
use self::switches::Injected;
pub use self::switches::Switches;
pub use self::web_chats::MAX_PRE_ENGAGEMENT_BYTES;
use crate::twilio::Credentials;
use crate::twilio::conversations::AddressConfiguration;
use crate::twilio::types::FlexFlow;

/// The emulator: flows, address configurations, web chats and their messages, accepted
/// credentials, switches and call counters. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    account_sid: String,
    credentials: Vec<Credentials>,
    switches: Switches,
    store: Store<FlexFlow>,
    addresses: Store<AddressConfiguration>,
    chats: Chats,
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

/// The APIs' operations, as counted by [`Emulator::calls`]: the Flex Flow ones (`List` …
/// `Delete`), then the address configuration ones, then web chats and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    List,
    Fetch,
    Create,
    Update,
    Delete,
    AddressList,
    AddressFetch,
    AddressCreate,
    AddressUpdate,
    AddressDelete,
    WebChatCreate,
    MessageCreate,
    ConversationFetch,
}

impl Op {
    const ALL: [Op; 13] = [
        Op::List,
        Op::Fetch,
        Op::Create,
        Op::Update,
        Op::Delete,
        Op::AddressList,
        Op::AddressFetch,
        Op::AddressCreate,
        Op::AddressUpdate,
        Op::AddressDelete,
        Op::WebChatCreate,
        Op::MessageCreate,
        Op::ConversationFetch,
    ];

    /// Whether it creates something, which a 5xx may leave created (see
    /// [`Switches::fail_at_random`]): every POST that is not an update.
    pub fn is_create(self) -> bool {
        matches!(
            self,
            Op::Create | Op::AddressCreate | Op::WebChatCreate | Op::MessageCreate
        )
    }
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
                addresses: Store::new(),
                chats: Chats::new(),
                calls: Default::default(),
                in_flight: AtomicU64::new(0),
                max_in_flight: AtomicU64::new(0),
            }),
        }
    }

    /// Every API, authentication and switches included (except `down`, which only
    /// [`Emulator::serve`] can honour).
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

    /// A snapshot of every address configuration, in creation order. `url` is the one it was
    /// created under (answers build it from each request's `Host`).
    pub fn addresses(&self) -> Vec<AddressConfiguration> {
        self.shared.addresses.all()
    }

    /// Stores an address configuration as if it had existed before (an address made in the
    /// Console, say); one with the same SID is replaced. Nothing is checked: a test can store
    /// what the API would refuse, e.g. one without auto-creation.
    pub fn insert_address(&self, address: AddressConfiguration) {
        self.shared.addresses.insert(address);
    }

    /// Every web chat opened, in order, with what the client sent (the pre-engagement data
    /// parsed, the `Ui-Version` header).
    pub fn web_chats(&self) -> Vec<RecordedWebChat> {
        self.shared.chats.web_chats()
    }

    /// Every message posted, in order, with whether it asked for webhooks.
    pub fn messages(&self) -> Vec<RecordedMessage> {
        self.shared.chats.messages()
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

    fn store(&self) -> &Store<FlexFlow> {
        &self.shared.store
    }

    fn address_store(&self) -> &Store<AddressConfiguration> {
        &self.shared.addresses
    }

    fn chats(&self) -> &Chats {
        &self.shared.chats
    }

    /// The address configuration `key` names: its SID, or else its address (the spec's `{Sid}`
    /// "can be either the `sid` or the `address`"; of several types with one address, the
    /// oldest).
    fn find_address(&self, key: &str) -> Option<AddressConfiguration> {
        let addresses = self.address_store();
        addresses
            .get(key)
            .or_else(|| addresses.find(|a| a.address.as_deref() == Some(key)))
    }

    /// Counts a request for `op`; returns the failure the switches inject into it, which
    /// answers it instead, if any. (Creates use [`Emulator::count_create`]: theirs may come
    /// after.)
    fn count_call(&self, op: Op) -> Option<Response> {
        match self.count(op)? {
            Injected::Fail(status) => Some(self.injected_failure(status)),
            Injected::FailAfterApplying => None,
        }
    }

    /// Counts a create for `op`: `Err` with the failure that answers it instead of creating,
    /// or whether it must fail after it took effect (a random 5xx; pass it to
    /// [`Emulator::created`]).
    fn count_create(&self, op: Op) -> Result<bool, answer::Refusal> {
        match self.count(op) {
            Some(Injected::Fail(status)) => Err(self.injected_failure(status).into()),
            injected => Ok(injected == Some(Injected::FailAfterApplying)),
        }
    }

    /// After a create took effect: the 500 that answers it when it was to fail after applying,
    /// or when `fail_next_creates_after_applying` says so.
    fn created(&self, fail_after_applying: bool) -> Result<(), answer::Refusal> {
        if fail_after_applying || self.switches().take_failure_after_create() {
            return Err(answer::injected_failure(500, None).into());
        }
        Ok(())
    }

    /// Counts a request for `op`; what the switches do to it.
    fn count(&self, op: Op) -> Option<Injected> {
        self.shared.calls[op as usize].fetch_add(1, Ordering::Relaxed);
        self.switches().take_failure(op.is_create())
    }

    /// Twilio's error body for `status`, with `Retry-After` when the switches say so.
    fn injected_failure(&self, status: u16) -> Response {
        answer::injected_failure(status, self.switches().retry_after())
    }
}

//! What the tests share, in one place: starters (the server in process, the real binary, a
//! fleet of replicas, the emulator, Redis, a faulty TCP proxy, Chromium), constants and
//! helpers for requests and answers. Test files import from here and define no copies.
//!
//! - `server`: [`Server`] in process through `flexroute::run`; [`FIXTURE`], [`ADMIN_TOKEN`].
//! - `process`: the real `flexroute` binary ([`Running`]), a [`Fleet`] of replicas.
//! - `emulator`: the Twilio emulator, its [`ACCOUNT`], servers provisioning against it,
//!   [`flows_named`].
//! - `conversations`: the same for `conversations` pairs (API key, Conversations service).
//! - `http`: a [`client`], [`json`], [`answer`], [`sid`], [`metric`], [`eventually`].
//! - `jwt`: a visitor token's segments, the clock in milliseconds.
//! - `source`: the repository's `.rs` files, for the tests that read code.
//! - `redis`, `proxy`, `webdriver`, `python`, `rng`: a real `redis-server`, a TCP proxy with
//!   faults, Chromium through WebDriver, Twilio's Python library, a seeded generator.

pub mod conversations;
pub mod emulator;
pub mod http;
pub mod jwt;
pub mod process;
pub mod proxy;
pub mod python;
pub mod redis;
pub mod rng;
pub mod server;
pub mod source;
pub mod webdriver;

pub use emulator::{ACCOUNT, TOKEN, emulator, flows_named, services, start_provisioning};
pub use http::{answer, client, eventually, json, metric, raw_exchange, series, sid};
pub use process::{BIN, EXAMPLE, Fleet, Running, replica_env, upstream_env};
pub use proxy::{Fault, Proxy};
pub use redis::RedisServer;
pub use rng::Rng;
pub use server::{ADMIN_TOKEN, FIXTURE, Server};

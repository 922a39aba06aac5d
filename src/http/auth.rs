//! The admin API's bearer token: how strong it must be to start at all, how a request's
//! `Authorization` header is read, and what a client that keeps getting it wrong runs into —
//! every refusal counted (`flexroute_admin_auth_failures_total{reason}`), logged at most once
//! per `log_every` with a count, and an address that sends too many wrong tokens refused
//! (`429` with `Retry-After`) for a while, in memory bounded by `max_addresses`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};
use moka::sync::Cache;
use parking_lot::Mutex;
use prometheus::IntCounter;

use super::AppState;
use super::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;

/// The fewest characters `FLEXROUTE_ADMIN_TOKEN` may have.
pub const MIN_TOKEN_CHARS: usize = 24;
/// The fewest different characters it may have.
pub const MIN_DISTINCT_CHARS: usize = 8;

/// Whether `token` may be `FLEXROUTE_ADMIN_TOKEN`: at least [`MIN_TOKEN_CHARS`] characters,
/// all visible ASCII (what an `Authorization` header can carry), at least
/// [`MIN_DISTINCT_CHARS`] different ones, and not a shorter string written out again and again
/// (`abcabcabc…`, `changeme-changeme-…`). A random token (`openssl rand -hex 32`) passes.
/// The error names the rule broken, never the token.
pub fn check_admin_token(token: &str) -> Result<(), String> {
    let advice = "generate one with `openssl rand -hex 32`";
    if let Some(bad) = token.bytes().position(|b| !b.is_ascii_graphic()) {
        return Err(format!(
            "FLEXROUTE_ADMIN_TOKEN is refused: character {} is not visible ASCII (letters, \
            digits and punctuation only; no spaces), so no client could send it; {advice}",
            bad + 1
        ));
    }
    let length = token.len();
    if length < MIN_TOKEN_CHARS {
        return Err(format!(
            "FLEXROUTE_ADMIN_TOKEN is too weak: it has {length} character{}, at least \
            {MIN_TOKEN_CHARS} are needed; {advice}",
            plural(length)
        ));
    }
    let mut seen = [false; 128];
    for b in token.bytes() {
        seen[usize::from(b)] = true;
    }
    let distinct = seen.iter().filter(|s| **s).count();
    if distinct < MIN_DISTINCT_CHARS {
        return Err(format!(
            "FLEXROUTE_ADMIN_TOKEN is too weak: it uses {distinct} different character{}, at \
            least {MIN_DISTINCT_CHARS} are needed; {advice}",
            plural(distinct)
        ));
    }
    let period = shortest_period(token.as_bytes());
    if period * 2 <= length {
        return Err(format!(
            "FLEXROUTE_ADMIN_TOKEN is too weak: it is one string of {period} character{} written \
            again and again; {advice}",
            plural(period)
        ));
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The smallest `p` such that `text[i] == text[i + p]` wherever both exist (the length itself
/// when nothing shorter repeats), from the Knuth–Morris–Pratt failure function: linear time.
fn shortest_period(text: &[u8]) -> usize {
    let mut border = vec![0usize; text.len()];
    let mut k = 0;
    for i in 1..text.len() {
        while k > 0 && text[i] != text[k] {
            k = border[k - 1];
        }
        if text[i] == text[k] {
            k += 1;
        }
        border[i] = k;
    }
    text.len() - border.last().copied().unwrap_or(0)
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is matched in any case
/// (RFC 9110 §11.1: `bearer`, `BEARER`); `None` without a header or with another scheme.
fn bearer_token(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let space = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = rest.trim_ascii_start();
    (!token.is_empty()).then_some(token)
}

/// Takes the same time whatever the inputs hold and however long the expected token is: every
/// byte of the longer input is compared (the shorter is read as zeros past its end), and a
/// length difference only sets the result, so neither the token's bytes nor its length can
/// be learnt from response times. Only the length the caller sent shows, which it knows.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let longest = given.len().max(expected.len());
    let differences = (0..longest).fold(0u8, |acc, i| {
        let a = given.get(i).copied().unwrap_or(0);
        let b = expected.get(i).copied().unwrap_or(0);
        acc | (a ^ b)
    });
    differences == 0 && given.len() == expected.len()
}

/// What an address that keeps sending wrong admin tokens is held to. Only a bearer token can
/// ever be right, so only wrong bearer tokens count toward a block; requests without one are
/// counted and logged, never blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminLockout {
    /// Wrong tokens from one address (an IPv6 client: its /64) within `window` that block it;
    /// 0 never blocks.
    pub max_failures: u32,
    pub window: Duration,
    /// How long a blocked address is answered `429` on `/admin/*`, whatever it sends.
    pub block: Duration,
    /// Addresses whose failures are remembered; past it the least used are forgotten.
    pub max_addresses: u64,
    /// At most one log line per this interval for refusals, and one for blocks, each with a
    /// count of what happened since the last.
    pub log_every: Duration,
}

impl Default for AdminLockout {
    /// 10 wrong tokens in a minute block an address for 5 minutes.
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::from_secs(60),
            block: Duration::from_secs(300),
            max_addresses: 10_000,
            log_every: Duration::from_secs(10),
        }
    }
}

/// One address's recent wrong tokens.
struct Failures {
    since: Instant,
    count: u32,
    blocked_until: Option<Instant>,
}

/// Why a request was refused: the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Missing,
    Wrong,
    Blocked,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Wrong => "wrong",
            Refusal::Blocked => "blocked",
        }
    }
}

/// Lets one log line through per interval and counts the events in between.
struct Throttle {
    every: u64,
    epoch: Instant,
    /// Nanoseconds since `epoch` before which no line is written.
    next: AtomicU64,
    /// Events since the last line.
    pending: AtomicU64,
}

impl Throttle {
    fn new(every: Duration, epoch: Instant) -> Self {
        Self {
            every: u64::try_from(every.as_nanos()).unwrap_or(u64::MAX / 2),
            epoch,
            next: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        }
    }

    /// Counts one event; `Some(events since the last line, this one included)` when a line
    /// may be written now.
    fn event(&self, now: Instant) -> Option<u64> {
        self.pending.fetch_add(1, Ordering::AcqRel);
        let at = u64::try_from(now.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(u64::MAX / 2);
        let next = self.next.load(Ordering::Acquire);
        if at < next {
            return None;
        }
        self.next
            .compare_exchange(
                next,
                at.saturating_add(self.every),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .ok()?;
        Some(self.pending.swap(0, Ordering::AcqRel))
    }
}

/// The admin API's gate: the token, the per-address failures, the counters and log throttles.
pub struct AdminAuth {
    token: Box<[u8]>,
    lockout: AdminLockout,
    failures: Cache<IpAddr, Arc<Mutex<Failures>>>,
    refused: [IntCounter; 3],
    refusal_log: Throttle,
    block_log: Throttle,
}

impl AdminAuth {
    /// The gate for `token` (already checked by [`check_admin_token`]).
    pub fn new(token: &str, lockout: AdminLockout, metrics: &Metrics) -> Self {
        let epoch = Instant::now();
        let idle = lockout
            .window
            .max(lockout.block)
            .max(Duration::from_secs(1));
        let refused = [Refusal::Missing, Refusal::Wrong, Refusal::Blocked]
            .map(|r| metrics.admin_auth_failures.with_label_values(&[r.as_str()]));
        Self {
            token: token.as_bytes().into(),
            lockout,
            // An entry idle for the longer of the window and the block is in the state of a
            // new one (its window is over, and so is any block), so forgetting it changes
            // nothing.
            failures: Cache::builder()
                .max_capacity(lockout.max_addresses.max(1))
                .time_to_idle(idle)
                .build(),
            refused,
            refusal_log: Throttle::new(lockout.log_every, epoch),
            block_log: Throttle::new(lockout.log_every, epoch),
        }
    }

    /// `Err(wait)` while `peer` is blocked.
    fn blocked(&self, peer: IpAddr, now: Instant) -> Result<(), Duration> {
        let Some(failures) = self.failures.get(&super::limit::key(peer)) else {
            return Ok(());
        };
        let failures = failures.lock();
        match failures.blocked_until {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a wrong token from `peer`; true when it is the one that blocks it.
    fn failed(&self, peer: IpAddr, now: Instant) -> bool {
        if self.lockout.max_failures == 0 {
            return false;
        }
        let entry = self.failures.get_with(super::limit::key(peer), || {
            Arc::new(Mutex::new(Failures {
                since: now,
                count: 0,
                blocked_until: None,
            }))
        });
        let mut failures = entry.lock();
        match failures.blocked_until {
            // A request that passed the block check while another one started the block.
            Some(until) if until > now => return false,
            Some(_) => {
                *failures = Failures {
                    since: now,
                    count: 0,
                    blocked_until: None,
                }
            }
            None if now.saturating_duration_since(failures.since) >= self.lockout.window => {
                failures.since = now;
                failures.count = 0;
            }
            None => {}
        }
        failures.count += 1;
        if failures.count < self.lockout.max_failures {
            return false;
        }
        failures.blocked_until = Some(now + self.lockout.block);
        true
    }

    /// The right token from `peer`: its earlier failures are forgotten.
    fn succeeded(&self, peer: IpAddr) {
        self.failures.invalidate(&super::limit::key(peer));
    }

    /// Counts a refusal, and logs it unless a line was written less than `log_every` ago.
    fn count(&self, refusal: Refusal, peer: Option<IpAddr>, now: Instant) {
        self.refused[refusal as usize].inc();
        if let Some(refused) = self.refusal_log.event(now) {
            tracing::warn!(
                peer = %Peer(peer),
                reason = refusal.as_str(),
                refused,
                "admin API: refused a request without the right token (`refused`: every refusal since the last such line)"
            );
        }
    }

    /// Logs (throttled) that `peer` is now blocked.
    fn log_block(&self, peer: IpAddr, now: Instant) {
        if let Some(blocked) = self.block_log.event(now) {
            tracing::warn!(
                peer = %peer,
                failures = self.lockout.max_failures,
                window_secs = self.lockout.window.as_secs_f64(),
                block_secs = self.lockout.block.as_secs_f64(),
                blocked,
                "admin API: address blocked after too many wrong tokens (`blocked`: addresses blocked since the last such line)"
            );
        }
    }
}

/// A peer address for a log line, when the request carried one.
struct Peer(Option<IpAddr>);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// `429 rate_limited` with `Retry-After` in whole seconds (at least 1, rounded up).
fn blocked_response(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = ApiError::new(
        ErrorCode::RateLimited,
        "too many wrong admin tokens from this address; retry later",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// Route layer of `/admin/*`: `404` without a configured token; `429` while the peer is
/// blocked (the token is not looked at); `401` without the right bearer token.
pub async fn require_token(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(auth) = app.admin.as_ref() else {
        return ApiError::new(ErrorCode::NotFound, "no such endpoint").into_response();
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip().to_canonical());
    let now = Instant::now();
    if let Some(peer) = peer
        && let Err(wait) = auth.blocked(peer, now)
    {
        auth.count(Refusal::Blocked, Some(peer), now);
        return blocked_response(wait);
    }
    let Some(given) = bearer_token(request.headers()) else {
        auth.count(Refusal::Missing, peer, now);
        return unauthorized();
    };
    if constant_time_eq(given, &auth.token) {
        if let Some(peer) = peer {
            auth.succeeded(peer);
        }
        return next.run(request).await;
    }
    if let Some(peer) = peer
        && auth.failed(peer, now)
    {
        auth.log_block(peer, now);
    }
    auth.count(Refusal::Wrong, peer, now);
    unauthorized()
}

fn unauthorized() -> Response {
    ApiError::new(ErrorCode::Unauthorized, "missing or wrong admin token").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_when_equal() {
        let token = b"admin-token-51aa0f3e";
        assert!(constant_time_eq(token, token));
        assert!(!constant_time_eq(b"admin-token-51aa0f3f", token));
        assert!(!constant_time_eq(b"admin-token", token), "a prefix");
        assert!(
            !constant_time_eq(b"admin-token-51aa0f3e\0", token),
            "zero padding"
        );
        assert!(!constant_time_eq(b"", token));
        assert!(!constant_time_eq(token, b""));
    }

    #[test]
    fn the_admin_listener_is_loopback_by_default() {
        let server = crate::config::ServerConfig::default();
        let address: std::net::SocketAddr = server.admin_listen.parse().unwrap();
        assert!(address.ip().is_loopback(), "{address}");
    }

    #[test]
    fn weak_tokens_are_refused_with_the_rule_and_never_the_token() {
        for (token, rule) in [
            ("z", "it has 1 character, at least 24"),
            ("admin-token-test-77", "it has 19 characters, at least 24"),
            (
                "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
                "it uses 1 different character, at least 8",
            ),
            (
                "0101010101012323232323230101",
                "it uses 4 different characters, at least 8",
            ),
            (
                "changeme-changeme-changeme",
                "one string of 9 characters written again",
            ),
            (
                "abcdefghabcdefghabcdefgh",
                "one string of 8 characters written again",
            ),
            (
                "correct horse battery staple",
                "character 8 is not visible ASCII",
            ),
            (
                "tökenwithmorethan24characters",
                "character 2 is not visible ASCII",
            ),
        ] {
            let error = check_admin_token(token).unwrap_err();
            assert!(error.contains(rule), "{token:?}: {error}");
            assert!(error.starts_with("FLEXROUTE_ADMIN_TOKEN"), "{error}");
            assert!(!error.contains(token), "{error}");
        }
        for token in [
            "3f9c2a7e4b1d8f6091ac5e7d2b4c6a8e",
            "Xq2-9vLr_Tz8!mWc#4kPb7Ns",
            "0123456789abcdefghijklmn",
            "550e8400-e29b-41d4-a716-446655440000",
            // A repeated part that is not the whole token over again is fine.
            "changeme-changeme-changeme-0f3a9c71",
        ] {
            assert_eq!(check_admin_token(token), Ok(()), "{token}");
        }
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        let token = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            bearer_token(&headers).map(|t| String::from_utf8(t.to_vec()).unwrap())
        };
        for value in ["Bearer t0k", "bearer t0k", "BEARER t0k", "bEaReR   t0k"] {
            assert_eq!(token(value).as_deref(), Some("t0k"), "{value}");
        }
        for value in [
            "Bearer",
            "Bearer ",
            "Basic dTpw",
            "Bearert0k",
            "t0k",
            "Token t0k",
        ] {
            assert_eq!(token(value), None, "{value}");
        }
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn wrong_tokens_block_an_address_until_the_block_ends() {
        let lockout = AdminLockout {
            max_failures: 3,
            window: Duration::from_secs(10),
            block: Duration::from_secs(60),
            ..AdminLockout::default()
        };
        let auth = AdminAuth::new("3f9c2a7e4b1d8f6091ac5e7d2b4c6a8e", lockout, &Metrics::new());
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let start = Instant::now();
        assert!(!auth.failed(a, start));
        assert!(!auth.failed(a, start));
        // The window ends: the count starts again.
        let later = start + Duration::from_secs(11);
        assert!(!auth.failed(a, later));
        assert!(!auth.failed(a, later));
        assert_eq!(auth.blocked(a, later), Ok(()));
        assert!(auth.failed(a, later), "the third in one window blocks");
        assert_eq!(auth.blocked(a, later), Err(Duration::from_secs(60)));
        assert_eq!(auth.blocked(b, later), Ok(()), "another address is not");
        let end = later + Duration::from_secs(60);
        assert_eq!(
            auth.blocked(a, end - Duration::from_millis(1)),
            Err(Duration::from_millis(1))
        );
        assert_eq!(auth.blocked(a, end), Ok(()));
        // After the block, a fresh count.
        assert!(!auth.failed(a, end));
        assert!(!auth.failed(a, end));
        // A success forgets the failures.
        auth.succeeded(a);
        assert!(!auth.failed(a, end));
        assert!(!auth.failed(a, end));
        // Addresses of one IPv6 /64 share a count.
        let (v6a, v6b): (IpAddr, IpAddr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::ffff".parse().unwrap(),
        );
        assert!(!auth.failed(v6a, start));
        assert!(!auth.failed(v6b, start));
        assert!(auth.failed(v6a, start));
        assert!(auth.blocked(v6b, start).is_err());
    }

    #[test]
    fn a_throttled_log_lets_one_line_through_per_interval_with_the_count() {
        let start = Instant::now();
        let throttle = Throttle::new(Duration::from_secs(10), start);
        assert_eq!(throttle.event(start), Some(1));
        for _ in 0..99 {
            assert_eq!(throttle.event(start + Duration::from_secs(5)), None);
        }
        assert_eq!(throttle.event(start + Duration::from_secs(10)), Some(100));
        assert_eq!(throttle.event(start + Duration::from_secs(11)), None);
    }
}

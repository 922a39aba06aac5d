//! The optional per-client rate limit of `/v1/webchat/config` (`server.rate_limit_*`): one
//! GCRA state (a theoretical arrival time) per client address, in a cache of bounded size, so
//! that requests from any number of addresses cost bounded memory. The client address is the
//! TCP peer, or — only when the peer is one of `server.trusted_proxies` — the right-most
//! address in `server.client_ip_header` that is not itself a trusted proxy (the addresses to
//! its left were written by whoever sent the request, and can be anything).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, header};
use ipnet::IpNet;
use moka::sync::Cache;
use prometheus::IntCounter;

use super::AppState;
use super::error::{ApiError, ErrorCode};
use crate::config::{ServerConfig, parse_trusted_proxy};

/// Who a request comes from.
pub struct ClientIp {
    trusted: Vec<IpNet>,
    header: HeaderName,
}

impl ClientIp {
    /// From a validated configuration (entries that do not parse are left out).
    pub fn new(server: &ServerConfig) -> Self {
        Self {
            trusted: server
                .trusted_proxies
                .iter()
                .filter_map(|p| parse_trusted_proxy(p).ok())
                .collect(),
            header: HeaderName::from_bytes(server.client_ip_header.as_bytes())
                .unwrap_or(HeaderName::from_static("x-forwarded-for")),
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the header's
    /// right-most entry that is not a trusted proxy. An entry that is not an address ends the
    /// walk at the last trusted hop, which is then taken as the client.
    pub fn of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.is_trusted(client) {
            return client;
        }
        for value in headers.get_all(&self.header).iter().rev() {
            let Ok(text) = value.to_str() else {
                return client;
            };
            for entry in text.rsplit(',') {
                let Some(hop) = parse_hop(entry) else {
                    return client;
                };
                if !self.is_trusted(hop) {
                    return hop;
                }
                client = hop;
            }
        }
        client
    }
}

/// One entry of an `X-Forwarded-For`-style list: `1.2.3.4`, `2001:db8::1`, `[2001:db8::1]`,
/// or any of them with a port.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let bracketed = || entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok();
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(bracketed)?;
    Some(ip.to_canonical())
}

/// IPv6 clients are limited per /64: one subscriber usually holds a whole /64, and keying on
/// full addresses would let it take a fresh burst with every address.
pub(super) fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u64::MAX as u128))),
    }
}

/// Generic cell rate algorithm: a request is allowed when the client's theoretical arrival
/// time, advanced by one interval, is at most `burst` intervals ahead of now.
pub struct RateLimit {
    /// Nanoseconds per request at the configured rate.
    interval: u64,
    /// `burst` intervals, in nanoseconds.
    tolerance: u64,
    epoch: Instant,
    /// Per client key: the theoretical arrival time, in nanoseconds since `epoch`. An entry
    /// idle for `tolerance` is in the same state as a new one, so expiring it changes nothing.
    clients: Cache<IpAddr, Arc<AtomicU64>>,
    client_ip: ClientIp,
    limited: IntCounter,
}

/// The limiter's longest-lived state: far beyond any realistic `burst / rate`.
const MAX_IDLE: Duration = Duration::from_secs(7 * 24 * 3600);

impl RateLimit {
    /// Whether the configuration asks for a limit (`rate_limit_per_second` > 0).
    pub fn configured(server: &ServerConfig) -> bool {
        let rate = server.rate_limit_per_second;
        rate.is_finite() && rate > 0.0
    }

    /// The limiter the configuration asks for; `None` when `rate_limit_per_second` is 0.
    pub fn new(server: &ServerConfig, limited: IntCounter) -> Option<Self> {
        if !Self::configured(server) {
            return None;
        }
        let rate = server.rate_limit_per_second;
        let cap = u64::MAX / 4;
        let interval = (1e9 / rate).min(cap as f64).max(1.0) as u64;
        let tolerance = interval
            .saturating_mul(u64::from(server.rate_limit_burst.max(1)))
            .min(cap);
        let idle = Duration::from_nanos(tolerance).clamp(Duration::from_secs(1), MAX_IDLE);
        Some(Self {
            interval,
            tolerance,
            epoch: Instant::now(),
            clients: Cache::builder()
                .max_capacity(server.rate_limit_max_clients.max(1))
                .time_to_idle(idle)
                .build(),
            client_ip: ClientIp::new(server),
            limited,
        })
    }

    /// `Err(wait)` when `client` must wait before its next request is allowed.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let now = u64::try_from(now.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(u64::MAX / 2);
        let state = self
            .clients
            .get_with(key(client), || Arc::new(AtomicU64::new(0)));
        let mut tat = state.load(Ordering::Acquire);
        loop {
            let next = tat.max(now).saturating_add(self.interval);
            let ahead = next - now;
            if ahead > self.tolerance {
                return Err(Duration::from_nanos(ahead - self.tolerance));
            }
            match state.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(seen) => tat = seen,
            }
        }
    }

    /// Client addresses whose state is held (at most `server.rate_limit_max_clients`).
    pub fn clients(&self) -> u64 {
        self.clients.run_pending_tasks();
        self.clients.entry_count()
    }
}

/// Route layer of `/v1/webchat/config` when a rate is configured: `429 rate_limited` with
/// `Retry-After` (whole seconds, at least 1) once a client's burst is spent.
pub async fn limit(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let (Some(limit), Some(ConnectInfo(peer))) = (
        app.rate_limit.as_ref(),
        request.extensions().get::<ConnectInfo<SocketAddr>>(),
    ) else {
        return next.run(request).await;
    };
    let client = limit.client_ip.of(peer.ip(), request.headers());
    match limit.check(client, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            limit.limited.inc();
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut response = ApiError::new(
                ErrorCode::RateLimited,
                "too many requests from this address; retry later",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_ip(trusted: &[&str]) -> ClientIp {
        ClientIp::new(&ServerConfig {
            trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
            ..ServerConfig::default()
        })
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_peer() {
        let c = client_ip(&["10.0.0.0/8", "192.0.2.1"]);
        let forwarded = headers(&["203.0.113.9"]);
        assert_eq!(c.of(ip("198.51.100.4"), &forwarded), ip("198.51.100.4"));
        assert_eq!(c.of(ip("10.1.2.3"), &forwarded), ip("203.0.113.9"));
        assert_eq!(c.of(ip("192.0.2.1"), &forwarded), ip("203.0.113.9"));
        // A mapped IPv4 peer (a dual-stack listener) is the same peer.
        assert_eq!(c.of(ip("::ffff:10.1.2.3"), &forwarded), ip("203.0.113.9"));
        assert_eq!(c.of(ip("10.1.2.3"), &HeaderMap::new()), ip("10.1.2.3"));
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        let c = client_ip(&["10.0.0.0/8"]);
        // The client wrote the first two itself; the trusted proxies appended the rest.
        let chain = headers(&["1.1.1.1, 2.2.2.2", "198.51.100.7, 10.0.0.5", "10.0.0.6"]);
        assert_eq!(c.of(ip("10.0.0.9"), &chain), ip("198.51.100.7"));
        // Ports and brackets are accepted.
        let ported = headers(&["[2001:db8::1]:443, 10.0.0.5:1234"]);
        assert_eq!(c.of(ip("10.0.0.9"), &ported), ip("2001:db8::1"));
        // Only trusted hops: the furthest of them.
        assert_eq!(
            c.of(ip("10.0.0.9"), &headers(&["10.0.0.1, 10.0.0.2"])),
            ip("10.0.0.1")
        );
        // Garbage ends the walk at the last trusted hop, never at an address left of it.
        let garbage = headers(&["1.1.1.1, nonsense, 10.0.0.5"]);
        assert_eq!(c.of(ip("10.0.0.9"), &garbage), ip("10.0.0.5"));
    }

    #[test]
    fn proxies_parse_as_addresses_or_blocks() {
        assert!(parse_trusted_proxy("10.0.0.0/8").is_ok());
        assert!(parse_trusted_proxy("::1").is_ok());
        assert!(parse_trusted_proxy("2001:db8::/32").is_ok());
        assert!(parse_trusted_proxy("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxy("proxy.internal").is_err());
    }

    #[test]
    fn a_burst_then_the_rate() {
        let server = ServerConfig {
            rate_limit_per_second: 2.0,
            rate_limit_burst: 3,
            ..ServerConfig::default()
        };
        let limit = RateLimit::new(&server, IntCounter::new("t", "t").unwrap()).unwrap();
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limit.check(a, start), Ok(()));
        }
        assert_eq!(limit.check(a, start), Err(Duration::from_millis(500)));
        assert_eq!(
            limit.check(b, start),
            Ok(()),
            "another client is not affected"
        );
        let later = start + Duration::from_millis(500);
        assert_eq!(limit.check(a, later), Ok(()));
        assert!(limit.check(a, later).is_err());
        // Addresses of one IPv6 /64 share a state.
        let (v6a, v6b) = (ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff::9"));
        for _ in 0..3 {
            assert_eq!(limit.check(v6a, start), Ok(()));
        }
        assert!(limit.check(v6b, start).is_err());
        assert_eq!(limit.check(ip("2001:db8:1:3::1"), start), Ok(()));
    }

    #[test]
    fn off_without_a_rate() {
        let counter = IntCounter::new("t", "t").unwrap();
        assert!(RateLimit::new(&ServerConfig::default(), counter).is_none());
    }
}

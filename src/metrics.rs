//! Prometheus series, in a registry the application owns so that tests can read
//! exact values. Labels are bounded: routes are the router's patterns, statuses are the ones
//! flexroute sends, and site/language pairs come from the config, never from a request.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub cache_hits: IntCounter,
    pub cache_misses: IntCounter,
    pub cache_entries: IntGauge,
    served: IntCounterVec,
    routes: IntGaugeVec,
    pub config_reloads: IntCounterVec,
    pub config_last_success: Gauge,
    pub provisions: IntCounterVec,
    pub upstream_requests: IntCounterVec,
    pub upstream_duration: HistogramVec,
    /// 1 while the state store answers (always, for the embedded ones).
    pub state_store_up: IntGauge,
    /// 1 for the reason the shared store fails now (`auth`, `unreachable`, `tls`, `other`).
    pub state_store_problem: IntGaugeVec,
    /// Addresses served whose record the state store could not write yet (retried).
    pub unpersisted_addresses: IntGauge,
    pub duplicate_addresses: IntGauge,
    /// Provisioning leases of a shared store, by outcome.
    pub leases: IntCounterVec,
    /// Public requests refused by the per-client rate limit (no client label: unbounded).
    pub rate_limited: IntCounter,
    /// Client addresses the rate limiter holds state for.
    pub rate_limit_clients: IntGauge,
    /// `initWebchat` calls by configured pair and outcome.
    pub webchat_sessions: IntCounterVec,
    /// `refreshToken` calls by configured pair and outcome.
    pub token_refreshes: IntCounterVec,
    /// `/admin/*` requests refused for their credentials, by reason (three fixed values; no
    /// address label: unbounded).
    pub admin_auth_failures: IntCounterVec,
}

/// Buckets for a service that answers from memory in microseconds, but may wait for an
/// upstream for seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "flexroute_http_requests_total",
                "HTTP requests answered on the public listener, by route pattern and status.",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "flexroute_http_request_duration_seconds",
                "Time to answer a public request, by route pattern.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("valid metric");
        let cache_hits = IntCounter::new(
            "flexroute_cache_hits_total",
            "Widget config answers served from the in-memory cache.",
        )
        .expect("valid metric");
        let cache_misses = IntCounter::new(
            "flexroute_cache_misses_total",
            "Widget config answers that had to be built.",
        )
        .expect("valid metric");
        let cache_entries = IntGauge::new(
            "flexroute_cache_entries",
            "Answers held in the in-memory cache (at most server.cache_max_entries).",
        )
        .expect("valid metric");
        let served = IntCounterVec::new(
            Opts::new(
                "flexroute_widget_configs_served_total",
                "Widget configs served (200 and 304), by site and negotiated language (degraded answers included).",
            ),
            &["site", "language"],
        )
        .expect("valid metric");
        let routes = IntGaugeVec::new(
            Opts::new(
                "flexroute_routes",
                "Configured (site, language) pairs by state.",
            ),
            &["state"],
        )
        .expect("valid metric");
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "flexroute_config_reloads_total",
                "Configuration reloads, by outcome.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let config_last_success = Gauge::new(
            "flexroute_config_last_reload_success_timestamp_seconds",
            "Unix time at which the configuration in force was loaded.",
        )
        .expect("valid metric");
        let provisions = IntCounterVec::new(
            Opts::new(
                "flexroute_provision_total",
                "Addresses settled for a (site, language) pair, by where they came from, or failed attempts.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let upstream_requests = IntCounterVec::new(
            Opts::new(
                "flexroute_upstream_requests_total",
                "Calls to Twilio's Flex and Conversations APIs, by operation and HTTP status (2xx, a code, timeout or error).",
            ),
            &["op", "status"],
        )
        .expect("valid metric");
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                "flexroute_upstream_request_duration_seconds",
                "Time of calls to Twilio's Flex and Conversations APIs, by operation.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["op"],
        )
        .expect("valid metric");
        let state_store_up = IntGauge::new(
            "flexroute_state_store_up",
            "1 while the state store answers, 0 while a shared (Redis) store cannot be reached.",
        )
        .expect("valid metric");
        let state_store_problem = IntGaugeVec::new(
            Opts::new(
                "flexroute_state_store_problem",
                "1 for the reason the shared (Redis) store fails now, 0 for the others: auth (credentials refused), unreachable (no connection), tls (handshake or certificate), other. All 0 while it answers.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let unpersisted_addresses = IntGauge::new(
            "flexroute_unpersisted_addresses",
            "Addresses being served whose record the state store could not write (disk full, Redis down): a restart would have to find them again at Twilio. Retried every few seconds.",
        )
        .expect("valid metric");
        let duplicate_addresses = IntGauge::new(
            "flexroute_duplicate_addresses",
            "Addresses at Twilio that carry a configured pair's name besides the one the pair is served with (or, for a pair without one, all of them): orphans of a create Twilio applied late. Found by the look after each create and by every look-up; `flexroute plan` lists them.",
        )
        .expect("valid metric");
        let leases = IntCounterVec::new(
            Opts::new(
                "flexroute_provision_leases_total",
                "Provisioning leases asked of a shared store: granted, busy (another replica holds it; this one waits), lost (expired or taken before the record).",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let rate_limited = IntCounter::new(
            "flexroute_rate_limited_total",
            "Public requests answered 429 by the per-client rate limit (server.rate_limit_per_second).",
        )
        .expect("valid metric");
        let rate_limit_clients = IntGauge::new(
            "flexroute_rate_limit_clients",
            "Client addresses the rate limiter holds state for (at most server.rate_limit_max_clients).",
        )
        .expect("valid metric");
        let webchat_sessions = IntCounterVec::new(
            Opts::new(
                "flexroute_webchat_sessions_total",
                "Visitors' chats asked of the session backend (initWebchat), by configured site and language: started, unavailable (no address in time), upstream_error (Twilio refused or failed), invalid (refused before any call).",
            ),
            &["site", "language", "outcome"],
        )
        .expect("valid metric");
        let token_refreshes = IntCounterVec::new(
            Opts::new(
                "flexroute_webchat_token_refreshes_total",
                "Visitors' access tokens asked to be refreshed (refreshToken), by configured site and language: refreshed, refused (not a token this deployment signed, expired, or not JSON), unavailable (no API key to sign with).",
            ),
            &["site", "language", "outcome"],
        )
        .expect("valid metric");
        let admin_auth_failures = IntCounterVec::new(
            Opts::new(
                "flexroute_admin_auth_failures_total",
                "Requests to /admin/* refused for their credentials: missing (no bearer token), wrong (a bearer token that is not FLEXROUTE_ADMIN_TOKEN), blocked (429: the address sent too many wrong tokens; the token is not looked at).",
            ),
            &["reason"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(webchat_sessions.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(admin_auth_failures.clone()),
            Box::new(token_refreshes.clone()),
            Box::new(http_requests.clone()),
            Box::new(http_duration.clone()),
            Box::new(cache_hits.clone()),
            Box::new(cache_misses.clone()),
            Box::new(cache_entries.clone()),
            Box::new(served.clone()),
            Box::new(routes.clone()),
            Box::new(config_reloads.clone()),
            Box::new(config_last_success.clone()),
            Box::new(provisions.clone()),
            Box::new(upstream_requests.clone()),
            Box::new(upstream_duration.clone()),
            Box::new(state_store_up.clone()),
            Box::new(state_store_problem.clone()),
            Box::new(unpersisted_addresses.clone()),
            Box::new(duplicate_addresses.clone()),
            Box::new(leases.clone()),
            Box::new(rate_limited.clone()),
            Box::new(rate_limit_clients.clone()),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        for outcome in ["success", "failure"] {
            config_reloads.with_label_values(&[outcome]);
        }
        for outcome in ["pinned", "stored", "adopted", "created", "failed"] {
            provisions.with_label_values(&[outcome]);
        }
        for outcome in ["granted", "busy", "lost"] {
            leases.with_label_values(&[outcome]);
        }
        for reason in ["missing", "wrong", "blocked"] {
            admin_auth_failures.with_label_values(&[reason]);
        }
        state_store_up.set(1);
        Self {
            registry,
            http_requests,
            http_duration,
            cache_hits,
            cache_misses,
            cache_entries,
            served,
            routes,
            config_reloads,
            config_last_success,
            provisions,
            upstream_requests,
            upstream_duration,
            state_store_up,
            state_store_problem,
            unpersisted_addresses,
            duplicate_addresses,
            leases,
            rate_limited,
            rate_limit_clients,
            webchat_sessions,
            token_refreshes,
            admin_auth_failures,
        }
    }

    /// The counter for one configured pair. Callers keep the handle (in the cache entry) so
    /// the hot path increments an atomic instead of looking labels up.
    pub fn served_counter(&self, site: &str, language: &str) -> IntCounter {
        self.served.with_label_values(&[site, language])
    }

    /// `flexroute_routes{state}`: pairs with an address, without one, and whose last
    /// provisioning attempt failed.
    pub fn set_route_states(&self, ready: usize, missing: usize, failing: usize) {
        for (state, count) in [("ready", ready), ("missing", missing), ("failing", failing)] {
            self.routes
                .with_label_values(&[state])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    pub fn mark_config_loaded(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.config_last_success.set(now);
    }

    /// The registry in Prometheus' text format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

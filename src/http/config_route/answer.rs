//! The answer for a resolved pair, prepared once and kept: from the cache of prebuilt answers
//! when it holds one built for the pair as configured now, else built from the provisioner's
//! lookup (the pair's own address, cached once however many requests miss together) or from
//! the degraded rule (`provision::degraded`: a lent address, or `503`; never cached, so it
//! cannot outlive the outage). The only part of the request path that may wait.

use std::sync::Arc;

use crate::cache::Prepared;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorCode};
use crate::provision::degraded::StandIn;
use crate::provision::{self, Lookup};
use crate::table::{Address, Pair, RoutingTable, Site};
use crate::widget;

/// The pair's cached answer if it was built for the pair as configured now (counted as a hit).
/// No lock and no allocation: the hot path of every page view.
pub fn cached(app: &AppState, site: &Site, pair: &Pair) -> Option<Arc<Prepared>> {
    let prepared = app
        .cache
        .get_current(&provision::key(site, pair), pair.fingerprint)?;
    app.metrics.cache_hits.inc();
    Some(prepared)
}

/// Counts a hit on an answer the decision memo kept from an earlier [`cached`].
pub fn count_hit(app: &AppState) {
    app.metrics.cache_hits.inc();
}

/// After a miss: the answer built from the pair's address, waiting for provisioning at most
/// `provisioning.wait_ms`, or from what stands in for it.
pub async fn built(
    app: &AppState,
    table: &RoutingTable,
    site: &Site,
    pair: &Pair,
) -> Arc<Prepared> {
    app.metrics.cache_misses.inc();
    match app.provisioner.address(site, pair).await {
        Lookup::Ready(address) => {
            let key = provision::key(site, pair);
            app.cache.get_or_build(key, pair.fingerprint, || {
                Arc::new(with_address(app, table, site, pair, &address, None))
            })
        }
        Lookup::Unavailable => Arc::new(match app.provisioner.stand_in(site, pair) {
            StandIn::Lent { address, lender } => {
                with_address(app, table, site, pair, &address, Some(lender))
            }
            StandIn::Unavailable => unavailable(site, pair),
        }),
    }
}

/// The pair's widget config with `address`: its own, or one `lender` lends (degraded).
fn with_address(
    app: &AppState,
    table: &RoutingTable,
    site: &Site,
    pair: &Pair,
    address: &Address,
    lender: Option<&Pair>,
) -> Prepared {
    let context = widget::Context {
        account_sid: table.account_sid.as_deref(),
        public_url: table.public_url.as_deref(),
    };
    let body = widget::render(site, pair, address, &context, lender);
    let served = app.metrics.served_counter(&site.id, &pair.language);
    let degraded = lender.is_some();
    Prepared::ok(body, &pair.language, degraded, pair.fingerprint, served)
}

/// `503 address_unavailable`, as a prepared answer (`Retry-After` is added with the headers).
fn unavailable(site: &Site, pair: &Pair) -> Prepared {
    let error = ApiError::new(
        ErrorCode::AddressUnavailable,
        format!(
            "no chat address for site `{}` in `{}` yet",
            site.id, pair.language
        ),
    );
    Prepared::error(error.code.status(), error.body())
}

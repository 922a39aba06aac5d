//! The degraded-answer rule: what stands in for a pair's address while it is not available
//! (provisioning off, failing, or slower than `provisioning.wait_ms`). It is a decision about
//! addresses (which one may be lent, and what to provision meanwhile), so it lives with
//! provisioning; the HTTP handler only renders what it decides: the lent address marked
//! `"degraded": true`, or `503 address_unavailable`.

use std::sync::Arc;

use super::Provisioner;
use crate::table::{Address, Pair, Site};

/// What answers for a pair whose own address is not available.
#[derive(Debug)]
pub enum StandIn<'t> {
    /// The site default language's address, known now: answer with it, marked degraded (and
    /// never cached: it must not outlive the outage).
    Lent { address: Address, lender: &'t Pair },
    /// Nothing to lend now. If the default's address could be lent once known, it is being
    /// provisioned in the background, so that the next visitors get at least the degraded
    /// answer.
    Unavailable,
}

impl Provisioner {
    /// The rule for `pair` of `site`, whose own address is not available: lend the site
    /// default language's address if it is known and of the pair's own kind (the widget that
    /// reads it is of that kind), else nothing, starting the default's provisioning.
    pub fn stand_in<'t>(self: &Arc<Self>, site: &'t Site, pair: &Pair) -> StandIn<'t> {
        let default = site.default_pair();
        if default.kind != pair.kind {
            return StandIn::Unavailable;
        }
        if let Some((address, _)) = self.known(site, default) {
            return StandIn::Lent {
                address,
                lender: default,
            };
        }
        if !std::ptr::eq(default, pair) {
            self.prefetch(site, default);
        }
        StandIn::Unavailable
    }
}

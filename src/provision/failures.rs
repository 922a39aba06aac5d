//! Pairs whose last attempt failed, with their back-off: a failing pair is not tried again
//! before its rest is over, so a broken upstream is not hammered.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::error::ProvisionError;
use crate::cache::RouteKey;

/// A pair whose last attempt failed, and when it may be tried again.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error: ProvisionError,
    pub attempts: u32,
    pub retry_at: Instant,
}

#[derive(Default)]
pub(super) struct Failures {
    pairs: Mutex<HashMap<RouteKey, Failure>>,
}

impl Failures {
    pub fn get(&self, key: &RouteKey) -> Option<Failure> {
        self.pairs.lock().get(key).cloned()
    }

    /// Whether the pair rests after a failure now.
    pub fn resting(&self, key: &RouteKey) -> bool {
        self.pairs
            .lock()
            .get(key)
            .is_some_and(|f| f.retry_at > Instant::now())
    }

    /// Notes one more failed attempt; `rest(attempts)` is how long the pair rests. The
    /// attempts so far, this one included.
    pub fn record(
        &self,
        key: &RouteKey,
        error: ProvisionError,
        rest: impl FnOnce(u32) -> Duration,
    ) -> (u32, Duration) {
        let mut pairs = self.pairs.lock();
        let attempts = pairs.get(key).map_or(0, |f| f.attempts) + 1;
        let rest = rest(attempts);
        pairs.insert(
            key.clone(),
            Failure {
                error,
                attempts,
                retry_at: Instant::now() + rest,
            },
        );
        (attempts, rest)
    }

    pub fn clear(&self, key: &RouteKey) {
        self.pairs.lock().remove(key);
    }

    pub fn retain(&self, keep: impl Fn(&RouteKey) -> bool) {
        self.pairs.lock().retain(|key, _| keep(key));
    }

    pub fn len(&self) -> usize {
        self.pairs.lock().len()
    }

    /// Ends the rest of every pair that failed upstream (Twilio answers again); their attempt
    /// counts stay. How many were resting.
    pub fn end_upstream_rests(&self) -> usize {
        let now = Instant::now();
        let mut woken = 0;
        for failure in self.pairs.lock().values_mut() {
            if !failure.error.store_unreachable() && failure.retry_at > now {
                failure.retry_at = now;
                woken += 1;
            }
        }
        woken
    }

    /// Forgets the failures the shared store caused (it answers again).
    pub fn forget_store_failures(&self) {
        self.pairs
            .lock()
            .retain(|_, failure| !failure.error.store_unreachable());
    }
}

//! One provisioning attempt for one pair: find by name, else create; transient failures are
//! retried with jittered exponential back-off (honouring `Retry-After`), and a create that may
//! have happened (timeout, 5xx, broken connection) is looked up again before any retry, since
//! Twilio has no idempotency key and a blind retry could make a duplicate.

use std::time::{Duration, Instant};

use super::store::Lease;
use super::upstream::{Desired, Looked};
use super::{ProvisionError, Provisioner, Source};
use crate::cache::RouteKey;
use crate::twilio::client::{FlexApiClient, TwilioError};

/// Tries per step (lookup, create) within one attempt.
const MAX_TRIES: u32 = 4;
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// Longest wait obeyed for a `Retry-After` inside an attempt (longer requests are cut to it:
/// the attempt's remaining tries and the pair's back-off bound the pressure anyway).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
const MAX_FAILURE_BACKOFF: Duration = Duration::from_secs(300);

/// Why an attempt stopped without an address.
pub(super) enum Stop {
    Failed(ProvisionError),
    /// The pair's lease stopped being this replica's before a create: it must not create.
    LeaseLost,
}

impl From<ProvisionError> for Stop {
    fn from(error: ProvisionError) -> Self {
        Stop::Failed(error)
    }
}

/// One attempt, under `lease`: every create starts only while the lease is still valid for at
/// least one upstream timeout.
pub(super) async fn find_or_create(
    p: &Provisioner,
    key: &RouteKey,
    client: &FlexApiClient,
    name: &str,
    desired: &Desired,
    lease: &Lease,
) -> Result<(String, Source), Stop> {
    if let Some(sid) = find(p, key, client, desired, name, None).await? {
        return Ok((sid, Source::Adopted));
    }
    let mut tries = 0;
    loop {
        tries += 1;
        let started = Instant::now();
        let result = {
            let _permit = p
                .permits
                .acquire()
                .await
                .map_err(|e| ProvisionError::Upstream(e.to_string()))?;
            if !lease.valid_for(p.settings.upstream_timeout).await {
                return Err(Stop::LeaseLost);
            }
            desired.create(client).await
        };
        match result {
            Ok(sid) => return Ok((sid, Source::Created)),
            Err(e) if tries >= MAX_TRIES || !e.is_transient() => {
                return Err(Stop::Failed(e.into()));
            }
            Err(e) => {
                tracing::debug!(%name, tries, "create failed, will retry: {e}");
                tokio::time::sleep(retry_delay(&e, tries)).await;
                if e.may_have_applied()
                    && let Some(sid) = find(p, key, client, desired, name, Some(started)).await?
                {
                    return Ok((sid, Source::Created));
                }
            }
        }
    }
}

/// The pair's address found by name, if any. Several of them is a failure for the operator to
/// look into (`plan` shows them): flexroute never chooses between them.
async fn find(
    p: &Provisioner,
    key: &RouteKey,
    client: &FlexApiClient,
    desired: &Desired,
    name: &str,
    fresh_after: Option<Instant>,
) -> Result<Option<String>, ProvisionError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match desired.find(p, client, name, fresh_after).await {
            Ok(Looked::Nothing) => return Ok(None),
            Ok(Looked::Found(sid)) => return Ok(Some(sid)),
            Ok(Looked::Ambiguous(sids)) => {
                p.found_duplicates(key, &sids, None);
                return Err(ProvisionError::Ambiguous {
                    name: name.to_string(),
                    sids,
                });
            }
            Err(e) if tries >= MAX_TRIES || !e.is_transient() => return Err(e.into()),
            Err(e) => tokio::time::sleep(retry_delay(&e, tries)).await,
        }
    }
}

/// `Retry-After` when Twilio sent one, else 200 ms doubling per try, ±50 % jitter so that
/// replicas and pairs do not retry in lockstep.
fn retry_delay(error: &TwilioError, tries: u32) -> Duration {
    if let Some(after) = error.retry_after() {
        return after.min(MAX_RETRY_AFTER);
    }
    jitter(FIRST_RETRY * 2u32.saturating_pow(tries.saturating_sub(1)))
}

/// How long a pair rests after its `attempts`-th failed attempt: `first` doubling, capped.
pub(super) fn failure_backoff(first: Duration, attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(16);
    jitter(first.saturating_mul(1 << exponent).min(MAX_FAILURE_BACKOFF))
}

/// `d` scaled by a pseudo-random factor in [0.5, 1.5).
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let random = xxhash_rust::xxh3::xxh3_64(&nanos.to_le_bytes()) % 1000;
    d.mul_f64(0.5 + random as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let first = Duration::from_secs(1);
        let b1 = failure_backoff(first, 1);
        let b4 = failure_backoff(first, 4);
        assert!(b1 >= Duration::from_millis(500) && b1 < Duration::from_millis(1500));
        assert!(b4 >= Duration::from_secs(4) && b4 < Duration::from_secs(12));
        assert!(failure_backoff(first, 40) < MAX_FAILURE_BACKOFF * 3 / 2);
    }

    #[test]
    fn retry_after_wins_over_the_schedule() {
        let throttled = TwilioError::RateLimited {
            code: Some(20429),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(retry_delay(&throttled, 1), Duration::from_secs(3));
        let plain = TwilioError::Timeout;
        assert!(retry_delay(&plain, 3) >= Duration::from_millis(400));
    }
}

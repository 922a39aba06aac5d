//! The [`StateStore`] operations on Redis: each one command or one Lua script (`scripts`),
//! bounded in time by [`Inner::call`]; no URL or credential ever reaches an error.

use std::io;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use tokio::sync::mpsc;

use super::scripts::{self, Keys};
use super::{RedisStore, follow, nonce, parse, to_json};
use crate::provision::store::{BoxFuture, Claim, Feed, Lease, Recorded, StateStore, StoredAddress};

impl StateStore for RedisStore {
    fn load(&self) -> BoxFuture<'_, io::Result<Vec<StoredAddress>>> {
        Box::pin(async move { Ok(self.inner.snapshot().await?.1) })
    }

    fn record(&self, address: StoredAddress) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move { self.record_if_absent(address).await.map(|_| ()) })
    }

    fn record_if_absent(&self, address: StoredAddress) -> BoxFuture<'_, io::Result<Recorded>> {
        Box::pin(async move {
            let keys = &self.inner.keys;
            let mut invocation = scripts::RECORD_IF_ABSENT.prepare_invoke();
            invocation
                .key(&keys.addresses)
                .key(&keys.version)
                .arg(Keys::field(&address.site, &address.slot()))
                .arg(to_json(&address)?)
                .arg(&keys.channel);
            let (written, existing): (i64, String) = self
                .inner
                .call(async move |mut c| invocation.invoke_async(&mut c).await)
                .await?;
            Ok(match (written, parse(&existing)) {
                (0, Some(record)) => Recorded::Existing(record),
                _ => Recorded::Written,
            })
        })
    }

    fn describe(&self) -> String {
        self.inner.description.clone()
    }

    fn lease<'a>(&'a self, site: &'a str, language: &'a str) -> BoxFuture<'a, io::Result<Claim>> {
        Box::pin(async move {
            let inner = &self.inner;
            let keys = &inner.keys;
            let ttl = inner.lease_ttl;
            let lease_key = keys.lease(site, language);
            let strays = inner.strays_of(&lease_key);
            let nonce = nonce();
            let mut invocation = scripts::ACQUIRE.prepare_invoke();
            invocation
                .key(&lease_key)
                .key(keys.fence(site, language))
                .key(&keys.epoch)
                .key(&keys.quiet)
                .arg(&nonce)
                .arg(ttl.as_millis() as u64)
                .arg(inner.epoch_seen())
                .arg(nonce.clone())
                .arg(&strays);
            let sent_at = Instant::now();
            let answer: io::Result<(i64, i64, String, String)> = inner
                .call(async move |mut c| invocation.invoke_async(&mut c).await)
                .await;
            let (granted, number, token, epoch) = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    // It may still run in Redis, granting a lease nobody here holds: the next
                    // request for the pair (or the reconnection) deletes it.
                    inner.stray(&lease_key, nonce);
                    return Err(e);
                }
            };
            inner.settled_strays(&lease_key, &strays);
            inner.saw_epoch(&epoch);
            Ok(if granted == 1 {
                Claim::Granted(Lease::granted(
                    (site, language),
                    token,
                    number as u64,
                    ttl,
                    sent_at,
                ))
            } else {
                Claim::Busy {
                    expires_in: Duration::from_millis(number.max(1) as u64),
                }
            })
        })
    }

    fn renew<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async move {
            let Some((site, language)) = lease.pair() else {
                return Ok(true);
            };
            let ttl = lease.ttl.unwrap_or(self.inner.lease_ttl);
            let mut invocation = scripts::RENEW.prepare_invoke();
            invocation
                .key(self.inner.keys.lease(site, language))
                .arg(&lease.token)
                .arg(ttl.as_millis() as u64);
            let sent_at = Instant::now();
            let renewed: i64 = self
                .inner
                .call(async move |mut c| invocation.invoke_async(&mut c).await)
                .await?;
            if renewed == 1 {
                lease.extended(sent_at);
            }
            Ok(renewed == 1)
        })
    }

    fn release<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let Some((site, language)) = lease.pair() else {
                return Ok(());
            };
            let lease_key = self.inner.keys.lease(site, language);
            let mut invocation = scripts::RELEASE.prepare_invoke();
            invocation.key(&lease_key).arg(&lease.token);
            let released: io::Result<i64> = self
                .inner
                .call(async move |mut c| invocation.invoke_async(&mut c).await)
                .await;
            if let Err(e) = released {
                // Held until its TTL otherwise: deleted as soon as Redis answers again.
                if let Some((_, nonce)) = lease.token.split_once(':') {
                    self.inner.stray(&lease_key, nonce.to_string());
                }
                return Err(e);
            }
            Ok(())
        })
    }

    fn record_leased<'a>(
        &'a self,
        lease: &'a Lease,
        address: StoredAddress,
    ) -> BoxFuture<'a, io::Result<Recorded>> {
        Box::pin(async move {
            let keys = &self.inner.keys;
            let mut invocation = scripts::RECORD_LEASED.prepare_invoke();
            invocation
                .key(keys.lease(&address.site, &address.slot()))
                .key(&keys.addresses)
                .key(&keys.version)
                .arg(&lease.token)
                .arg(Keys::field(&address.site, &address.slot()))
                .arg(to_json(&address)?)
                .arg(&keys.channel);
            let (outcome, existing): (i64, String) = self
                .inner
                .call(async move |mut c| invocation.invoke_async(&mut c).await)
                .await?;
            Ok(match outcome {
                1 => Recorded::Written,
                2 => match parse(&existing) {
                    Some(record) => Recorded::Existing(record),
                    None => Recorded::LeaseLost,
                },
                _ => Recorded::LeaseLost,
            })
        })
    }

    fn fetch<'a>(
        &'a self,
        site: &'a str,
        language: &'a str,
    ) -> BoxFuture<'a, io::Result<Option<StoredAddress>>> {
        Box::pin(async move {
            let key = self.inner.keys.addresses.clone();
            let field = Keys::field(site, language);
            let json: Option<String> = self
                .inner
                .call(async move |mut c| c.hget(key, field).await)
                .await?;
            Ok(json.as_deref().and_then(parse))
        })
    }

    fn feed(&self) -> Option<Feed> {
        let mut follower = self.follower.lock();
        if follower.is_some() {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        // Subscribed before the follower starts: a change it makes at once is still seen.
        let feed = Feed {
            updates: rx,
            available: self.inner.available.subscribe(),
            problem: self.inner.problem.subscribe(),
        };
        let task = tokio::spawn(follow::follow(self.inner.clone(), tx));
        *follower = Some(task.abort_handle());
        Some(feed)
    }
}

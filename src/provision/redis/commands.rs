//! The [`StateStore`] operations on Redis: each one command or one Lua script (`scripts`),
//! bounded in time by [`Inner::call`]; no URL or credential ever reaches an error.

use std::io;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use tokio::sync::mpsc;

use super::scripts::{self, Keys};
use super::{RedisStore, follow, lock, nonce, parse, to_json};
use crate::provision::store::{BoxFuture, Claim, Feed, Lease, Recorded, StateStore, StoredAddress};

impl StateStore for RedisStore {
    fn load(&self) -> BoxFuture<'_, io::Result<Vec<StoredAddress>>> {
        Box::pin(async move { Ok(self.inner.snapshot().await?.1) })
    }

    fn record(&self, address: StoredAddress) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            let keys = &self.inner.keys;
            let mut invocation = scripts::RECORD_IF_ABSENT.prepare_invoke();
            invocation
                .key(&keys.addresses)
                .key(&keys.version)
                .arg(Keys::field(&address.site, &address.slot()))
                .arg(to_json(&address)?)
                .arg(&keys.channel);
            let _: i64 = self
                .inner
                .call(async move |mut c| invocation.invoke_async(&mut c).await)
                .await?;
            Ok(())
        })
    }

    fn describe(&self) -> String {
        self.inner.description.clone()
    }

    fn lease<'a>(&'a self, site: &'a str, language: &'a str) -> BoxFuture<'a, io::Result<Claim>> {
        Box::pin(async move {
            let keys = &self.inner.keys;
            let ttl = self.inner.lease_ttl;
            let mut invocation = scripts::ACQUIRE.prepare_invoke();
            invocation
                .key(keys.lease(site, language))
                .key(keys.fence(site, language))
                .arg(nonce())
                .arg(ttl.as_millis() as u64);
            let sent_at = Instant::now();
            let (granted, number, token): (i64, i64, String) = self
                .inner
                .call(async move |mut c| invocation.invoke_async(&mut c).await)
                .await?;
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
            let mut invocation = scripts::RELEASE.prepare_invoke();
            invocation
                .key(self.inner.keys.lease(site, language))
                .arg(&lease.token);
            let _: i64 = self
                .inner
                .call(async move |mut c| invocation.invoke_async(&mut c).await)
                .await?;
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
        let mut follower = lock(&self.follower);
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

//! How a replica learns what the others record: a subscription to the records channel, a
//! heartbeat on it, and a periodic check of the write counter that re-reads everything when it
//! moved (the safety net for messages missed while disconnected: pub/sub does not queue). On
//! every (re)subscription everything is re-read first. Each heartbeat also checks the store's
//! epoch: a Redis that lost its data (restarted empty, `FLUSHALL`) is noticed within a second,
//! and what this replica knows is written back at once. The connection is retried with a
//! growing pause while Redis is down; recovery needs no restart.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior, interval_at};

use super::{Inner, parse};
use crate::provision::store::Update;

/// How often the subscription is pinged: a silently dead connection is noticed this fast.
const HEARTBEAT: Duration = Duration::from_secs(1);
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

pub(super) async fn follow(inner: Arc<Inner>, updates: mpsc::UnboundedSender<Update>) {
    let mut pause = FIRST_PAUSE;
    let mut was_connected = false;
    loop {
        if updates.is_closed() {
            return; // nobody follows any more
        }
        let limit = inner.connect_timeout + inner.command_timeout;
        let subscribed = tokio::time::timeout(limit, async {
            let mut pubsub = inner.client.get_async_pubsub().await?;
            pubsub.subscribe(&inner.keys.channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let pubsub = match subscribed {
            Ok(Ok(pubsub)) => pubsub,
            failure => {
                inner.set_available(false);
                match &failure {
                    Ok(Err(e)) => inner.failed(&super::io_error(e).to_string(), Some(e)).await,
                    _ => inner.failed("redis: no answer in time", None).await,
                }
                if was_connected {
                    tracing::warn!(
                        "Redis is unreachable; serving known addresses from memory, new pairs wait for it"
                    );
                    was_connected = false;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
                continue;
            }
        };
        // Whether Redis lost its data while this replica was away (its epoch), then
        // everything recorded while it was not listening.
        if inner.check_epoch().await.is_err() {
            tokio::time::sleep(pause).await;
            continue;
        }
        let mut seen = match inner.snapshot().await {
            Ok((version, records)) => {
                if updates.send(Update::Snapshot(records)).is_err() {
                    return;
                }
                version
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        if !was_connected {
            tracing::info!("following the shared state store (subscribed, all records read)");
            was_connected = true;
        }
        pause = FIRST_PAUSE;
        inner.set_available(true);
        inner.answered();
        inner.release_strays().await;
        let (mut sink, mut stream) = pubsub.split();
        let now = Instant::now();
        let mut resync = interval_at(now + inner.resync_every, inner.resync_every);
        resync.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut heartbeat = interval_at(now + HEARTBEAT, HEARTBEAT);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else { break };
                    let payload = String::from_utf8_lossy(message.get_payload_bytes());
                    if let Some(record) = parse(&payload)
                        && updates.send(Update::Recorded(record)).is_err()
                    {
                        return;
                    }
                }
                _ = resync.tick() => {
                    let Ok(version) = inner.version().await else { break };
                    if version != seen {
                        let Ok((version, records)) = inner.snapshot().await else { break };
                        seen = version;
                        if updates.send(Update::Snapshot(records)).is_err() {
                            return;
                        }
                    }
                }
                _ = heartbeat.tick() => {
                    let ping = tokio::time::timeout(inner.command_timeout, sink.ping::<redis::Value>());
                    match ping.await {
                        Ok(Ok(_)) => inner.set_available(true),
                        _ => break,
                    }
                    // A `FLUSHALL`, or a Redis restarted empty faster than the subscription
                    // noticed: its epoch is gone, and this replica knows within a heartbeat.
                    if inner.check_epoch().await.is_err() {
                        break;
                    }
                }
                () = inner.resync_now.notified() => {
                    let Ok((version, records)) = inner.snapshot().await else { break };
                    seen = version;
                    if updates.send(Update::Snapshot(records)).is_err() {
                        return;
                    }
                }
            }
        }
        tracing::debug!("the Redis subscription ended; subscribing again");
    }
}

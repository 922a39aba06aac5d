//! The Redis state store against a real `redis-server`: records, the lease, fencing.

use std::time::Duration;

use flexroute::config::ProvisioningConfig;
use flexroute::provision::store::RedisStore;
use flexroute::provision::store::{Claim, Lease, Recorded, StateStore, StoredAddress, Update};

use crate::support::RedisServer;

fn config(url: String, prefix: &str, lease_ttl_ms: u64) -> ProvisioningConfig {
    ProvisioningConfig {
        state: url.into(),
        redis_key_prefix: prefix.to_string(),
        redis_lease_ttl_ms: lease_ttl_ms,
        redis_command_timeout_ms: 200,
        redis_connect_timeout_ms: 500,
        ..ProvisioningConfig::default()
    }
}

/// A well-formed Flex Flow SID standing for `short` (the same one every time).
fn sid(short: &str) -> String {
    format!("FO{:032x}", xxhash_rust::xxh3::xxh3_128(short.as_bytes()))
}

fn address(language: &str, short: &str) -> StoredAddress {
    StoredAddress {
        site: "shop".into(),
        language: language.into(),
        sid: sid(short),
        kind: Default::default(),
        friendly_name: format!("WebChat shop {language}"),
        source: flexroute::provision::Source::Created,
        recorded_at: 1,
    }
}

fn granted(claim: Claim) -> Lease {
    match claim {
        Claim::Granted(lease) => lease,
        Claim::Busy { .. } => panic!("expected the lease"),
    }
}

#[tokio::test]
async fn records_are_shared_and_the_first_writer_wins() {
    let redis = RedisServer::start().await;
    let a = RedisStore::open(&config(redis.url(), "t1:", 2000)).unwrap();
    let b = RedisStore::open(&config(redis.url(), "t1:", 2000)).unwrap();
    let other_prefix = RedisStore::open(&config(redis.url(), "t2:", 2000)).unwrap();
    assert!(a.load().await.unwrap().is_empty());
    a.record(address("en", "FO1")).await.unwrap();
    a.record(address("de", "FO2")).await.unwrap();
    // Without a lease, a record never replaces one the pair has.
    b.record(address("en", "FO9")).await.unwrap();
    let mut loaded = b.load().await.unwrap();
    loaded.sort_by(|x, y| x.language.cmp(&y.language));
    assert_eq!(loaded, vec![address("de", "FO2"), address("en", "FO1")]);
    assert_eq!(
        b.fetch("shop", "en").await.unwrap(),
        Some(address("en", "FO1"))
    );
    assert_eq!(b.fetch("shop", "fr").await.unwrap(), None);
    assert!(
        other_prefix.load().await.unwrap().is_empty(),
        "prefixes separate"
    );
    assert!(!a.describe().contains("FO"), "{}", a.describe());
}

#[tokio::test]
async fn the_lease_is_exclusive_renewable_and_fenced() {
    let redis = RedisServer::start().await;
    let a = RedisStore::open(&config(redis.url(), "lease:", 600)).unwrap();
    let b = RedisStore::open(&config(redis.url(), "lease:", 600)).unwrap();
    let first = granted(a.lease("shop", "en").await.unwrap());
    assert!(first.is_valid());
    match b.lease("shop", "en").await.unwrap() {
        Claim::Busy { expires_in } => assert!(expires_in <= Duration::from_millis(600)),
        Claim::Granted(_) => panic!("two holders at once"),
    }
    // Another pair's lease is independent.
    granted(b.lease("shop", "de").await.unwrap());
    // Only the holder renews or releases.
    assert!(a.renew(&first).await.unwrap());
    let stranger = granted(b.lease("shop", "fr").await.unwrap());
    b.release(&stranger).await.unwrap();
    // The holder stops counting on it before Redis lets it go, then it expires.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!first.is_valid());
    let second = granted(b.lease("shop", "en").await.unwrap());
    assert!(second.fence > first.fence, "fencing numbers only grow");
    // The stale holder can neither renew, release, nor record.
    assert!(!a.renew(&first).await.unwrap());
    a.release(&first).await.unwrap();
    assert_eq!(
        a.record_leased(&first, address("en", "FOstale"))
            .await
            .unwrap(),
        Recorded::LeaseLost
    );
    assert!(matches!(
        a.lease("shop", "en").await.unwrap(),
        Claim::Busy { .. }
    ));
    assert_eq!(
        b.record_leased(&second, address("en", "FO2"))
            .await
            .unwrap(),
        Recorded::Written
    );
    // Recording released the lease; a later holder finds the record kept.
    let third = granted(a.lease("shop", "en").await.unwrap());
    assert_eq!(
        a.record_leased(&third, address("en", "FO3")).await.unwrap(),
        Recorded::Existing(address("en", "FO2"))
    );
    assert_eq!(
        a.fetch("shop", "en").await.unwrap().unwrap().sid,
        sid("FO2")
    );
}

#[tokio::test]
async fn the_feed_reports_records_and_reachability_and_recovers() {
    let mut redis = RedisServer::start().await;
    let port = redis.port;
    let writer = RedisStore::open(&config(redis.url(), "feed:", 2000)).unwrap();
    writer.record(address("en", "FO1")).await.unwrap();
    let follower = RedisStore::open(&config(redis.url(), "feed:", 2000)).unwrap();
    let mut feed = follower.feed().expect("a shared store has a feed");
    assert!(follower.feed().is_none(), "taken once");
    let next = async |feed: &mut flexroute::provision::store::Feed| {
        tokio::time::timeout(Duration::from_secs(10), feed.updates.recv())
            .await
            .expect("an update")
            .unwrap()
    };
    match next(&mut feed).await {
        Update::Snapshot(records) => assert_eq!(records, vec![address("en", "FO1")]),
        other => panic!("{other:?}"),
    }
    assert!(*feed.available.borrow());
    writer.record(address("de", "FO2")).await.unwrap();
    match next(&mut feed).await {
        Update::Recorded(record) => assert_eq!(record, address("de", "FO2")),
        other => panic!("{other:?}"),
    }
    redis.kill().await;
    tokio::time::timeout(Duration::from_secs(10), feed.available.wait_for(|up| !up))
        .await
        .expect("unreachability noticed")
        .unwrap();
    assert!(writer.record(address("fr", "FO3")).await.is_err());
    let _redis = RedisServer::start_on(port).await;
    // Back, empty (no persistence): re-subscribed and everything re-read, without a restart.
    loop {
        match next(&mut feed).await {
            Update::Snapshot(records) => {
                assert!(records.is_empty());
                break;
            }
            Update::Recorded(_) => {}
        }
    }
    assert!(*feed.available.borrow());
}

/// `redis://` is accepted, every `redis_*` key is checked, and no problem, `Debug` print or
/// description shows the password in the URL.
#[test]
fn redis_settings_are_validated_without_showing_the_password() {
    use flexroute::config::{Config, Environment};
    const PASSWORD: &str = "pw-4f1d9e";
    let fixture = crate::support::FIXTURE;
    let with = |state: &str, extra: &str| {
        let text = fixture.replace(
            "[defaults]",
            &format!("[provisioning]\nstate = \"{state}\"\n{extra}\n\n[defaults]"),
        );
        assert_ne!(text, fixture, "the fixture has a [defaults] table");
        Config::from_toml_str(&text, &Environment::default())
    };
    let good = format!("rediss://:{PASSWORD}@redis.example:6380/2");
    let loaded = with(&good, "redis_unavailable = \"not-ready\"").expect("valid");
    assert!(!format!("{:?}", loaded.config).contains(PASSWORD));
    let env = Environment::from_pairs([("FLEXROUTE_PROVISIONING_STATE", good.as_str())]);
    assert!(!format!("{env:?}").contains(PASSWORD));

    let problems = with(
        &format!("redis://:{PASSWORD}@redis.example:99999/0"),
        "redis_pool_size = 0\nredis_command_timeout_ms = 1000\nredis_lease_ttl_ms = 2000\nredis_resync_ms = 10\nredis_key_prefix = \"a b\"",
    )
    .unwrap_err()
    .problems();
    let all = problems.join("\n");
    for expected in [
        "provisioning.state: the Redis URL's port",
        "provisioning.redis_pool_size: must be between 1 and 64",
        "provisioning.redis_lease_ttl_ms: must be at least 3 × redis_command_timeout_ms",
        "provisioning.redis_resync_ms: must be at least 100",
        "provisioning.redis_key_prefix",
    ] {
        assert!(all.contains(expected), "{expected} not in:\n{all}");
    }
    assert!(!all.contains(PASSWORD), "{all}");
    let unknown = with("memcache://x", "").unwrap_err().problems().join("\n");
    assert!(
        unknown.contains("must start with file:, redis:// or rediss://"),
        "{unknown}"
    );
    let mode = with("redis://h", "redis_unavailable = \"sometimes\"")
        .unwrap_err()
        .problems()
        .join("\n");
    assert!(
        mode.contains("serve-stale") && mode.contains("not-ready"),
        "{mode}"
    );
}

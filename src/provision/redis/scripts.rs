//! The keys flexroute keeps in Redis, and the Lua scripts that change them atomically.
//!
//! Under the prefix `P` (`provisioning.redis_key_prefix`):
//! - `P addresses` (hash): field `site/language` → the record as JSON;
//! - `P version` (counter): bumped by every write, so a periodic re-read costs one `GET`
//!   when nothing changed;
//! - `P lease:site/language` (string with a PX expiry): the holder's token `fence:nonce`;
//! - `P fence:site/language` (counter): the pair's fencing numbers, only ever growing;
//! - channel `P recorded`: every record written, as JSON.

use std::sync::LazyLock;

use redis::Script;

pub struct Keys {
    pub addresses: String,
    pub version: String,
    pub channel: String,
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            addresses: format!("{prefix}addresses"),
            version: format!("{prefix}version"),
            channel: format!("{prefix}recorded"),
            prefix: prefix.to_string(),
        }
    }

    /// The pair's field in the addresses hash (site ids and language tags hold no `/`).
    pub fn field(site: &str, language: &str) -> String {
        format!("{site}/{language}")
    }

    pub fn lease(&self, site: &str, language: &str) -> String {
        format!("{}lease:{site}/{language}", self.prefix)
    }

    pub fn fence(&self, site: &str, language: &str) -> String {
        format!("{}fence:{site}/{language}", self.prefix)
    }
}

/// KEYS: lease, fence. ARGV: nonce, ttl ms. Takes a free lease (`INCR` of the pair's fence,
/// then `SET lease token PX ttl`; the key is known to be absent, so this is SET NX) and
/// answers `{1, fence, token}`, or `{0, pttl, ""}` when someone holds it.
pub static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('PTTL', KEYS[1]), ''}
end
local fence = redis.call('INCR', KEYS[2])
local token = fence .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2], 'NX')
return {1, fence, token}
",
    )
});

/// KEYS: lease. ARGV: token, ttl ms. Compare-and-pexpire: 1 if renewed, 0 if not the holder.
pub static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
",
    )
});

/// KEYS: lease. ARGV: token. Compare-and-delete: 1 if released, 0 if not the holder.
pub static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// KEYS: lease, addresses, version. ARGV: token, field, record JSON, channel. The fenced
/// write: only while the caller's token holds the lease. `{1, ""}` written (and published,
/// and the lease released), `{2, json}` the pair already had this record (kept; lease
/// released), `{0, ""}` the token no longer holds the lease (nothing written).
pub static RECORD_LEASED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {0, ''}
end
redis.call('DEL', KEYS[1])
local existing = redis.call('HGET', KEYS[2], ARGV[2])
if existing then
  return {2, existing}
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[4], ARGV[3])
return {1, ''}
",
    )
});

/// KEYS: addresses, version. ARGV: field, record JSON, channel. The unfenced write (`apply`'s
/// adoptions, write-backs after Redis lost its data): only if the pair has no record. The
/// record in force (the existing one or this) is published either way, so every replica,
/// the writer included, follows the same one.
pub static RECORD_IF_ABSENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  redis.call('PUBLISH', ARGV[3], existing)
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1
",
    )
});

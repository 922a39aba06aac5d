//! The keys flexroute keeps in Redis, and the Lua scripts that change them atomically.
//!
//! Under the prefix `P` (`provisioning.redis_key_prefix`):
//! - `P addresses` (hash): field `site/language` → the record as JSON;
//! - `P version` (counter): bumped by every write, so a periodic re-read costs one `GET`
//!   when nothing changed;
//! - `P lease:site/language` (string with a PX expiry): the holder's token `fence:nonce`;
//! - `P fence:site/language` (counter): the pair's fencing numbers, only ever growing;
//! - `P epoch` (string): an id the first replica to find it absent sets. A Redis that lost
//!   its data (restarted empty, `FLUSHALL`) has none, or another one, so a replica that saw
//!   the old one knows at once that leases and records are gone;
//! - `P quiet` (string with a PX expiry): set for one lease TTL when a replica finds the epoch
//!   gone: no lease is granted meanwhile, so that a create in flight under a lease Redis
//!   forgot is applied (and then found by name) before anyone may create again;
//! - channel `P recorded`: every record written, as JSON.

use std::sync::LazyLock;

use redis::Script;

pub struct Keys {
    pub addresses: String,
    pub version: String,
    pub channel: String,
    pub epoch: String,
    pub quiet: String,
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            addresses: format!("{prefix}addresses"),
            version: format!("{prefix}version"),
            channel: format!("{prefix}recorded"),
            epoch: format!("{prefix}epoch"),
            quiet: format!("{prefix}quiet"),
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

/// The epoch check every lease request and every heartbeat starts with (KEYS[e], KEYS[q]:
/// epoch, quiet; ARGV[k], ARGV[f], ARGV[t]: the epoch this replica saw, '' if none yet; a fresh
/// one; the lease TTL). An absent epoch is set to the fresh one; if this replica had seen one,
/// Redis lost its data, and leases are withheld for one TTL (`quiet`).
macro_rules! epoch_check {
    ($e:literal, $q:literal, $k:literal, $f:literal, $t:literal) => {
        concat!(
            "local epoch = redis.call('GET', KEYS[",
            $e,
            "])\n",
            "if not epoch then\n",
            "  epoch = ARGV[",
            $f,
            "]\n",
            "  redis.call('SET', KEYS[",
            $e,
            "], epoch)\n",
            "  if ARGV[",
            $k,
            "] ~= '' then\n",
            "    redis.call('SET', KEYS[",
            $q,
            "], '1', 'PX', ARGV[",
            $t,
            "])\n",
            "  end\n",
            "end\n",
        )
    };
}

/// KEYS: lease, fence, epoch, quiet. ARGV: nonce, ttl ms, epoch seen, fresh epoch, then the
/// nonces of this replica's stray grants for the pair (requests that timed out here but may
/// have run in Redis). After the epoch check: while `quiet` lasts, `{0, pttl, "", epoch}`; a
/// lease held by one of our strays is deleted (nobody holds it); a free lease is taken (`INCR`
/// of the pair's fence, then `SET lease token PX ttl`) and answered `{1, fence, token, epoch}`;
/// a lease someone holds, `{0, pttl, "", epoch}`.
pub static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        epoch_check!(3, 4, 3, 4, 2),
        r"
local quiet = redis.call('PTTL', KEYS[4])
if quiet > 0 then
  return {0, quiet, '', epoch}
end
local held = redis.call('GET', KEYS[1])
if held then
  for i = 5, #ARGV do
    if string.sub(held, -(#ARGV[i] + 1)) == ':' .. ARGV[i] then
      redis.call('DEL', KEYS[1])
      held = false
      break
    end
  end
end
if held then
  return {0, redis.call('PTTL', KEYS[1]), '', epoch}
end
local fence = redis.call('INCR', KEYS[2])
local token = fence .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2], 'NX')
return {1, fence, token, epoch}
"
    ))
});

/// KEYS: epoch, quiet. ARGV: epoch seen, fresh epoch, ttl ms. The heartbeat's epoch check:
/// answers the epoch in force.
pub static EPOCH: LazyLock<Script> =
    LazyLock::new(|| Script::new(concat!(epoch_check!(1, 2, 1, 2, 3), "return epoch\n")));

/// KEYS: lease. ARGV: nonces. Deletes the lease if one of this replica's stray grants holds
/// it; 1 if it did.
pub static RELEASE_STRAYS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = redis.call('GET', KEYS[1])
if not held then
  return 0
end
for i = 1, #ARGV do
  if string.sub(held, -(#ARGV[i] + 1)) == ':' .. ARGV[i] then
    return redis.call('DEL', KEYS[1])
  end
end
return 0
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
/// adoptions, write-backs after Redis lost its data, a holder's own address after its lease
/// was lost): only if the pair has no record. The record in force (the existing one or this)
/// is published either way, so every replica, the writer included, follows the same one.
/// `{1, ""}` written, `{0, existing}` kept.
pub static RECORD_IF_ABSENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  redis.call('PUBLISH', ARGV[3], existing)
  return {0, existing}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return {1, ''}
",
    )
});

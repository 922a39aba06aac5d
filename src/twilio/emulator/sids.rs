//! SIDs that look like Twilio's, without `rand`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use xxhash_rust::xxh3::xxh3_128_with_seed;

/// Twilio-shaped SIDs (a prefix and 32 lowercase hex digits): hashes of a counter under a seed,
/// unique per emulator without `rand`.
#[derive(Debug)]
pub struct Sids {
    seed: u64,
    made: AtomicU64,
}

impl Sids {
    pub fn new() -> Self {
        // Two emulators in one process (tests) must not share a seed even within a clock tick.
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let instance = INSTANCES.fetch_add(1, Ordering::Relaxed);
        Self {
            seed: nanos ^ instance.rotate_left(32) ^ u64::from(std::process::id()),
            made: AtomicU64::new(0),
        }
    }

    /// The next SID with `prefix` ("CH", "IM"…). 128-bit hashes of distinct counters do not
    /// collide in practice; the store still checks its own.
    pub fn next(&self, prefix: &str) -> String {
        let n = self.made.fetch_add(1, Ordering::Relaxed) + 1;
        format!(
            "{prefix}{:032x}",
            xxh3_128_with_seed(&n.to_le_bytes(), self.seed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_take_the_prefix_and_differ() {
        let sids = Sids::new();
        let (a, b) = (sids.next("CH"), sids.next("CH"));
        assert!(a.starts_with("CH") && a.len() == 34 && a != b);
        assert!(
            a[2..]
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(
            a,
            Sids::new().next("CH"),
            "another emulator, another sequence"
        );
    }
}

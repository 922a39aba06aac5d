//! A seeded random generator for tests.

use std::time::Duration;

/// SplitMix64, for a test's random choices (fault timings, kill moments): the whole sequence
/// follows from the seed, so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `min` to `max` random lowercase letters.
    pub fn word(&mut self, min: u64, max: u64) -> String {
        let len = min + self.below(max - min + 1);
        (0..len)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }

    /// Uniform in [low, high].
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = (high - low).as_micros() as u64 + 1;
        low + Duration::from_micros(self.next_u64() % span)
    }
}

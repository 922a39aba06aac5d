//! Faults a test can switch on at any time, through `Emulator::switches()`: added latency, the
//! next N requests failing with 429 or 5xx, every request failing for a while, a share of
//! requests failing at random (seeded, so a run can be replayed), and the whole API being down
//! (its port closed). Only code holding the `Emulator` can reach them: no route sets them (the
//! sandbox's emulator has none switched on).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;

/// `u64::MAX` in `retry_after_secs` means "send no `Retry-After`": Twilio does not promise one.
const NO_RETRY_AFTER: u64 = u64::MAX;

#[derive(Debug)]
pub struct Switches {
    latency_micros: AtomicU64,
    failures: Mutex<Failures>,
    /// Creates still to answer 500 after they have taken effect.
    failures_after_create: AtomicU64,
    /// Failures injected so far, of every kind.
    injected: AtomicU64,
    retry_after_secs: AtomicU64,
    down: watch::Sender<bool>,
    /// Whether `Emulator::serve` has its port open; lags `down` by one wake-up of the serve task.
    listening: watch::Sender<bool>,
}

/// The switches that make a request answer an error, checked in this order.
#[derive(Debug, Default)]
struct Failures {
    /// `fail_next`: requests still to fail, and their status.
    next: (u32, u16),
    /// `fail_for`: every request fails with this status until then.
    until: Option<(Instant, u16)>,
    /// `fail_at_random`.
    random: Option<RandomFailures>,
}

#[derive(Debug)]
struct RandomFailures {
    probability: f64,
    status: u16,
    rng: SplitMix64,
}

/// What the switches do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Injected {
    /// Answer this status and do nothing.
    Fail(u16),
    /// A create: let it take effect, then answer 500.
    FailAfterApplying,
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny PRNG whose whole sequence follows from its
/// seed, which is all a replayable fault needs.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Default for Switches {
    fn default() -> Self {
        Self {
            latency_micros: AtomicU64::new(0),
            failures: Mutex::new(Failures::default()),
            failures_after_create: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            retry_after_secs: AtomicU64::new(NO_RETRY_AFTER),
            down: watch::Sender::new(false),
            listening: watch::Sender::new(false),
        }
    }
}

fn assert_error_status(switch: &str, status: u16) {
    assert!(
        (400..600).contains(&status),
        "{switch} wants an error status, got {status}"
    );
}

impl Switches {
    /// Added to every answer of every API (after the request has taken effect, as a slow
    /// network on the way back would: a client that times out may still have created a flow).
    pub fn set_latency(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.store(micros, Ordering::Relaxed);
    }

    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_micros.load(Ordering::Relaxed))
    }

    /// The next `n` authenticated API requests answer `status` with Twilio's error body and do
    /// nothing: 429 → code 20429, 500 → 20500 (any 4xx/5xx → 20000 + status). Replaces any
    /// failures still pending.
    pub fn fail_next(&self, n: u32, status: u16) {
        assert_error_status("fail_next", status);
        self.failures.lock().next = (n, status);
    }

    /// Every authenticated API request answers `status` and does nothing, for `duration` from
    /// now (Twilio throttling an account for a minute, say); then the API recovers by itself.
    /// `Duration::ZERO` ends it at once. Replaces an earlier `fail_for`.
    pub fn fail_for(&self, duration: Duration, status: u16) {
        assert_error_status("fail_for", status);
        self.failures.lock().until = Instant::now()
            .checked_add(duration)
            .map(|until| (until, status));
    }

    /// Each authenticated API request answers `status` with `probability` (0 to 1), decided by
    /// a PRNG seeded with `seed`: the same seed and the same order of requests fail the same
    /// ones. A 429 never takes effect (Twilio: "not processed"); a 5xx on a create takes effect
    /// first half of the time, as a real 5xx may have, so a client that retries blindly makes
    /// duplicates. Probability 0 turns it off. Replaces an earlier `fail_at_random`.
    pub fn fail_at_random(&self, probability: f64, status: u16, seed: u64) {
        assert_error_status("fail_at_random", status);
        assert!(
            (0.0..=1.0).contains(&probability),
            "fail_at_random wants a probability in [0, 1], got {probability}"
        );
        self.failures.lock().random = (probability > 0.0).then_some(RandomFailures {
            probability,
            status,
            rng: SplitMix64(seed),
        });
    }

    /// Lifts every switch that makes requests fail: `fail_next`, `fail_for`, `fail_at_random`
    /// and `fail_next_creates_after_applying` (not latency, `Retry-After` or down).
    pub fn clear_failures(&self) {
        *self.failures.lock() = Failures::default();
        self.failures_after_create.store(0, Ordering::Relaxed);
    }

    /// Failures injected so far by every switch but `down` (which answers nothing).
    pub fn injected_failures(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// What the switches do to the request arriving now; `create` says whether it creates
    /// something (a flow, an address configuration, a web chat, a message), which a random 5xx
    /// may fail after applying.
    pub(super) fn take_failure(&self, create: bool) -> Option<Injected> {
        let injected = self.failures.lock().take(Instant::now(), create);
        if injected.is_some() {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        injected
    }

    /// The next `n` creates (of any kind: flows, address configurations, web chats, messages)
    /// take effect and then answer 500 (code 20500): Twilio's worst case, where a blind retry
    /// would make a duplicate.
    pub fn fail_next_creates_after_applying(&self, n: u32) {
        self.failures_after_create
            .store(u64::from(n), Ordering::Relaxed);
    }

    pub(super) fn take_failure_after_create(&self) -> bool {
        let take = self
            .failures_after_create
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if take {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        take
    }

    /// `Some(secs)`: 429 and 503 answers carry `Retry-After: secs`; `None` (the default): no
    /// header.
    pub fn set_retry_after(&self, secs: Option<u64>) {
        self.retry_after_secs
            .store(secs.unwrap_or(NO_RETRY_AFTER), Ordering::Relaxed);
    }

    pub fn retry_after(&self) -> Option<u64> {
        Some(self.retry_after_secs.load(Ordering::Relaxed)).filter(|&s| s != NO_RETRY_AFTER)
    }

    /// Down: `Emulator::serve` closes its listening socket (connects are refused) and cuts open
    /// connections; up: it binds the same address again. Requests not yet read when this returns
    /// are never answered; use [`Switches::wait_listening`] to know the port is actually closed.
    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }

    pub fn is_down(&self) -> bool {
        *self.down.borrow()
    }

    /// Completes once `serve` has its port open (`true`) or closed (`false`). It never completes
    /// for `true` while nothing is serving.
    pub async fn wait_listening(&self, listening: bool) {
        let mut rx = self.listening.subscribe();
        // The sender lives in `self`, so `wait_for` cannot fail while we borrow it.
        let _ = rx.wait_for(|now| *now == listening).await;
    }

    pub(super) fn watch_down(&self) -> watch::Receiver<bool> {
        self.down.subscribe()
    }

    pub(super) fn set_listening(&self, listening: bool) {
        self.listening.send_replace(listening);
    }
}

impl Failures {
    fn take(&mut self, now: Instant, create: bool) -> Option<Injected> {
        let (left, status) = &mut self.next;
        if *left > 0 {
            *left -= 1;
            return Some(Injected::Fail(*status));
        }
        match self.until {
            Some((until, status)) if now < until => return Some(Injected::Fail(status)),
            Some(_) => self.until = None,
            None => {}
        }
        let random = self.random.as_mut()?;
        if random.rng.next_f64() >= random.probability {
            return None;
        }
        let after_applying = create && random.status >= 500 && random.rng.next_u64() & 1 == 1;
        Some(if after_applying {
            Injected::FailAfterApplying
        } else {
            Injected::Fail(random.status)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(switches: &Switches, n: usize) -> Vec<Option<Injected>> {
        (0..n).map(|_| switches.take_failure(false)).collect()
    }

    #[test]
    fn failures_are_counted_down() {
        let switches = Switches::default();
        assert_eq!(switches.take_failure(false), None);
        switches.fail_next(2, 429);
        assert_eq!(switches.take_failure(false), Some(Injected::Fail(429)));
        assert_eq!(switches.take_failure(true), Some(Injected::Fail(429)));
        assert_eq!(switches.take_failure(false), None);
        assert_eq!(switches.injected_failures(), 2);
    }

    #[test]
    fn retry_after_is_absent_unless_set() {
        let switches = Switches::default();
        assert_eq!(switches.retry_after(), None);
        switches.set_retry_after(Some(3));
        assert_eq!(switches.retry_after(), Some(3));
        switches.set_retry_after(None);
        assert_eq!(switches.retry_after(), None);
    }

    #[test]
    #[should_panic(expected = "error status")]
    fn fail_next_rejects_a_success_status() {
        Switches::default().fail_next(1, 200);
    }

    #[test]
    fn fail_for_fails_every_request_until_it_expires() {
        let switches = Switches::default();
        switches.fail_for(Duration::from_secs(60), 429);
        assert!(
            statuses(&switches, 50)
                .iter()
                .all(|s| *s == Some(Injected::Fail(429)))
        );
        let mut failures = switches.failures.lock();
        let now = Instant::now();
        assert_eq!(
            failures.take(now + Duration::from_secs(59), true),
            Some(Injected::Fail(429))
        );
        assert_eq!(failures.take(now + Duration::from_secs(61), true), None);
        assert_eq!(failures.until, None, "forgotten once expired");
    }

    #[test]
    fn fail_for_zero_ends_it_and_fail_next_comes_first() {
        let switches = Switches::default();
        switches.fail_for(Duration::from_secs(60), 503);
        switches.fail_next(1, 500);
        assert_eq!(switches.take_failure(false), Some(Injected::Fail(500)));
        assert_eq!(switches.take_failure(false), Some(Injected::Fail(503)));
        switches.fail_for(Duration::ZERO, 503);
        assert_eq!(switches.take_failure(false), None);
    }

    #[test]
    fn random_failures_follow_the_probability_and_the_seed() {
        let switches = Switches::default();
        switches.fail_at_random(0.3, 500, 42);
        let first = statuses(&switches, 10_000);
        let failed = first.iter().filter(|s| s.is_some()).count();
        // 3000 expected; the standard deviation is ~46, so this bound is 10 sigma wide.
        assert!((2550..=3450).contains(&failed), "{failed} of 10000 failed");
        assert!(
            first.iter().flatten().all(|s| *s == Injected::Fail(500)),
            "only creates fail after applying"
        );
        switches.fail_at_random(0.3, 500, 42);
        assert_eq!(
            statuses(&switches, 10_000),
            first,
            "same seed, same failures"
        );
        switches.fail_at_random(0.3, 500, 43);
        assert_ne!(statuses(&switches, 10_000), first, "another seed, others");
    }

    #[test]
    fn random_5xx_on_creates_sometimes_apply_but_429_never_does() {
        let switches = Switches::default();
        switches.fail_at_random(1.0, 500, 7);
        let creates: Vec<_> = (0..1000).map(|_| switches.take_failure(true)).collect();
        let applied = creates
            .iter()
            .filter(|s| **s == Some(Injected::FailAfterApplying))
            .count();
        assert!((350..=650).contains(&applied), "{applied} of 1000 applied");
        assert!(
            creates.iter().all(Option::is_some),
            "probability 1: all fail"
        );
        switches.fail_at_random(1.0, 429, 7);
        assert!((0..1000).all(|_| switches.take_failure(true) == Some(Injected::Fail(429))));
    }

    #[test]
    fn probability_zero_and_clear_failures_turn_everything_off() {
        let switches = Switches::default();
        switches.fail_at_random(1.0, 500, 1);
        switches.fail_at_random(0.0, 500, 1);
        assert_eq!(switches.take_failure(false), None);
        switches.fail_at_random(1.0, 500, 1);
        switches.fail_for(Duration::from_secs(60), 429);
        switches.fail_next(5, 503);
        switches.fail_next_creates_after_applying(5);
        switches.clear_failures();
        assert_eq!(switches.take_failure(true), None);
        assert!(!switches.take_failure_after_create());
    }

    #[test]
    #[should_panic(expected = "probability")]
    fn fail_at_random_rejects_a_probability_over_one() {
        Switches::default().fail_at_random(1.5, 500, 1);
    }
}

//! Faults a test (or a front-end developer) can switch on at any time: added latency, the next
//! N requests failing with 429 or 5xx, and the whole API being down (its port closed).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// `u64::MAX` in `retry_after_secs` means "send no `Retry-After`": Twilio does not promise one.
const NO_RETRY_AFTER: u64 = u64::MAX;

#[derive(Debug)]
pub struct Switches {
    latency_micros: AtomicU64,
    /// (requests still to fail, their status).
    failures: Mutex<(u32, u16)>,
    /// Creates still to answer 500 after they have taken effect.
    failures_after_create: AtomicU64,
    retry_after_secs: AtomicU64,
    down: watch::Sender<bool>,
    /// Whether `Emulator::serve` has its port open; lags `down` by one wake-up of the serve task.
    listening: watch::Sender<bool>,
}

impl Default for Switches {
    fn default() -> Self {
        Self {
            latency_micros: AtomicU64::new(0),
            failures: Mutex::new((0, 0)),
            failures_after_create: AtomicU64::new(0),
            retry_after_secs: AtomicU64::new(NO_RETRY_AFTER),
            down: watch::Sender::new(false),
            listening: watch::Sender::new(false),
        }
    }
}

impl Switches {
    /// Added to every answer (after the request has taken effect, as a slow network on the way
    /// back would: a client that times out may still have created a flow).
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
        assert!(
            (400..600).contains(&status),
            "fail_next wants an error status, got {status}"
        );
        *self.failures.lock().unwrap_or_else(|e| e.into_inner()) = (n, status);
    }

    /// Takes one pending failure, if any: the status to answer with.
    pub(super) fn take_failure(&self) -> Option<u16> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (left, status) = &mut *failures;
        (*left > 0).then(|| {
            *left -= 1;
            *status
        })
    }

    /// The next `n` creates take effect and then answer 500 (code 20500): Twilio's worst
    /// case, where a blind retry would make a duplicate.
    pub fn fail_next_creates_after_applying(&self, n: u32) {
        self.failures_after_create
            .store(u64::from(n), Ordering::Relaxed);
    }

    pub(super) fn take_failure_after_create(&self) -> bool {
        self.failures_after_create
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }

    /// `Some(secs)`: 429 answers carry `Retry-After: secs`; `None` (the default): no header.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_down() {
        let switches = Switches::default();
        assert_eq!(switches.take_failure(), None);
        switches.fail_next(2, 429);
        assert_eq!(switches.take_failure(), Some(429));
        assert_eq!(switches.take_failure(), Some(429));
        assert_eq!(switches.take_failure(), None);
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
}

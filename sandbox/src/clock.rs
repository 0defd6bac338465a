//! The sandbox clock: real time plus an offset the control API can advance.
//!
//! Everything that depends on wall time (the 24-hour window, media and URL
//! expiry, the pair rate limit, fault durations, webhook timestamps) reads this
//! one clock, so a test can jump a day ahead instead of waiting for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Cheap to clone; all clones share the offset.
#[derive(Clone)]
pub(crate) struct Clock {
    inner: Arc<Inner>,
}

struct Inner {
    /// Monotonic, so the clock never runs backwards when the system time is set.
    started: Instant,
    started_unix_ms: i64,
    offset_ms: AtomicI64,
}

// === impl Clock ===

impl Clock {
    pub(crate) fn new() -> Self {
        let started_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        Clock { inner: Arc::new(Inner { started: Instant::now(), started_unix_ms, offset_ms: AtomicI64::new(0) }) }
    }

    /// Sandbox time in unix milliseconds.
    pub(crate) fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.inner.started_unix_ms + elapsed + self.inner.offset_ms.load(Ordering::Relaxed)
    }

    /// Sandbox time in unix seconds.
    pub(crate) fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Sandbox time as webhooks write it: unix seconds in a string.
    pub(crate) fn timestamp(&self) -> String {
        self.now_secs().to_string()
    }

    /// How far the clock has been moved ahead of real time.
    pub(crate) fn offset(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.inner.offset_ms.load(Ordering::Relaxed)).unwrap_or(0))
    }

    /// Moves the clock forward by `by` (never back: expiries already passed
    /// stay passed).
    pub(crate) fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.inner.offset_ms.fetch_add(by, Ordering::Relaxed);
    }

    /// Back to real time.
    pub(crate) fn reset(&self) {
        self.inner.offset_ms.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_reading() {
        let clock = Clock::new();
        let before = clock.now_ms();
        assert!(before > 1_600_000_000_000);
        clock.advance(Duration::from_secs(86_400));
        let after = clock.now_ms();
        assert!(after - before >= 86_400_000, "{before} -> {after}");
        assert_eq!(clock.offset(), Duration::from_secs(86_400));
        assert_eq!(clock.timestamp(), clock.now_secs().to_string());
        let shared = clock.clone();
        shared.reset();
        assert_eq!(clock.offset(), Duration::ZERO);
        assert!(clock.now_ms() < after);
    }
}

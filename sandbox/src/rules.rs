//! The rules of `docs/cloud-api.md` §7 that reject traffic, and the state they keep:
//! throughput per number (130429), the pair rate limit per (number, user)
//! (131056), the 24-hour customer service window (131047) and undeliverable
//! recipients (131026). Whether each rule is on lives in the settings; this
//! module only keeps the counters, so switching a rule never loses them.

pub mod bucket;
pub mod pattern;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bucket::Bucket;

/// 24 hours, in milliseconds.
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Past this many tracked pairs, the full (idle) buckets are dropped.
const PAIR_PRUNE_AT: usize = 100_000;

/// Rule state of every hosted number, indexed like `Config::phone_number_ids`.
pub(crate) struct Limits {
    throughput: Vec<Mutex<Bucket>>,
    pairs: Mutex<HashMap<(usize, String), Bucket>>,
    /// Last time each user wrote to each number, unix ms on the sandbox clock.
    windows: Mutex<HashMap<(usize, String), i64>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a single arithmetic update: a panic cannot
    // leave the data half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// === impl Limits ===

impl Limits {
    pub(crate) fn new(numbers: usize) -> Self {
        Limits {
            throughput: (0..numbers).map(|_| Mutex::new(Bucket::empty())).collect(),
            pairs: Mutex::new(HashMap::new()),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one message from number `index`'s second-long budget of `mps`.
    pub(crate) fn take_throughput(&self, index: usize, now_ms: i64, mps: f64) -> bool {
        let Some(bucket) = self.throughput.get(index) else {
            return true;
        };
        let capacity = mps.max(1.0);
        lock(bucket).take(now_ms, capacity, mps / 1000.0)
    }

    /// Takes one message to `wa_id` from number `index`: `burst` at once, then
    /// one every `period_ms`.
    pub(crate) fn take_pair(&self, index: usize, wa_id: &str, now_ms: i64, burst: u32, period_ms: u64) -> bool {
        let capacity = f64::from(burst);
        #[allow(clippy::cast_precision_loss)]
        let per_ms = 1.0 / period_ms.max(1) as f64;
        let mut pairs = lock(&self.pairs);
        if pairs.len() >= PAIR_PRUNE_AT {
            pairs.retain(|_, bucket| !bucket.is_full(now_ms, capacity, per_ms));
        }
        pairs.entry((index, wa_id.to_owned())).or_insert_with(Bucket::empty).take(now_ms, capacity, per_ms)
    }

    /// The user `wa_id` wrote to number `index`: their window opens (or refreshes).
    pub(crate) fn user_wrote(&self, index: usize, wa_id: &str, now_ms: i64) {
        lock(&self.windows).insert((index, wa_id.to_owned()), now_ms);
    }

    /// Whether `wa_id` wrote to number `index` within the last 24 hours.
    pub(crate) fn window_open(&self, index: usize, wa_id: &str, now_ms: i64) -> bool {
        // A lookup by a borrowed tuple would need a custom key type; the
        // clone is one short string on a path that only runs for sends.
        lock(&self.windows).get(&(index, wa_id.to_owned())).is_some_and(|wrote| now_ms - wrote < WINDOW_MS)
    }

    /// Forgets every counter and window.
    pub(crate) fn reset(&self) {
        for bucket in &self.throughput {
            *lock(bucket) = Bucket::empty();
        }
        lock(&self.pairs).clear();
        lock(&self.windows).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_allows_one_second_of_burst_then_refills() {
        let limits = Limits::new(2);
        let now = 1_000_000;
        let allowed = (0..10).filter(|_| limits.take_throughput(0, now, 5.0)).count();
        assert_eq!(allowed, 5);
        // The other number has its own budget.
        assert!(limits.take_throughput(1, now, 5.0));
        // 200 ms later one more message fits (5 per second).
        assert!(limits.take_throughput(0, now + 200, 5.0));
        assert!(!limits.take_throughput(0, now + 200, 5.0));
    }

    #[test]
    fn pair_limit_bursts_then_paces() {
        let limits = Limits::new(1);
        let now = 5_000_000;
        let allowed = (0..50).filter(|_| limits.take_pair(0, "1555", now, 45, 6000)).count();
        assert_eq!(allowed, 45);
        assert!(limits.take_pair(0, "1666", now, 45, 6000), "another user is not affected");
        assert!(!limits.take_pair(0, "1555", now + 5_999, 45, 6000));
        assert!(limits.take_pair(0, "1555", now + 6_000, 45, 6000));
        assert!(!limits.take_pair(0, "1555", now + 6_000, 45, 6000));
    }

    #[test]
    fn windows_last_24_hours() {
        let limits = Limits::new(2);
        let now = 10_000_000;
        assert!(!limits.window_open(0, "1555", now));
        limits.user_wrote(0, "1555", now);
        assert!(limits.window_open(0, "1555", now + WINDOW_MS - 1));
        assert!(!limits.window_open(0, "1555", now + WINDOW_MS));
        assert!(!limits.window_open(1, "1555", now), "windows are per number");
        limits.reset();
        assert!(!limits.window_open(0, "1555", now));
    }
}

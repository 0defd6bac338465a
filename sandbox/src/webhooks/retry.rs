//! When to try a webhook delivery again: exponential backoff under a horizon.

use std::time::Duration;

use rand::Rng as _;

/// Backoff schedule for one webhook delivery.
///
/// Meta retries any non-200 answer "with decreasing frequency" for up to 7
/// days; the sandbox keeps the shape with a shorter horizon so a dead receiver
/// does not keep work around for a week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait before the first retry.
    pub initial: Duration,
    /// Upper bound of one wait.
    pub max: Duration,
    /// Give up when the next attempt would start later than this after the first.
    pub horizon: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
            horizon: Duration::from_secs(10 * 60),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `failures`-th failed attempt (1-based), before jitter.
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial.checked_mul(1u32 << doublings).unwrap_or(self.max).min(self.max)
    }

    /// The wait after the `failures`-th failure with up to 10% added at random,
    /// so receivers that fail together are not retried in lockstep.
    pub fn jittered_delay(&self, failures: u32) -> Duration {
        let base = self.delay(failures);
        let tenth = u64::try_from(base.as_millis() / 10).unwrap_or(u64::MAX);
        base + Duration::from_millis(rand::rng().random_range(0..=tenth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_200ms_up_to_30s() {
        let policy = RetryPolicy::default();
        let delays: Vec<u128> = (1..=11).map(|n| policy.delay(n).as_millis()).collect();
        assert_eq!(delays, [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
        assert_eq!(policy.delay(1000), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let policy = RetryPolicy::default();
        for failures in 1..20 {
            let base = policy.delay(failures);
            let jittered = policy.jittered_delay(failures);
            assert!(jittered >= base && jittered <= base + base / 10);
        }
    }
}

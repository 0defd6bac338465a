//! A token bucket over the sandbox clock, for the throughput and pair limits.

/// Tokens refill continuously up to a capacity; each message takes one.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    /// When `tokens` was last brought up to date; `None` for a fresh, full bucket.
    at_ms: Option<i64>,
}

impl Bucket {
    /// A bucket that has not been used yet: full, whatever its capacity turns out to be.
    pub fn empty() -> Self {
        Bucket { tokens: 0.0, at_ms: None }
    }

    fn refill(&mut self, now_ms: i64, capacity: f64, per_ms: f64) {
        self.tokens = match self.at_ms {
            None => capacity,
            // The clock only moves forward, but a reset can move it back to real time.
            #[allow(clippy::cast_precision_loss)]
            Some(at) => (self.tokens + (now_ms - at).max(0) as f64 * per_ms).min(capacity),
        };
        self.at_ms = Some(now_ms);
    }

    /// Takes a token if there is one. `capacity` and `per_ms` may change
    /// between calls (the settings can be patched): the bucket adapts.
    pub fn take(&mut self, now_ms: i64, capacity: f64, per_ms: f64) -> bool {
        self.refill(now_ms, capacity, per_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket would be full now (so forgetting it changes nothing).
    pub fn is_full(&self, now_ms: i64, capacity: f64, per_ms: f64) -> bool {
        let mut copy = *self;
        copy.refill(now_ms, capacity, per_ms);
        copy.tokens >= capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_at_the_rate_up_to_capacity() {
        let mut bucket = Bucket::empty();
        assert!(bucket.take(0, 2.0, 0.001));
        assert!(bucket.take(0, 2.0, 0.001));
        assert!(!bucket.take(0, 2.0, 0.001));
        assert!(!bucket.take(999, 2.0, 0.001));
        assert!(bucket.take(1000, 2.0, 0.001));
        assert!(bucket.is_full(10_000, 2.0, 0.001));
        assert!(!bucket.is_full(1000, 2.0, 0.001));
    }

    #[test]
    fn a_lower_capacity_caps_saved_tokens() {
        let mut bucket = Bucket::empty();
        assert!(bucket.take(0, 100.0, 0.1));
        assert!(bucket.take(0, 1.0, 0.001));
        assert!(!bucket.take(0, 1.0, 0.001));
    }
}

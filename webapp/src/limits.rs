//! Request rate limits, off by default. The old client allowed 50 requests
//! per second (bursts of 150) on `/v1/messages`; set `WA_WEB_MESSAGES_RPS`
//! to enforce a limit per webapp. Beyond it: 429/1015 with `Retry-After`.

use std::sync::Mutex;
use std::time::Instant;

use wire::{ApiError, ErrorCode};

use crate::envelope::Failure;

/// A token bucket: `rate` tokens per second, up to `burst`.
pub struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    pub fn new(rate: f64, burst: f64) -> Self {
        Bucket { rate, burst, state: Mutex::new((burst, Instant::now())) }
    }

    /// Takes a token, or says how many seconds until one is there.
    pub fn take(&self) -> Result<(), u64> {
        let mut state = self.state.lock().expect("bucket lock");
        let (tokens, last) = *state;
        let now = Instant::now();
        let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            Ok(())
        } else {
            *state = (tokens, now);
            Err(((1.0 - tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

#[derive(Default)]
pub struct Limits {
    pub messages: Option<Bucket>,
}

impl Limits {
    pub fn messages(&self) -> Result<(), Failure> {
        match &self.messages {
            None => Ok(()),
            Some(bucket) => bucket.take().map_err(|retry_after| {
                let mut e = ApiError::new(ErrorCode::TooManyRequests, "Rate limiting exceeded on /v1/messages");
                e.retry_after = Some(retry_after);
                e.into()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_refuses() {
        let b = Bucket::new(1.0, 3.0);
        assert!(b.take().is_ok() && b.take().is_ok() && b.take().is_ok());
        assert_eq!(b.take(), Err(1));
    }
}

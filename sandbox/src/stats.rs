//! Counters for `GET /_sandbox/stats`: what was accepted, refused, emitted and delivered.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

/// Lock-free except the per-code refusal map, which only refusals touch.
#[derive(Default)]
pub(crate) struct Stats {
    pub sends_accepted: AtomicU64,
    refused: Mutex<BTreeMap<u32, u64>>,
    pub statuses: StatusCounts,
    pub inbound: AtomicU64,
    pub webhook_posts: AtomicU64,
    pub webhook_items: AtomicU64,
    pub webhook_failed_attempts: AtomicU64,
    pub webhook_dropped_posts: AtomicU64,
    pub webhook_duplicates: AtomicU64,
    pub faults_fired: AtomicU64,
}

#[derive(Default)]
pub(crate) struct StatusCounts {
    pub sent: AtomicU64,
    pub delivered: AtomicU64,
    pub read: AtomicU64,
    pub played: AtomicU64,
    pub failed: AtomicU64,
}

// === impl Stats ===

impl Stats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A send or API call refused with `code`.
    pub(crate) fn refused(&self, code: u32) {
        *self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(code).or_default() += 1;
    }

    pub(crate) fn to_json(&self) -> Value {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let refused: BTreeMap<String, u64> = self
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(code, n)| (code.to_string(), *n))
            .collect();
        json!({
            "sends": {"accepted": get(&self.sends_accepted), "refused": refused},
            "statuses": {
                "sent": get(&self.statuses.sent),
                "delivered": get(&self.statuses.delivered),
                "read": get(&self.statuses.read),
                "played": get(&self.statuses.played),
                "failed": get(&self.statuses.failed),
            },
            "inbound": get(&self.inbound),
            "webhooks": {
                "posts": get(&self.webhook_posts),
                "items": get(&self.webhook_items),
                "failed_attempts": get(&self.webhook_failed_attempts),
                "dropped_posts": get(&self.webhook_dropped_posts),
                "duplicates": get(&self.webhook_duplicates),
            },
            "faults_fired": get(&self.faults_fired),
        })
    }

    pub(crate) fn reset(&self) {
        for counter in [
            &self.sends_accepted,
            &self.statuses.sent,
            &self.statuses.delivered,
            &self.statuses.read,
            &self.statuses.played,
            &self.statuses.failed,
            &self.inbound,
            &self.webhook_posts,
            &self.webhook_items,
            &self.webhook_failed_attempts,
            &self.webhook_dropped_posts,
            &self.webhook_duplicates,
            &self.faults_fired,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_resets() {
        let stats = Stats::default();
        Stats::bump(&stats.sends_accepted);
        Stats::add(&stats.webhook_items, 3);
        stats.refused(130429);
        stats.refused(130429);
        let shown = stats.to_json();
        assert_eq!(shown["sends"]["accepted"], 1);
        assert_eq!(shown["sends"]["refused"]["130429"], 2);
        assert_eq!(shown["webhooks"]["items"], 3);
        stats.reset();
        assert_eq!(stats.to_json()["sends"]["refused"], json!({}));
    }
}

//! Counters and gauges of this coreapp, for `/v1/stats` and `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

#[derive(Default)]
pub struct Metrics {
    /// Webhook POSTs to the business by result (`success` or the HTTP
    /// status or `error`), as the old client's `callback_requests`.
    callback_requests: Mutex<BTreeMap<String, u64>>,
    callback_latency_ms_sum: AtomicU64,
    callback_latency_count: AtomicU64,
    /// Messages Cloud accepted, and Cloud errors by code.
    pub messages_sent: AtomicU64,
    cloud_errors: Mutex<BTreeMap<i64, u64>>,
}

impl Metrics {
    pub fn callback(&self, result: &str, latency_ms: u64) {
        *self.callback_requests.lock().expect("metrics lock").entry(result.to_string()).or_default() += 1;
        self.callback_latency_ms_sum.fetch_add(latency_ms, Ordering::Relaxed);
        self.callback_latency_count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn cloud_error(&self, code: i64) {
        *self.cloud_errors.lock().expect("metrics lock").entry(code).or_default() += 1;
    }

    /// A snapshot, with the queue depths the caller measured.
    pub fn snapshot(&self, callback_queue_size: i64, send_queue_size: i64) -> Value {
        let callbacks = self.callback_requests.lock().expect("metrics lock").clone();
        let errors = self.cloud_errors.lock().expect("metrics lock").clone();
        json!({
            "callback_queue_size": callback_queue_size,
            "send_queue_size": send_queue_size,
            "callback_requests": callbacks,
            "callback_requests_duration_ms_sum": self.callback_latency_ms_sum.load(Ordering::Relaxed),
            "callback_requests_duration_ms_count": self.callback_latency_count.load(Ordering::Relaxed),
            "messages_sent": self.messages_sent.load(Ordering::Relaxed),
            "cloud_errors": errors.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<_, _>>(),
        })
    }
}

//! Counters and gauges of this coreapp, for `/v1/stats/app`, `/v1/stats/db`
//! and `/metrics`, under the old client's names where it had them
//! (`callback_queue_size`, `callback_requests`,
//! `callback_requests_duration_ms`) and ours beside them.

use std::sync::Mutex;
use std::time::Instant;

use wire::metrics::{Counter, CounterVec, Families, Histogram};

use crate::Core;
use crate::error::CoreError;
use crate::store::queue::{self, Queue};

/// Seconds the send rate is averaged over.
const RATE_WINDOW_S: usize = 60;

pub struct Metrics {
    /// Webhook POSTs to the business by result (`success`, the HTTP status
    /// or `error`) and event type.
    callback_requests: CounterVec,
    callback_duration: Histogram,
    messages_sent: Counter,
    cloud_errors: CounterVec,
    sent_per_second: Mutex<Window>,
}

/// Messages accepted by Cloud in each of the last seconds.
struct Window {
    started: Instant,
    /// The second (since `started`) the newest slot belongs to.
    newest: u64,
    slots: [u64; RATE_WINDOW_S],
}

impl Window {
    fn advance(&mut self) -> u64 {
        let now = self.started.elapsed().as_secs();
        let gap = now.saturating_sub(self.newest).min(RATE_WINDOW_S as u64);
        for s in 1..=gap {
            self.slots[((self.newest + s) % RATE_WINDOW_S as u64) as usize] = 0;
        }
        self.newest = now;
        now
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            callback_requests: CounterVec::new(
                "callback_requests",
                "Webhook requests to the business, by result (success, HTTP status or error) and event type",
                &["result", "type"],
            ),
            callback_duration: Histogram::new(
                "callback_requests_duration_ms",
                "Time the business's webhook server took to answer",
            ),
            messages_sent: Counter::new("messages_sent", "Messages the Cloud API accepted from this node"),
            cloud_errors: CounterVec::new(
                "cloud_errors",
                "Errors the Cloud API answered sends with, by code",
                &["code"],
            ),
            sent_per_second: Mutex::new(Window { started: Instant::now(), newest: 0, slots: [0; RATE_WINDOW_S] }),
        }
    }
}

impl Metrics {
    /// One webhook POST; `kind` is the outbox event kind, shown as the old
    /// client's `type` (`inbound_message`, `status_change`, `error`).
    pub fn callback(&self, result: &str, kind: &str, latency_ms: u64) {
        let kind = match kind {
            "message" => "inbound_message",
            "status" => "status_change",
            other => other,
        };
        self.callback_requests.inc(&[result, kind]);
        self.callback_duration.observe(latency_ms as f64);
    }

    pub fn cloud_error(&self, code: i64) {
        self.cloud_errors.inc(&[&code.to_string()]);
    }

    pub fn message_sent(&self) {
        self.messages_sent.inc();
        let mut w = self.sent_per_second.lock().expect("metrics lock");
        let now = w.advance();
        w.slots[(now % RATE_WINDOW_S as u64) as usize] += 1;
    }

    /// Messages per second accepted by Cloud over the last minute.
    pub fn send_rate(&self) -> f64 {
        let mut w = self.sent_per_second.lock().expect("metrics lock");
        w.advance();
        w.slots.iter().sum::<u64>() as f64 / RATE_WINDOW_S as f64
    }

    pub fn messages_sent(&self) -> u64 {
        self.messages_sent.get()
    }

    /// The counters, with the queue depths the caller measured.
    pub fn families(&self, depths: &QueueDepths, uptime_s: i64) -> Families {
        let mut f = Families::new();
        f.gauge("callback_queue_size", "Webhook events waiting to be delivered", depths.outbox as f64);
        f.push(self.callback_requests.family());
        f.push(self.callback_duration.family());
        f.gauge("send_queue_size", "Accepted messages not yet handed to the Cloud API", depths.outbound as f64);
        f.gauge("inbound_queue_size", "Cloud webhooks received, not yet translated", depths.inbound as f64);
        f.gauge("media_download_queue_size", "Inbound media waiting to be downloaded", depths.downloads as f64);
        f.push(self.messages_sent.family());
        f.gauge(
            "send_rate",
            "Messages per second the Cloud API accepted from this node, over the last minute",
            self.send_rate(),
        );
        f.push(self.cloud_errors.family());
        f.gauge("coreapp_uptime", "Seconds since this coreapp started", uptime_s as f64);
        f
    }
}

/// Pending work in each queue.
#[derive(Debug, Default, Clone, Copy)]
pub struct QueueDepths {
    pub outbound: i64,
    pub inbound: i64,
    pub outbox: i64,
    pub downloads: i64,
}

pub async fn queue_depths(core: &Core) -> Result<QueueDepths, CoreError> {
    core.db
        .run(|conn| {
            Ok(QueueDepths {
                outbound: queue::depth(conn, Queue::Outbound)?,
                inbound: queue::depth(conn, Queue::Inbound)?,
                outbox: queue::depth(conn, Queue::Outbox)?,
                downloads: queue::depth(conn, Queue::MediaDownload)?,
            })
        })
        .await
}

/// `/v1/stats/app` of this node.
pub async fn app_families(core: &Core) -> Result<Families, CoreError> {
    let depths = queue_depths(core).await?;
    Ok(core.metrics.families(&depths, (crate::store::db::now_ms() - core.started_at_ms) / 1000))
}

/// `/v1/stats/db` of this node: connection pool use, the rows of each
/// queue by state, and whether the database answers (during an outage the
/// rows are left out and the outage's length is given instead).
pub async fn db_families(core: &Core) -> Result<Families, CoreError> {
    let counted = core
        .db
        .run(|conn| {
            let mut rows = Vec::new();
            for (name, q) in [
                ("outbound_messages", Queue::Outbound),
                ("inbound_events", Queue::Inbound),
                ("webhook_outbox", Queue::Outbox),
                ("media_downloads", Queue::MediaDownload),
            ] {
                for state in queue::State::ALL {
                    let n = queue::count_in_state(conn, q, state)?;
                    if n > 0 || state == queue::State::Pending {
                        rows.push((name, state.as_str(), n));
                    }
                }
            }
            Ok(rows)
        })
        .await;
    let rows = match counted {
        Ok(rows) => rows,
        Err(e) if e.is_unavailable() => Vec::new(),
        Err(e) => return Err(e),
    };
    let outage = core.db.outage();
    let (in_use, idle) = core.db.pool_state();
    let engine = format!("{:?}", core.db.engine()).to_ascii_lowercase();
    let mut f = Families::new();
    f.gauge_with("db_pool_connections_in_use", "Database connections lent out", &[("engine", &engine)], in_use as f64);
    f.gauge_with("db_pool_connections_idle", "Open database connections waiting", &[("engine", &engine)], idle as f64);
    f.gauge("db_pool_size", "Most connections the pool opens", core.config.db_pool_size as f64);
    for (table, state, n) in rows {
        f.gauge_with("db_rows", "Rows of each work table, by state", &[("table", table), ("state", state)], n as f64);
    }
    f.gauge(
        "db_reachable",
        "1 while the database answers (the last heartbeat reached it, no outage in progress)",
        if core.health.db_ok() && outage.is_none() { 1.0 } else { 0.0 },
    );
    f.gauge(
        "db_connection_checks",
        "Connections pinged before use since start (suspect after a failure, or idle for long)",
        core.db.connection_checks() as f64,
    );
    f.gauge(
        "db_outage_seconds",
        "How long the database has been unavailable to this coreapp (0 while it answers)",
        outage.as_ref().map_or(0.0, |o| o.duration.as_secs_f64()),
    );
    f.gauge(
        "db_outage_refused_calls",
        "Calls refused at once during the outage in progress",
        outage.as_ref().map_or(0.0, |o| o.refused as f64),
    );
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_carry_the_old_names() {
        let m = Metrics::default();
        m.callback("success", "status", 12);
        m.callback("500", "message", 40);
        m.cloud_error(131047);
        m.message_sent();
        m.message_sent();
        let depths = QueueDepths { outbound: 3, inbound: 0, outbox: 7, downloads: 1 };
        let f = m.families(&depths, 5);
        assert_eq!(f.get("callback_queue_size").unwrap().find(&[]).unwrap().as_number(), Some(7.0));
        let calls = f.get("callback_requests").unwrap();
        assert_eq!(calls.find(&[("result", "500"), ("type", "inbound_message")]).unwrap().as_number(), Some(1.0));
        assert_eq!(f.get("messages_sent").unwrap().find(&[]).unwrap().as_number(), Some(2.0));
        assert_eq!(f.get("cloud_errors").unwrap().find(&[("code", "131047")]).unwrap().as_number(), Some(1.0));
        assert!((m.send_rate() - 2.0 / 60.0).abs() < 1e-9);
        let histogram =
            f.get("callback_requests_duration_ms").unwrap().find(&[]).unwrap().as_histogram().unwrap().clone();
        assert_eq!(histogram.count, 2);
    }
}

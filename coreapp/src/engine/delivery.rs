//! Delivery: POSTs queued on-prem events to `webhooks.url`. HTTP 200 is
//! success; anything else is retried after `n * callback_backoff_delay_ms`
//! (capped at `max_callback_backoff_delay_ms`), forever, as the old client.
//! At most `webhooks.max_concurrent_requests` POSTs are in flight. The claim
//! hands out only the oldest pending event of each contact, so one contact's
//! events arrive in order and a failing one holds back those after it.

use std::sync::Arc;

use tokio::task::JoinSet;

use crate::Core;
use crate::store::db::now_ms;
use crate::store::outbox::{self, Pending};
use crate::store::queue::{self, Queue, Settle, State};

pub async fn step(core: &Arc<Core>) -> anyhow::Result<usize> {
    let owner = core.owner.clone();
    let lease = core.config.workers.lease.as_millis() as i64;
    let settings = core.settings().await?;
    let Some(url) = settings.webhooks.url.clone() else {
        return Ok(0);
    };
    let limit = i64::from(settings.webhooks.max_concurrent_requests) * 4;
    let rows = core
        .db
        .run(move |conn| {
            let ids = queue::claim(conn, Queue::Outbox, &owner, now_ms(), lease, limit)?;
            Ok(if ids.is_empty() { Vec::new() } else { outbox::load(conn, &ids)? })
        })
        .await?;
    let n = rows.len();

    let permits = Arc::new(tokio::sync::Semaphore::new(settings.webhooks.max_concurrent_requests as usize));
    let client = core.webhooks.with_ca(core.webhook_ca().await?.as_deref());
    let mut tasks = JoinSet::new();
    for row in rows {
        let (core, url, permits, client) = (core.clone(), url.clone(), permits.clone(), client.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire().await.expect("semaphore open");
            let result = post(&core, &client, &url, &row).await;
            (row, result)
        });
    }
    let mut outcomes = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        outcomes.push(done?);
    }
    // The results of the whole step in one transaction: one commit, not one
    // per event. While the database is away it waits for it, as long as the
    // claims hold, so delivered events are not delivered again.
    let owner = core.owner.clone();
    core.db
        .run_patiently(core.config.workers.lease, move |conn| {
            crate::store::db::transaction(conn, |conn| {
                let now = now_ms();
                let delivered: Vec<String> =
                    outcomes.iter().filter(|(_, r)| r.is_ok()).map(|(row, _)| row.id.clone()).collect();
                queue::finish_many(conn, Queue::Outbox, &delivered, &owner)?;
                for (row, result) in &outcomes {
                    let attempts = row.attempts + 1;
                    match result {
                        Ok(()) => {}
                        Err(problem) => {
                            let delay = settings.callback_retry_delay(u32::try_from(attempts).unwrap_or(u32::MAX));
                            let at = now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                            tracing::warn!(event_id = %row.id, kind = %row.kind, attempts, %problem, "webhook delivery failed");
                            let settle = Settle { state: State::Pending, attempts, next_attempt_at: at, last_error: Some(problem.clone()) };
                            queue::settle(conn, Queue::Outbox, &row.id, &owner, &settle)?;
                        }
                    }
                }
                Ok(())
            })
        })
        .await?;
    Ok(n)
}

async fn post(core: &Core, client: &reqwest::Client, url: &str, row: &Pending) -> Result<(), String> {
    let started = std::time::Instant::now();
    let sent = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(row.payload.clone())
        .send()
        .await;
    let latency = started.elapsed().as_millis() as u64;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            core.metrics.callback("error", &row.kind, latency);
            // The source chain says why (refused, TLS, timeout); the URL
            // loses its query and userinfo, where a webhook URL keeps its
            // secrets.
            return Err(format!("request failed: {}", crate::clients::outbound::error_text(e)));
        }
    };
    match response.status().as_u16() {
        200 => {
            core.metrics.callback("success", &row.kind, latency);
            Ok(())
        }
        other => {
            core.metrics.callback(&other.to_string(), &row.kind, latency);
            Err(format!("target answered HTTP {other}"))
        }
    }
}

//! The sender: claims queued messages, paces them under the number's Cloud
//! throughput, sends them, and settles each one: accepted (wamid kept),
//! retried with backoff, or failed with a `failed` status for the business.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::Core;
use crate::cloud::{SendOutcome, retry_delay};
use crate::db::{now_ms, transaction};
use crate::store::outbound::{self, Outbound};
use crate::store::outbox;
use crate::store::queue::{self, FAILED, PENDING, Queue, Settle};
use crate::workers::Pacer;

/// A message still not accepted by Cloud after this long fails with the
/// old client's 408 ("Message is not valid: pending more than 1 day").
const GIVE_UP_AFTER_MS: i64 = 24 * 3600 * 1000;
const BATCH: i64 = 64;

pub async fn step(core: &Arc<Core>, pacer: &mut Pacer) -> anyhow::Result<usize> {
    let (owner, lease) = (core.owner.clone(), core.config.workers.lease.as_millis() as i64);
    let rows = core
        .db
        .run(move |conn| {
            let ids = queue::claim(conn, Queue::Outbound, &owner, now_ms(), lease, BATCH)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            Ok(outbound::load(conn, &ids)?)
        })
        .await?;
    let n = rows.len();
    let mut tasks = JoinSet::new();
    for row in rows {
        pacer.ready().await;
        let core = core.clone();
        tasks.spawn(async move {
            let id = row.id.clone();
            if let Err(e) = send_one(&core, row).await {
                tracing::error!(message_id = %id, error = ?e, "could not settle a send; its lease will lapse and it will be retried");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(n)
}

async fn send_one(core: &Arc<Core>, row: Outbound) -> anyhow::Result<()> {
    let payload: Value = serde_json::from_str(&row.payload)?;
    let cloud_payload = wire::messages::to_cloud(&row.recipient, &payload);
    let outcome = core.cloud.send_message(&cloud_payload).await;
    let attempts = row.attempts + 1;
    let owner = core.owner.clone();
    let now = now_ms();
    match outcome {
        SendOutcome::Accepted { wamid } => {
            tracing::debug!(message_id = %row.id, %wamid, "accepted by Cloud");
            let id = row.id.clone();
            let kept = core.db.run(move |c| Ok(outbound::mark_sent(c, &id, &owner, &wamid, attempts, now)?)).await?;
            if !kept {
                tracing::warn!(message_id = %row.id, "claim lapsed before the send was recorded");
            }
        }
        SendOutcome::Retry { reason } if now - row.created_at < GIVE_UP_AFTER_MS => {
            let delay = retry_delay(attempts as u32);
            tracing::warn!(message_id = %row.id, attempts, retry_in = ?delay, %reason, "send will be retried");
            let id = row.id.clone();
            let settle = Settle {
                state: PENDING,
                attempts,
                next_attempt_at: now + delay.as_millis() as i64,
                last_error: Some(reason),
            };
            core.db.run(move |c| Ok(queue::settle(c, Queue::Outbound, &id, &owner, &settle)?)).await?;
        }
        SendOutcome::Retry { reason } => {
            let error = json!({"code": 408, "title": "Message is not valid",
                               "details": format!("Message was pending for more than 1 day. Last problem: {reason}")});
            fail(core, row, attempts, error).await?;
        }
        SendOutcome::Failed { error } => {
            tracing::warn!(message_id = %row.id, cloud_error = %error, "Cloud refused the message");
            fail(core, row, attempts, wire::cloud::onprem_error(&error)).await?;
        }
    }
    core.wake.delivery.notify_one();
    Ok(())
}

/// Settles a message as failed and queues its `failed` status webhook, in
/// one transaction.
async fn fail(core: &Arc<Core>, row: Outbound, attempts: i32, onprem_error: Value) -> anyhow::Result<()> {
    let owner = core.owner.clone();
    core.db
        .run(move |conn| {
            transaction(conn, |conn| {
                let now = now_ms();
                let settle = Settle {
                    state: FAILED,
                    attempts,
                    next_attempt_at: now,
                    last_error: Some(onprem_error.to_string()),
                };
                if !queue::settle(conn, Queue::Outbound, &row.id, &owner, &settle)? {
                    return Ok(());
                }
                if outbound::record_status(conn, &row.id, "failed", &(now / 1000).to_string(), now)? {
                    outbound::set_last_status(conn, &row.id, "failed", now)?;
                    let status = wire::cloud::onprem_failed_status(&row.id, &row.recipient, now / 1000, &onprem_error);
                    let event = json!({"statuses": [status]});
                    outbox::insert(conn, &row.recipient, "status", &event.to_string(), now)?;
                }
                Ok(())
            })
        })
        .await?;
    Ok(())
}

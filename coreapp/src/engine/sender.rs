//! The sender: claims queued messages (the oldest of each recipient), paces
//! them under the number's Cloud throughput (one budget shared by every
//! coreapp), sends them, and settles each: accepted (wamid kept, through
//! the group-commit recorder in `store::sent`), retried with backoff (a
//! recipient hit by the pair rate limit is held back 6 s), or failed with a
//! `failed` status webhook.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::task::JoinSet;
use wire::status::MessageStatus;
use wire::{ApiError, ErrorCode};

use crate::Core;
use crate::clients::cloud::{SendOutcome, retry_delay};
use crate::engine::Pacer;
use crate::error::CoreError;
use crate::store::db::{AnyConnection, now_ms, transaction};
use crate::store::outbound::{self, Outbound};
use crate::store::queue::{self, Queue, Settle, State};
use crate::store::{inbound, outbox};

/// A message still not accepted by Cloud after this long fails with the
/// old client's 408 ("Message is not valid: pending more than 1 day").
const GIVE_UP_AFTER_MS: i64 = 24 * 3600 * 1000;
const BATCH: i64 = 64;

/// Most sends under way at once. A step claims the next batch while the
/// sends of the last are still out, as long as there is room for a whole
/// batch: a batch no longer waits for its slowest send.
const MAX_IN_FLIGHT: usize = 2 * BATCH as usize;

/// The sends under way, across steps.
#[derive(Default)]
pub struct InFlight {
    tasks: JoinSet<()>,
}

impl InFlight {
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Waits for one send to be settled.
    async fn one_done(&mut self) {
        if let Some(Err(e)) = self.tasks.join_next().await {
            tracing::error!(error = %e, "a send task failed; its lease will lapse and it will be retried");
        }
    }

    /// Waits until every send under way is settled (or given back).
    pub async fn finish(&mut self) {
        while !self.tasks.is_empty() {
            self.one_done().await;
        }
    }
}

/// Claims the next batch and starts its sends, paced; returns how many it
/// started, without waiting for them (see [`InFlight`]).
pub async fn step(core: &Arc<Core>, pacer: &mut Pacer, in_flight: &mut InFlight) -> anyhow::Result<usize> {
    while let Some(done) = in_flight.tasks.try_join_next() {
        if let Err(e) = done {
            tracing::error!(error = %e, "a send task failed; its lease will lapse and it will be retried");
        }
    }
    while in_flight.len() > MAX_IN_FLIGHT - BATCH as usize {
        in_flight.one_done().await;
    }
    let (owner, lease) = (core.owner.clone(), core.config.workers.lease.as_millis() as i64);
    let claimed = core
        .db
        .run(move |conn| {
            let ids = queue::claim(conn, Queue::Outbound, &owner, now_ms(), lease, BATCH)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            Ok(outbound::load(conn, &ids)?)
        })
        .await;
    let rows = match claimed {
        Ok(rows) => rows,
        Err(e) => {
            // The caller hands back every claim of this node after an
            // outage: none may still be in use by a send.
            in_flight.finish().await;
            return Err(e.into());
        }
    };
    let n = rows.len();
    if n > 0 {
        pacer.reserve(core, n).await;
    }
    for row in rows {
        pacer.ready().await;
        let core = core.clone();
        in_flight.tasks.spawn(async move {
            let id = row.id.clone();
            // The claim is renewed while the send and its record take
            // longer than a third of the lease (the database slow to take
            // the record, say): a claim that lapsed would be taken again,
            // by this node's next batch as by another node, and sent twice.
            let settled = super::keep_claimed(&core, Queue::Outbound, &id, send_and_settle(&core, row)).await;
            if let Err(e) = settled {
                tracing::error!(message_id = %id, error = ?e, "could not settle a send; its lease will lapse and it will be retried");
            }
        });
    }
    Ok(n)
}

/// Maps the message ids a message refers to (quoted replies, reactions) to
/// Cloud's wamids, for the ids we know.
fn referenced_wamids(conn: &mut AnyConnection, ids: &[String]) -> Result<HashMap<String, String>, CoreError> {
    let mut map = HashMap::new();
    for id in ids {
        let wamid = match inbound::wamid_of(conn, id)? {
            Some(w) => Some(w),
            None => outbound::wamid_of(conn, id)?,
        };
        if let Some(w) = wamid {
            map.insert(id.clone(), w);
        }
    }
    Ok(map)
}

/// Translates a stored message and hands it to Cloud once; media ids of
/// ours become Cloud's (uploading the file first when needed).
async fn attempt(core: &Core, row: &Outbound) -> anyhow::Result<SendOutcome> {
    let mut message = row.message()?;
    // Links from hosts that need credentials are fetched to the volume
    // once; the stored message then names the file.
    let fetching = crate::clients::media_links::resolve(core, &mut message);
    match super::keep_claimed(core, Queue::Outbound, &row.id, fetching).await {
        Ok(true) => {
            let (id, stored) = (row.id.clone(), message.clone());
            core.db.run(move |conn| Ok(outbound::set_message(conn, &id, &stored, now_ms())?)).await?;
        }
        Ok(false) => {}
        Err(outcome) => return Ok(outcome),
    }
    let referenced: Vec<String> = message.referenced_ids().into_iter().map(String::from).collect();
    let refs = if referenced.is_empty() {
        HashMap::new()
    } else {
        core.db.run(move |conn| referenced_wamids(conn, &referenced)).await?
    };
    let media_ids: Vec<String> = message.media_ids().into_iter().map(String::from).collect();
    let media = if media_ids.is_empty() {
        HashMap::new()
    } else {
        // Uploading a large file may outlast the claim's lease.
        let uploads = crate::media_files::cloud_ids_for_send(core, &media_ids);
        match super::keep_claimed(core, Queue::Outbound, &row.id, uploads).await {
            Ok(media) => media,
            Err(outcome) => return Ok(outcome),
        }
    };
    // The business's `to` (a phone, a stand-in or a BSUID): the user's
    // phone when known, else their BSUID.
    // A phone number needs no lookup (most sends): no trip to the database.
    let target = match crate::identities::phone_target(&row.recipient) {
        Some(phone) => Some(phone),
        None => {
            let to = row.recipient.clone();
            core.db.run(move |conn| crate::identities::target(conn, &to)).await?
        }
    };
    let Some(target) = target else {
        return Ok(SendOutcome::Failed {
            error: json!({"code": 1006, "title": "Resource not found",
                          "details": format!("Recipient {} is not a known user", row.recipient)}),
        });
    };
    if !media.is_empty() {
        message.each_media_mut(&mut |m| {
            if let Some(cloud_id) = m.id.as_ref().and_then(|id| media.get(id.as_str())) {
                m.id = Some(cloud_id.clone());
            }
        });
    }
    let cloud_payload = wire::messages::to_cloud(target.as_str(), &message, &|id| refs.get(id).cloned());
    Ok(core.cloud.send_message(&cloud_payload).await)
}

async fn send_and_settle(core: &Arc<Core>, row: Outbound) -> anyhow::Result<()> {
    // What Cloud was told must be recorded: while the database is away, a
    // settle waits for it for as long as this node's claim holds, so the
    // message is neither lost nor sent again by another node.
    let patience = core.config.workers.lease;
    let outcome = match attempt(core, &row).await {
        Ok(outcome) => outcome,
        Err(e) => {
            // Nothing reached Cloud: hand the message back to the queue now
            // rather than when the claim lapses.
            let (id, owner) = (row.id.clone(), core.owner.clone());
            let settle = Settle {
                state: State::Pending,
                attempts: row.attempts,
                next_attempt_at: now_ms() + retry_delay(1).as_millis() as i64,
                last_error: Some(format!("not sent: {e}")),
            };
            core.db
                .run_patiently(patience, move |c| Ok(queue::settle(c, Queue::Outbound, &id, &owner, &settle)?))
                .await?;
            return Err(e);
        }
    };
    let attempts = row.attempts + 1;
    let owner = core.owner.clone();
    let now = now_ms();
    match outcome {
        SendOutcome::Accepted { wamid, user } => {
            core.metrics.message_sent();
            tracing::debug!(message_id = %row.id, %wamid, "accepted by Cloud");
            // Recorded with whatever else Cloud accepted meanwhile (one
            // commit); this task goes on once it is.
            let sent = outbound::Sent { id: row.id.clone(), wamid, attempts };
            let kept = core.sent.record(crate::store::sent::Accepted { sent, user }).await?;
            if !kept {
                tracing::warn!(message_id = %row.id, "claim lapsed before the send was recorded");
            }
        }
        SendOutcome::Retry { reason, after, error } if now - row.created_at < GIVE_UP_AFTER_MS => {
            if let Some(code) = error.get("code").and_then(Value::as_i64) {
                core.metrics.cloud_error(code);
            }
            let delay = after.unwrap_or_else(|| retry_delay(attempts as u32));
            tracing::warn!(message_id = %row.id, attempts, retry_in = ?delay, %reason, "send will be retried");
            let id = row.id.clone();
            let settle = Settle {
                state: State::Pending,
                attempts,
                next_attempt_at: now + delay.as_millis() as i64,
                last_error: Some(reason),
            };
            core.db
                .run_patiently(patience, move |c| Ok(queue::settle(c, Queue::Outbound, &id, &owner, &settle)?))
                .await?;
        }
        SendOutcome::Retry { reason, .. } => {
            let error = json!({"code": 408, "title": "Message is not valid",
                               "details": format!("Message was pending for more than 1 day. Last problem: {reason}")});
            fail(core, &row, attempts, Some(error)).await?;
        }
        SendOutcome::Failed { error } => {
            core.metrics.cloud_error(error.get("code").and_then(Value::as_i64).unwrap_or(0));
            tracing::warn!(message_id = %row.id, cloud_error = %error, "Cloud refused the message");
            fail(core, &row, attempts, Some(wire::cloud::onprem_error(&error))).await?;
        }
    }
    Ok(())
}

/// Settles a message as failed and, when `webhook_error` is given, queues
/// its `failed` status webhook, in one transaction.
async fn fail(core: &Core, row: &Outbound, attempts: i32, webhook_error: Option<Value>) -> anyhow::Result<()> {
    let (owner, id, recipient) = (core.owner.clone(), row.id.clone(), row.recipient.clone());
    let queues_webhook = webhook_error.is_some();
    core.db
        .run_patiently(core.config.workers.lease, move |conn| {
            transaction(conn, |conn| {
                let now = now_ms();
                let last_error = webhook_error.as_ref().map(Value::to_string).or(Some("not sent".into()));
                let settle = Settle { state: State::Failed, attempts, next_attempt_at: now, last_error };
                if !queue::settle(conn, Queue::Outbound, &id, &owner, &settle)? {
                    return Ok(());
                }
                if outbound::record_status(conn, &id, MessageStatus::Failed, &(now / 1000).to_string(), now)? {
                    outbound::set_last_status(conn, &id, MessageStatus::Failed, now)?;
                    if let Some(error) = &webhook_error {
                        let status = wire::cloud::onprem_failed_status(&id, &recipient, now / 1000, error);
                        outbox::insert(
                            conn,
                            &recipient,
                            outbox::EventKind::Status,
                            &json!({"statuses": [status]}).to_string(),
                            now,
                        )?;
                    }
                }
                Ok(())
            })
        })
        .await?;
    if queues_webhook {
        core.wake.delivery.notify_one();
    }
    Ok(())
}

/// Sends one message this node claimed when it stored it (`sync_send`, or a
/// template Cloud may refuse), in the caller's task, and settles it at once:
/// accepted is recorded sent; any refusal, or Cloud not answering, marks it
/// failed without a webhook, and Cloud's error comes back as the on-prem
/// one so the client may safely retry.
pub async fn send_now(core: &Core, id: &str) -> Result<(), CoreError> {
    let row = core
        .db
        .run({
            let id = id.to_string();
            move |conn| {
                outbound::load(conn, &[id])?.pop().ok_or_else(|| CoreError::Internal(anyhow::anyhow!("row vanished")))
            }
        })
        .await?;
    let owner = core.owner.clone();
    match attempt(core, &row).await? {
        SendOutcome::Accepted { wamid, user } => {
            let rid = row.id.clone();
            core.db
                .run(move |c| {
                    if let Some(user) = &user {
                        crate::identities::record_addressee(c, user, now_ms())?;
                    }
                    Ok(outbound::mark_sent(c, &rid, &owner, &wamid, 1, now_ms())?)
                })
                .await?;
            Ok(())
        }
        SendOutcome::Failed { error } | SendOutcome::Retry { error, .. } if error.is_object() => {
            fail(core, &row, 1, None).await?;
            Err(wire::cloud::onprem_api_error(&error).into())
        }
        SendOutcome::Failed { .. } | SendOutcome::Retry { .. } => {
            fail(core, &row, 1, None).await?;
            Err(ApiError::new(ErrorCode::InternalError, "Cloud API did not answer; the message was not sent").into())
        }
    }
}

//! Intake: turns stored Cloud webhooks into on-prem events for the business.
//!
//! A claimed batch of stored notifications is handled in one transaction
//! (one by one when any of them fails): statuses are
//! mapped from wamid to our message id, deduplicated and kept monotonic;
//! user messages get our id (deduplicated by wamid); everything is queued in
//! the webhook outbox in Cloud's order. A status that arrives before our
//! sender recorded the wamid (Cloud can be that fast) waits and is retried.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use wire::cloud::{
    CloudEvent, InboundIds, onprem_error, onprem_inbound, onprem_status, parse_notification, status_rank,
};
use wire::settings::ApplicationSettings;

use crate::Core;
use crate::db::{AnyConnection, now_ms, transaction};
use crate::error::CoreError;
use crate::store::queue::{self, FAILED, PENDING, Queue, Settle};
use crate::store::{contacts, inbound, media, outbound, outbox};

/// How long a status for an unknown wamid waits for the sender to record it
/// before it is dropped as not ours.
const UNKNOWN_WAMID_PATIENCE_MS: i64 = 10 * 60 * 1000;
const BATCH: i64 = 128;

pub async fn step(core: &Arc<Core>) -> anyhow::Result<usize> {
    let owner = core.owner.clone();
    let lease = core.config.workers.lease.as_millis() as i64;
    let pnid = core.config.cloud.phone_number_id.clone();
    let settings = core.settings().await?;
    let handled = core
        .db
        .run(move |conn| {
            let ids = queue::claim(conn, Queue::Inbound, &owner, now_ms(), lease, BATCH)?;
            if ids.is_empty() {
                return Ok(0);
            }
            let events = inbound::load_events(conn, &ids)?;
            // One transaction for the batch: one commit instead of one per
            // webhook. If any event fails, the batch is undone and the
            // events go one by one, so one bad event holds back no other.
            let batch = transaction(conn, |conn| {
                for event in &events {
                    handle_event(conn, event, &owner, &pnid, &settings)?;
                }
                Ok(())
            });
            if let Err(e) = batch {
                tracing::warn!(error = %e, "a webhook batch failed; handling its events one by one");
                for event in &events {
                    if let Err(e) = transaction(conn, |conn| handle_event(conn, event, &owner, &pnid, &settings)) {
                        tracing::error!(event_id = %event.id, error = %e, "webhook event failed; retried when its claim lapses");
                    }
                }
            }
            Ok(events.len())
        })
        .await?;
    if handled > 0 {
        core.wake.delivery.notify_one();
    }
    Ok(handled)
}

fn handle_event(
    conn: &mut AnyConnection,
    event: &inbound::Event,
    owner: &str,
    pnid: &str,
    settings: &ApplicationSettings,
) -> Result<(), CoreError> {
    let now = now_ms();
    let settle = |conn: &mut AnyConnection, state: &str, next: i64, err: Option<String>| {
        let s = Settle { state, attempts: event.attempts + 1, next_attempt_at: next, last_error: err };
        queue::settle(conn, Queue::Inbound, &event.id, owner, &s)
    };
    let parsed = match parse_notification(&event.body) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(event_id = %event.id, error = %e, "stored Cloud webhook is unreadable; set aside");
            settle(conn, FAILED, now, Some(e.to_string()))?;
            return Ok(());
        }
    };
    let ours: Vec<&CloudEvent> = parsed
        .iter()
        .filter(|e| {
            let mine = pnid.is_empty() || e.phone_number_id() == pnid;
            if !mine {
                tracing::warn!(
                    phone_number_id = e.phone_number_id(),
                    "webhook event for a number that is not ours dropped"
                );
            }
            mine
        })
        .collect();

    // Our messages the statuses name, looked up once. A status that raced
    // ahead of the sender (Cloud can be that fast) waits for it.
    let young = now - event.received_at < UNKNOWN_WAMID_PATIENCE_MS;
    let mut known = HashMap::new();
    for e in &ours {
        if let CloudEvent::Status { status, .. } = e {
            let wamid = status.get("id").and_then(|v| v.as_str()).unwrap_or_default();
            match outbound::find_by_wamid(conn, wamid)? {
                Some(m) => {
                    known.insert(wamid.to_string(), m);
                }
                None if young => {
                    let backoff = 250 * i64::from(event.attempts + 1).min(40);
                    settle(conn, PENDING, now + backoff, Some(format!("status for unknown wamid {wamid}")))?;
                    return Ok(());
                }
                None => {}
            }
        }
    }

    // The caller holds a transaction: these writes land together or not at all.
    for e in ours {
        match e {
            CloudEvent::Status { status, .. } => handle_status(conn, status, &mut known, settings, now)?,
            CloudEvent::Message { contact, message, .. } => handle_message(conn, contact.as_ref(), message, now)?,
            CloudEvent::Error { error, .. } => {
                let body = json!({"errors": [onprem_error(error)]});
                outbox::insert(conn, "", "error", &body.to_string(), now)?;
            }
        }
    }
    if !queue::finish(conn, Queue::Inbound, &event.id, owner)? {
        // Our claim lapsed and another node owns the event: undo.
        return Err(CoreError::Internal(anyhow::anyhow!("claim on event {} lapsed", event.id)));
    }
    Ok(())
}

fn handle_status(
    conn: &mut AnyConnection,
    status: &serde_json::Value,
    known: &mut HashMap<String, outbound::Outbound>,
    settings: &ApplicationSettings,
    now: i64,
) -> Result<(), CoreError> {
    let wamid = status.get("id").and_then(|v| v.as_str()).unwrap_or_default();
    let name = status.get("status").and_then(|v| v.as_str()).unwrap_or_default();
    let Some(msg) = known.get_mut(wamid) else {
        tracing::warn!(%wamid, status = name, "status for a message we did not send dropped");
        return Ok(());
    };
    let current = msg.last_status.as_deref().map(status_rank).unwrap_or(0);
    if status_rank(name) <= current {
        tracing::debug!(message_id = %msg.id, status = name, "duplicate or out-of-order status dropped");
        return Ok(());
    }
    let ts = status.get("timestamp").and_then(|v| v.as_str()).unwrap_or_default();
    if !outbound::record_status(conn, &msg.id, name, ts, now)? {
        return Ok(());
    }
    outbound::set_last_status(conn, &msg.id, name, now)?;
    // A later status for the same message in this notification sees it.
    msg.last_status = Some(name.to_string());
    if settings.status_webhook_enabled(name) {
        let body = json!({"statuses": [onprem_status(status, &msg.id)]});
        outbox::insert(conn, &msg.recipient, "status", &body.to_string(), now)?;
    }
    Ok(())
}

/// Our ids for what a user's message refers to, from the database.
struct DbIds<'c> {
    conn: &'c mut AnyConnection,
    now: i64,
    /// The first database error; translation cannot fail, so it is kept
    /// here and returned after.
    error: Option<diesel::result::Error>,
}

impl DbIds<'_> {
    fn keep<T>(&mut self, r: diesel::QueryResult<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }
}

impl InboundIds for DbIds<'_> {
    fn message(&mut self, wamid: &str) -> Option<String> {
        let found = outbound::find_by_wamid(self.conn, wamid);
        self.keep(found).flatten().map(|m| m.id)
    }

    fn media(&mut self, _kind: &str, object: &serde_json::Value) -> String {
        let text = |k: &str| object.get(k).and_then(|v| v.as_str()).map(String::from);
        let row = media::Media {
            id: uuid::Uuid::new_v4().to_string(),
            origin: "inbound".into(),
            mime_type: text("mime_type").unwrap_or_else(|| "application/octet-stream".into()),
            cloud_id: text("id"),
            cloud_expires_at: Some(self.now + media::INBOUND_CLOUD_LIFETIME_MS),
            cloud_sha256: text("sha256"),
            blob_sha256: None,
            size: None,
            filename: text("filename"),
            created_at: self.now,
        };
        let inserted = media::insert(self.conn, &row);
        self.keep(inserted);
        row.id
    }
}

/// Remembers a user's identity key (for `/v1/contacts/{wa_id}/identity`).
fn record_identity(conn: &mut AnyConnection, message: &serde_json::Value) -> Result<(), CoreError> {
    let (Some(from), Some(identity)) = (message.get("from").and_then(|v| v.as_str()), message.get("identity")) else {
        return Ok(());
    };
    let Some(hash) = identity.get("hash").and_then(|v| v.as_str()) else { return Ok(()) };
    let created = identity
        .get("created_timestamp")
        .and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .unwrap_or_default();
    let row = contacts::Identity {
        wa_id: from.to_string(),
        hash: hash.to_string(),
        created_timestamp: created,
        acknowledged: i32::from(identity.get("acknowledged").and_then(|v| v.as_bool()).unwrap_or(false)),
    };
    Ok(contacts::put_identity(conn, &row)?)
}

fn handle_message(
    conn: &mut AnyConnection,
    contact: Option<&serde_json::Value>,
    message: &serde_json::Value,
    now: i64,
) -> Result<(), CoreError> {
    let wamid = message.get("id").and_then(|v| v.as_str()).unwrap_or_default();
    let from = message.get("from").and_then(|v| v.as_str()).unwrap_or_default();
    if inbound::message_id_for(conn, wamid)?.is_some() {
        tracing::debug!(%wamid, "duplicate inbound message dropped");
        return Ok(());
    }
    let id = wire::ids::message_id();
    inbound::insert_message(conn, &id, wamid, from, now)?;
    record_identity(conn, message)?;
    let mut ids = DbIds { conn, now, error: None };
    let body = onprem_inbound(contact, message, &id, &mut ids);
    if let Some(e) = ids.error {
        return Err(e.into());
    }
    outbox::insert(conn, from, "message", &body.to_string(), now)?;
    Ok(())
}

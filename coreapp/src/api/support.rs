//! `GET /v1/support`: what someone debugging a node wants first. Versions,
//! configuration without secrets, health, queue depths and the latest
//! errors of sends and webhook deliveries.
//!
//! Errors are stored redacted ([`crate::clients::outbound::error_text`]) and shown
//! through the same redaction again, for rows written before it existed.
//! The webapp shows the host-level parts (recent errors, addresses, paths)
//! to admins only.

use diesel::prelude::*;
use serde_json::{Value, json};

use crate::Core;
use crate::error::CoreError;
use crate::store::db::now_ms;
use crate::store::queue::{Queue, depth};
use crate::store::schema::{outbound_messages as om, webhook_outbox as wo};

/// How many recent errors of each kind are shown.
const RECENT: i64 = 5;

pub async fn info(core: &Core) -> Result<Value, CoreError> {
    let gateway = crate::health::gateway(core.health.db_ok(), &core.health.cloud());
    let counted = core
        .db
        .run(|conn| {
            let queues = json!({
                "outbound_messages": depth(conn, Queue::Outbound)?,
                "inbound_events": depth(conn, Queue::Inbound)?,
                "webhook_outbox": depth(conn, Queue::Outbox)?,
                "media_downloads": depth(conn, Queue::MediaDownload)?,
            });
            let sends: Vec<(String, Option<String>, i64)> = om::table
                .filter(om::last_error.is_not_null())
                .order(om::updated_at.desc())
                .limit(RECENT)
                .select((om::id, om::last_error, om::updated_at))
                .load(conn)?;
            let webhooks: Vec<(String, String, Option<String>, i64)> = wo::table
                .filter(wo::last_error.is_not_null())
                .order(wo::next_attempt_at.desc())
                .limit(RECENT)
                .select((wo::id, wo::kind, wo::last_error, wo::next_attempt_at))
                .load(conn)?;
            Ok((queues, sends, webhooks))
        })
        .await;
    // During a database outage the report still says what it can, and why.
    let (queues, sends, webhooks) = match counted {
        Ok(found) => found,
        Err(e) if e.is_unavailable() => (Value::Null, Vec::new(), Vec::new()),
        Err(e) => return Err(e),
    };
    let outage = core.db.outage().map(|o| {
        json!({
            "since_ms": o.since.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default(),
            "duration_s": o.duration.as_secs(),
            "reason": redacted(&o.reason),
            "refused_calls": o.refused,
        })
    });
    let (in_use, idle) = core.db.pool_state();
    let cloud = &core.config.cloud;
    Ok(json!({
        "node_id": core.config.node_id,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": (now_ms() - core.started_at_ms) / 1000,
        "gateway_status": gateway.status,
        "health_errors": gateway.errors.iter().map(|(code, details)| json!({"code": code, "details": redacted(details)})).collect::<Vec<_>>(),
        "database": {"engine": format!("{:?}", core.db.engine()), "pool": {"in_use": in_use, "idle": idle}, "outage": outage},
        "cloud": {
            "base_url": wire::redact::url(&cloud.base_url),
            "api_version": cloud.api_version,
            "phone_number_id": cloud.phone_number_id,
            "waba_id": cloud.waba_id,
            "access_token": if cloud.access_token.is_empty() { "unset" } else { "set" },
        },
        "media_dir": core.config.media_dir.display().to_string(),
        "queues": queues,
        "recent_errors": {
            "sends": sends.into_iter().map(|(id, error, at)| json!({"message_id": id, "error": error.as_deref().map(redacted), "at_ms": at})).collect::<Vec<_>>(),
            "webhooks": webhooks.into_iter().map(|(id, kind, error, at)| json!({"event_id": id, "kind": kind, "error": error.as_deref().map(redacted), "at_ms": at})).collect::<Vec<_>>(),
        },
    }))
}

fn redacted(text: &str) -> String {
    wire::redact::urls_in(text)
}

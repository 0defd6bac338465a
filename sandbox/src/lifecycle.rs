//! What happens to a message after the send endpoint accepted it: the
//! `sent`, `delivered` and `read` status webhooks.
//!
//! One background task per message posts its statuses one after the other:
//! the next status is scheduled only once the previous webhook was delivered
//! (or dropped), so a receiver sees them in order even across retries. Meta
//! does not promise that order; a later cut may shuffle on request.

use tracing::{Instrument as _, info_span};

use crate::state::AppState;
use crate::webhooks::Outcome;
use crate::webhooks::payload::{Notification, Pricing, Status, StatusKind, Value, timestamp_now};

/// A message the business sent, as far as its statuses need to know.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub phone_number_id: String,
    pub wamid: String,
    pub recipient_id: String,
    /// Pricing category: `service`, `utility`, `marketing`, …
    pub category: &'static str,
    pub biz_opaque_callback_data: Option<String>,
}

/// The statuses every message goes through, in order.
const PROGRESSION: [StatusKind; 3] = [StatusKind::Sent, StatusKind::Delivered, StatusKind::Read];

/// Schedules the status webhooks of `message`; returns at once.
pub(crate) fn start(state: &AppState, message: Outgoing) {
    if !state.webhooks.enabled() {
        return;
    }
    let span = info_span!("lifecycle", wamid = %message.wamid);
    let state_for_task = state.clone();
    state.tasks.spawn(
        "status lifecycle",
        async move {
            let state = state_for_task;
            for (step, kind) in PROGRESSION.into_iter().enumerate() {
                if step > 0 {
                    tokio::time::sleep(state.config.status_delay).await;
                }
                let notification = Notification::messages(&state.config.waba_id, status_value(&message, kind));
                let signed = match state.webhooks.sign(&notification) {
                    Ok(signed) => signed,
                    Err(err) => {
                        tracing::error!(error = %err, "could not render a status webhook");
                        return;
                    }
                };
                if let Outcome::Dropped { .. } = state.webhooks.deliver(&signed).await {
                    // Carry on: a later status may still get through, as on Cloud.
                    tracing::warn!(status = ?kind, "status webhook dropped");
                }
            }
        }
        .instrument(span),
    );
}

/// `changes[].value` for one status of `message`.
pub(crate) fn status_value(message: &Outgoing, kind: StatusKind) -> Value {
    let mut value = Value::new(&message.phone_number_id);
    value.statuses.push(Status {
        id: message.wamid.clone(),
        status: kind,
        timestamp: timestamp_now(),
        recipient_id: message.recipient_id.clone(),
        biz_opaque_callback_data: message.biz_opaque_callback_data.clone(),
        // Pricing rides on `sent` and on one of `delivered`/`read` (spec 5.6).
        pricing: (kind != StatusKind::Read).then(|| Pricing::regular(message.category)),
    });
    value
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn outgoing(opaque: Option<&str>) -> Outgoing {
        Outgoing {
            phone_number_id: "100000000000001".into(),
            wamid: "wamid.X".into(),
            recipient_id: "16505551234".into(),
            category: "utility",
            biz_opaque_callback_data: opaque.map(str::to_owned),
        }
    }

    fn status_json(message: &Outgoing, kind: StatusKind) -> serde_json::Value {
        let value = serde_json::to_value(status_value(message, kind)).unwrap();
        value["statuses"][0].clone()
    }

    #[test]
    fn pricing_on_sent_and_delivered_only() {
        let message = outgoing(None);
        let sent = status_json(&message, StatusKind::Sent);
        assert_eq!(sent["status"], "sent");
        assert_eq!(
            sent["pricing"],
            json!({"billable": true, "pricing_model": "PMP", "category": "utility", "type": "regular"})
        );
        assert!(status_json(&message, StatusKind::Delivered)["pricing"].is_object());
        let read = status_json(&message, StatusKind::Read);
        assert_eq!(read["status"], "read");
        assert!(read.get("pricing").is_none());
        assert!(read.get("biz_opaque_callback_data").is_none());
        assert!(read["timestamp"].as_str().unwrap().parse::<u64>().is_ok());
    }

    #[test]
    fn echoes_biz_opaque_callback_data() {
        let message = outgoing(Some("order-42"));
        for kind in PROGRESSION {
            assert_eq!(status_json(&message, kind)["biz_opaque_callback_data"], "order-42");
        }
    }
}

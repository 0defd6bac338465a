//! What happens to a message after the send endpoint accepted it: `sent`,
//! `delivered`, `read` (and `played` for voice) status webhooks, or one
//! `failed` status when a rule or the media says so.
//!
//! One background task per message queues its statuses one after the other:
//! the next status waits until the POST carrying the previous one was
//! delivered (or dropped), so a receiver sees them in order even across
//! retries and batches. With the reorder knob a message's statuses are
//! emitted newest first instead, to exercise receivers that must cope.

use rand::Rng as _;
use sha2::{Digest, Sha256};
use tracing::{Instrument as _, debug_span};

use crate::settings::Settings;
use crate::state::AppState;
use crate::stats::Stats;
use crate::users::Shown;
use crate::webhooks::ItemChange;
use crate::webhooks::payload::{Contact, Conversation, Origin, Pricing, Status, StatusKind, WebhookError};

/// How long a conversation lasted under conversation-based pricing.
const CONVERSATION_SECS: i64 = 24 * 60 * 60;

/// A message the business sent, as far as its statuses need to know.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub phone_number_id: String,
    pub wamid: String,
    pub recipient: Addressee,
    /// Pricing category: `service`, `utility`, `marketing`, `authentication`.
    pub category: &'static str,
    /// Free of charge (service messages; utility templates inside the window).
    pub free: bool,
    pub biz_opaque_callback_data: Option<String>,
    /// A voice message gets `played` after `read`.
    pub voice: bool,
    pub fate: Fate,
}

/// Who a message went to, as its statuses show them. Decided when the
/// business sent it.
#[derive(Debug, Clone)]
pub(crate) struct Addressee {
    /// The user as the statuses show them: the phone when sent to the
    /// phone, or when the phone is shareable.
    pub user: Shown,
    /// Sent with `to` (the phone) rather than `recipient` (a BSUID): its
    /// `failed` status names the phone only.
    pub by_phone: bool,
}

/// Whether the message reaches the user.
#[derive(Debug, Clone)]
pub(crate) enum Fate {
    Deliver,
    /// One `failed` status with this code and details.
    Fail {
        code: u32,
        details: String,
    },
}

/// Schedules the status webhooks of `message`; returns at once.
pub(crate) fn start(state: &AppState, message: Outgoing) {
    if !state.webhooks.enabled() {
        return;
    }
    let span = debug_span!("lifecycle", wamid = %message.wamid);
    let state_for_task = state.clone();
    state.tasks.spawn("status lifecycle", run(state_for_task, message).instrument(span));
}

async fn run(state: AppState, message: Outgoing) {
    let epoch = state.epoch();
    let (plan, reorder) = plan(&message, &state.settings.get());
    // Pricing rides on `sent` and on the first of delivered/read (`docs/cloud-api.md` §5.6).
    let priced_second = plan.iter().copied().find(|kind| matches!(kind, StatusKind::Delivered | StatusKind::Read));

    for (step, kind) in plan.into_iter().enumerate() {
        // `sent` goes out at once; everything else after the status delay,
        // read anew each time so a patch applies to messages under way.
        if step > 0 || kind == StatusKind::Failed {
            tokio::time::sleep(state.settings.get().status_delay()).await;
        }
        if state.epoch() != epoch {
            return;
        }
        let priced = kind == StatusKind::Sent || Some(kind) == priced_second;
        let status = status(&state, &message, kind, priced);
        if let Ok(shown) = serde_json::to_value(&status) {
            state.console.status(&message.wamid, shown);
        }
        count(&state.stats, kind);
        let contact = contact(&message.recipient, kind);
        let delivered = state.webhooks.send(&message.phone_number_id, ItemChange::Status { status, contact });
        if !reorder {
            // Whatever the outcome: a dropped status does not stop the next, as on Cloud.
            let _ = delivered.await;
        }
    }
}

/// The statuses `message` goes through, and whether they go out newest first.
fn plan(message: &Outgoing, settings: &Settings) -> (Vec<StatusKind>, bool) {
    let mut rng = rand::rng();
    let mut plan = match &message.fate {
        Fate::Fail { .. } => vec![StatusKind::Failed],
        Fate::Deliver => {
            let mut plan = vec![StatusKind::Sent];
            let skip_delivered = rng.random_bool(settings.lifecycle.skip_delivered_rate);
            let read = rng.random_bool(settings.lifecycle.read_rate);
            if !skip_delivered || !read {
                plan.push(StatusKind::Delivered);
            }
            if read {
                plan.push(StatusKind::Read);
                if message.voice {
                    plan.push(StatusKind::Played);
                }
            }
            plan
        }
    };
    let reorder = plan.len() > 1 && rng.random_bool(settings.webhooks.reorder_rate);
    if reorder {
        plan.reverse();
    }
    (plan, reorder)
}

/// One status of `message`.
pub(crate) fn status(state: &AppState, message: &Outgoing, kind: StatusKind, priced: bool) -> Status {
    let settings = state.settings.get();
    let now = state.clock.now_secs();
    let failed = kind == StatusKind::Failed;
    let conversation = (settings.with_conversation() && !failed).then(|| Conversation {
        id: conversation_id(&message.wamid),
        expiration_timestamp: (kind == StatusKind::Sent).then(|| (now + CONVERSATION_SECS).to_string()),
        origin: Origin { kind: message.category },
    });
    let errors = match (&message.fate, failed) {
        (Fate::Fail { code, details }, true) => vec![WebhookError::new(*code, details.clone())],
        _ => Vec::new(),
    };
    let recipient = &message.recipient;
    // A `failed` status of a message sent to the phone names only the phone.
    let with_user_id = !(failed && recipient.by_phone);
    Status {
        id: message.wamid.clone(),
        status: kind,
        timestamp: now.to_string(),
        recipient_id: recipient.user.phone.clone(),
        recipient_user_id: with_user_id.then(|| recipient.user.user_id.clone()),
        recipient_parent_user_id: recipient.user.parent_user_id.clone().filter(|_| with_user_id),
        biz_opaque_callback_data: message.biz_opaque_callback_data.clone(),
        conversation,
        pricing: (priced && !failed).then(|| Pricing::for_message(message.category, message.free)),
        errors,
    }
}

/// The recipient's card that rides with a status: on every status but
/// `failed`; the username (of users who adopted one) from `delivered` on.
pub(crate) fn contact(recipient: &Addressee, kind: StatusKind) -> Option<Contact> {
    match kind {
        StatusKind::Failed => None,
        StatusKind::Sent => Some(Contact::recipient(&recipient.user, false)),
        StatusKind::Delivered | StatusKind::Read | StatusKind::Played => {
            Some(Contact::recipient(&recipient.user, true))
        }
    }
}

/// A stable 32-hex-digit id per message: webhooks v23 give every message its own.
fn conversation_id(wamid: &str) -> String {
    hex::encode(&Sha256::digest(wamid.as_bytes())[..16])
}

fn count(stats: &Stats, kind: StatusKind) {
    let counter = match kind {
        StatusKind::Sent => &stats.statuses.sent,
        StatusKind::Delivered => &stats.statuses.delivered,
        StatusKind::Read => &stats.statuses.read,
        StatusKind::Played => &stats.statuses.played,
        StatusKind::Failed => &stats.statuses.failed,
    };
    Stats::bump(counter);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(voice: bool, fate: Fate) -> Outgoing {
        Outgoing {
            phone_number_id: "1".into(),
            wamid: "wamid.A".into(),
            recipient: addressee(true, Some("1555")),
            category: "service",
            free: true,
            biz_opaque_callback_data: None,
            voice,
            fate,
        }
    }

    fn addressee(by_phone: bool, phone: Option<&str>) -> Addressee {
        Addressee {
            user: Shown {
                phone: phone.map(str::to_owned),
                user_id: "US.1".into(),
                parent_user_id: None,
                username: Some("sheena.n".into()),
                name: "Sheena".into(),
            },
            by_phone,
        }
    }

    fn settings(read_rate: f64, skip_delivered_rate: f64, reorder_rate: f64) -> Settings {
        let mut settings = Settings::from_config(&crate::Config::default());
        settings.lifecycle.read_rate = read_rate;
        settings.lifecycle.skip_delivered_rate = skip_delivered_rate;
        settings.webhooks.reorder_rate = reorder_rate;
        settings
    }

    #[test]
    fn plans() {
        use StatusKind::*;
        let deliver = message(false, Fate::Deliver);
        assert_eq!(plan(&deliver, &settings(1.0, 0.0, 0.0)), (vec![Sent, Delivered, Read], false));
        assert_eq!(plan(&deliver, &settings(0.0, 0.0, 0.0)), (vec![Sent, Delivered], false));
        assert_eq!(plan(&deliver, &settings(1.0, 1.0, 0.0)), (vec![Sent, Read], false));
        // Delivered cannot be skipped when nothing else follows.
        assert_eq!(plan(&deliver, &settings(0.0, 1.0, 0.0)), (vec![Sent, Delivered], false));
        assert_eq!(plan(&deliver, &settings(1.0, 0.0, 1.0)), (vec![Read, Delivered, Sent], true));
        let voice = message(true, Fate::Deliver);
        assert_eq!(plan(&voice, &settings(1.0, 0.0, 0.0)).0, vec![Sent, Delivered, Read, Played]);
        assert_eq!(plan(&voice, &settings(0.0, 0.0, 0.0)).0, vec![Sent, Delivered], "no play without a read");
        let failed = message(false, Fate::Fail { code: 131047, details: String::new() });
        assert_eq!(plan(&failed, &settings(1.0, 0.0, 1.0)), (vec![Failed], false), "nothing to reorder");
    }

    #[test]
    fn conversation_ids_are_per_message() {
        let a = conversation_id("wamid.A");
        assert_eq!(a.len(), 32);
        assert_eq!(a, conversation_id("wamid.A"));
        assert_ne!(a, conversation_id("wamid.B"));
    }

    #[test]
    fn cards_ride_on_every_status_but_failed_with_the_username_from_delivered_on() {
        let to_bsuid = addressee(false, None);
        let sent = contact(&to_bsuid, StatusKind::Sent).unwrap();
        assert_eq!((sent.profile, sent.wa_id, sent.user_id.as_str()), (None, None, "US.1"));
        for kind in [StatusKind::Delivered, StatusKind::Read, StatusKind::Played] {
            let card = contact(&to_bsuid, kind).unwrap();
            assert_eq!(card.profile.unwrap().username.as_deref(), Some("sheena.n"), "{kind:?}");
        }
        assert_eq!(contact(&to_bsuid, StatusKind::Failed), None);
        let to_phone = addressee(true, Some("1555"));
        assert_eq!(contact(&to_phone, StatusKind::Sent).unwrap().wa_id.as_deref(), Some("1555"));
    }
}

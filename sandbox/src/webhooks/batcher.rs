//! Collects queued webhook items into POSTs, the way Meta batches: what
//! arrives within the batch window (from the first item) shares one body, up
//! to the batch maximum. Statuses of one number share one change; each
//! inbound message gets its own change; other fields get an entry with `time`.
//!
//! While the WABA has an alternate callback, a batch splits in two: what the
//! override takes goes there, templates and other account-level fields to
//! the app's callback URL.
//!
//! Batching is what keeps the sandbox fast under load: 5,000 sends a second
//! make 15,000 statuses a second, a few dozen POSTs rather than 15,000.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::error;

use super::payload::{Change, ChangeValue, Contact, Entry, Notification, Value};
use super::{Callback, Item, ItemChange, Outcome, Webhooks};
use crate::clock::Clock;
use crate::stats::Stats;
use crate::tasks::Tasks;

/// POSTs in flight at once; more wait (and their items keep batching).
const MAX_IN_FLIGHT: usize = 32;

/// Runs until the queue closes or the sandbox stops.
pub(crate) async fn run(mut queue: mpsc::UnboundedReceiver<Item>, webhooks: Webhooks, tasks: Tasks, clock: Clock) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut batch: Vec<Item> = Vec::new();
    loop {
        let Some(first) = queue.recv().await else {
            return;
        };
        batch.push(first);
        let knobs = webhooks.settings().get();
        let max = knobs.webhooks.batch_max.max(1);
        let window = Duration::from_millis(knobs.webhooks.batch_window_ms);
        drop(knobs);
        if window.is_zero() {
            // No window: whatever is already queued rides along, nothing waits.
            while batch.len() < max {
                match queue.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
        } else {
            let deadline = tokio::time::sleep(window);
            tokio::pin!(deadline);
            while batch.len() < max {
                let room = max - batch.len();
                tokio::select! {
                    received = queue.recv_many(&mut batch, room) => if received == 0 { break },
                    () = &mut deadline => break,
                }
            }
        }
        let items = std::mem::take(&mut batch);
        let time = clock.now_secs();
        for (callback, items) in by_callback(items, webhooks.override_url().is_some()) {
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                return;
            };
            let webhooks = webhooks.clone();
            tasks.spawn("webhook delivery", async move {
                let _permit = permit;
                deliver(&webhooks, callback, items, time).await;
            });
        }
    }
}

/// The POSTs a batch makes: one, unless the WABA has an alternate callback
/// and the batch holds items for both it and the app's URL.
fn by_callback(items: Vec<Item>, overridden: bool) -> Vec<(Callback, Vec<Item>)> {
    if !overridden {
        return vec![(Callback::Overridable, items)];
    }
    let (app, overridable): (Vec<Item>, Vec<Item>) =
        items.into_iter().partition(|item| item.change.callback() == Callback::App);
    [(Callback::Overridable, overridable), (Callback::App, app)]
        .into_iter()
        .filter(|(_, items)| !items.is_empty())
        .collect()
}

/// Renders, signs and delivers one batch to `callback`, then tells every
/// item's waiter.
async fn deliver(webhooks: &Webhooks, callback: Callback, items: Vec<Item>, time: i64) {
    let count = items.len() as u64;
    let carried: Vec<String> = items.iter().map(|item| describe(&item.change)).collect();
    let (notification, waiters) = build(webhooks.waba_id(), items, time);
    let outcome = match webhooks.sign(&notification) {
        Ok(signed) => {
            let (outcome, error) = webhooks.deliver_reporting(callback, &signed).await;
            let (result, attempts) = match outcome {
                Outcome::Delivered { attempts } => ("delivered", attempts),
                Outcome::Dropped { attempts } => ("dropped", attempts),
                Outcome::Disabled => ("disabled", 0),
            };
            let url = webhooks.url_for(callback);
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            webhooks.console().delivery(now, url.as_deref(), carried, result, attempts, error);
            if let Outcome::Delivered { .. } = outcome {
                let stats = webhooks.stats();
                Stats::bump(&stats.webhook_posts);
                Stats::add(&stats.webhook_items, count);
                let duplicate_rate = webhooks.settings().get().webhooks.duplicate_rate;
                if duplicate_rate > 0.0 && rand::rng().random_bool(duplicate_rate) {
                    // Meta delivers at least once: the same bytes, signature and all.
                    Stats::bump(&stats.webhook_duplicates);
                    let _ = webhooks.deliver(callback, &signed).await;
                }
            }
            outcome
        }
        Err(err) => {
            error!(error = %err, "could not render a webhook");
            Outcome::Dropped { attempts: 0 }
        }
    };
    webhooks.settled(count as usize);
    for waiter in waiters {
        let _ = waiter.send(outcome);
    }
}

/// What an item carries, in a few words (the console's list of webhooks).
fn describe(change: &ItemChange) -> String {
    match change {
        ItemChange::Status { status, .. } => {
            let kind = serde_json::to_value(status).ok().and_then(|v| v["status"].as_str().map(str::to_owned));
            format!("status {}", kind.unwrap_or_default())
        }
        ItemChange::Message { message, .. } => {
            let kind = serde_json::to_value(message).ok().and_then(|v| v["type"].as_str().map(str::to_owned));
            format!("message {}", kind.unwrap_or_default())
        }
        ItemChange::UserIdChange { .. } => "user id change".to_owned(),
        ItemChange::Errors(_) => "errors".to_owned(),
        ItemChange::TemplateStatus(_) => "template status".to_owned(),
        ItemChange::Other { field, .. } => field.clone(),
    }
}

/// One notification for a batch, and the waiters of its items.
pub(crate) fn build(waba_id: &str, items: Vec<Item>, time: i64) -> (Notification, Vec<oneshot::Sender<Outcome>>) {
    let mut waiters = Vec::with_capacity(items.len());
    let mut messages: Vec<Change> = Vec::new();
    let mut others: Vec<Change> = Vec::new();
    // Phone number id → index in `messages` of its statuses change.
    let mut statuses_of: HashMap<String, usize> = HashMap::new();
    for item in items {
        waiters.extend(item.done);
        match item.change {
            ItemChange::Status { status, contact } => {
                let at = match statuses_of.get(&item.phone_number_id) {
                    Some(&at) => at,
                    None => {
                        statuses_of.insert(item.phone_number_id.clone(), messages.len());
                        messages.push(messages_change(Value::new(&item.phone_number_id)));
                        messages.len() - 1
                    }
                };
                if let ChangeValue::Messages(value) = &mut messages[at].value {
                    value.statuses.push(status);
                    if let Some(contact) = contact {
                        add_contact(&mut value.contacts, contact);
                    }
                }
            }
            ItemChange::Message { contacts, message } => {
                let mut value = Value::new(&item.phone_number_id);
                value.contacts = contacts;
                value.messages.push(message);
                messages.push(messages_change(value));
            }
            ItemChange::UserIdChange { message, update } => {
                let mut value = Value::new(&item.phone_number_id);
                value.messages.push(message);
                messages.push(messages_change(value));
                messages.push(Change { value: ChangeValue::UserIdUpdate(update), field: "user_id_update".into() });
            }
            ItemChange::Errors(errors) => {
                let mut value = Value::new(&item.phone_number_id);
                value.errors = errors;
                messages.push(messages_change(value));
            }
            ItemChange::TemplateStatus(update) => others.push(Change {
                value: ChangeValue::TemplateStatus(update),
                field: "message_template_status_update".into(),
            }),
            // A hand-made `messages` change rides with the others of its field.
            ItemChange::Other { field, value } if field == "messages" => {
                messages.push(Change { value: ChangeValue::Other(value), field });
            }
            ItemChange::Other { field, value } => others.push(Change { value: ChangeValue::Other(value), field }),
        }
    }
    let mut entry = Vec::new();
    if !messages.is_empty() {
        entry.push(Entry { id: waba_id.to_owned(), time: None, changes: messages });
    }
    if !others.is_empty() {
        entry.push(Entry { id: waba_id.to_owned(), time: Some(time), changes: others });
    }
    (Notification { object: "whatsapp_business_account", entry }, waiters)
}

/// One card per user in a change's `contacts`: a recipient with several
/// statuses in the batch gets one card showing everything they show.
fn add_contact(contacts: &mut Vec<Contact>, contact: Contact) {
    match contacts.iter_mut().find(|known| known.user_id == contact.user_id) {
        Some(known) => known.merge(contact),
        None => contacts.push(contact),
    }
}

fn messages_change(value: Value) -> Change {
    Change { value: ChangeValue::Messages(value), field: "messages".into() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::webhooks::payload::{
        Contact, Message, Profile, Status, StatusKind, UserIdPair, UserIdUpdate, WebhookError,
    };

    fn status(id: &str, kind: StatusKind) -> ItemChange {
        ItemChange::Status {
            status: Status {
                id: id.into(),
                status: kind,
                timestamp: "1".into(),
                recipient_id: Some("1555".into()),
                recipient_user_id: Some("US.1".into()),
                recipient_parent_user_id: None,
                biz_opaque_callback_data: None,
                conversation: None,
                pricing: None,
                errors: Vec::new(),
            },
            contact: Some(card("US.1", None)),
        }
    }

    fn card(user_id: &str, username: Option<&str>) -> Contact {
        Contact {
            profile: username.map(|u| Profile { name: None, username: Some(u.into()) }),
            wa_id: None,
            user_id: user_id.into(),
            parent_user_id: None,
        }
    }

    fn message(id: &str, from_user_id: &str) -> Message {
        Message {
            context: None,
            from: None,
            from_user_id: from_user_id.into(),
            from_parent_user_id: None,
            id: id.into(),
            timestamp: "1".into(),
            kind: "system".into(),
            content: json!({"system": {"type": "user_changed_user_id"}}).as_object().unwrap().clone(),
        }
    }

    fn item(pnid: &str, change: ItemChange) -> Item {
        Item { phone_number_id: pnid.into(), change, done: Some(oneshot::channel().0) }
    }

    #[test]
    fn an_override_splits_the_batch_by_callback() {
        let template = || ItemChange::Other { field: "message_template_status_update".into(), value: json!({}) };
        let batch = || vec![item("1", status("a", StatusKind::Sent)), item("1", template())];
        let one = by_callback(batch(), false);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].1.len(), 2);
        let two = by_callback(batch(), true);
        let shape: Vec<(Callback, usize)> = two.iter().map(|(callback, items)| (*callback, items.len())).collect();
        assert_eq!(shape, [(Callback::Overridable, 1), (Callback::App, 1)]);
        let only_app = by_callback(vec![item("1", template())], true);
        assert_eq!(only_app.iter().map(|(callback, _)| *callback).collect::<Vec<_>>(), [Callback::App]);
    }

    #[test]
    fn groups_statuses_per_number_and_keeps_their_order() {
        let items = vec![
            item("1", status("a", StatusKind::Sent)),
            item("2", status("b", StatusKind::Sent)),
            item("1", status("a", StatusKind::Delivered)),
            item(
                "1",
                ItemChange::Message {
                    contacts: vec![Contact {
                        profile: Some(Profile { name: Some("U".into()), username: None }),
                        wa_id: Some("1555".into()),
                        user_id: "US.1".into(),
                        parent_user_id: None,
                    }],
                    message: Message {
                        context: None,
                        from: Some("1555".into()),
                        from_user_id: "US.1".into(),
                        from_parent_user_id: None,
                        id: "wamid.U".into(),
                        timestamp: "1".into(),
                        kind: "text".into(),
                        content: json!({"text": {"body": "hi"}}).as_object().unwrap().clone(),
                    },
                },
            ),
            item("2", ItemChange::Errors(vec![WebhookError::with_default_details(131000)])),
            item(
                "1",
                ItemChange::Other {
                    field: "message_template_status_update".into(),
                    value: json!({"event": "APPROVED"}),
                },
            ),
        ];
        let (notification, waiters) = build("9", items, 1700);
        assert_eq!(waiters.len(), 6);
        let body = serde_json::to_value(&notification).unwrap();
        let entries = body["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        let changes = entries[0]["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 4);
        assert!(entries[0].get("time").is_none());
        let first = &changes[0]["value"];
        assert_eq!(first["metadata"]["phone_number_id"], "1");
        let order: Vec<&str> =
            first["statuses"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
        assert_eq!(order, ["sent", "delivered"]);
        assert_eq!(changes[1]["value"]["statuses"][0]["id"], "b");
        assert_eq!(changes[2]["value"]["messages"][0]["text"]["body"], "hi");
        assert_eq!(changes[3]["value"]["errors"][0]["code"], 131000);
        assert_eq!(entries[1]["time"], 1700);
        assert_eq!(entries[1]["changes"][0]["field"], "message_template_status_update");
    }

    #[test]
    fn statuses_bring_one_card_per_recipient() {
        let mut delivered = status("a", StatusKind::Delivered);
        if let ItemChange::Status { contact, .. } = &mut delivered {
            *contact = Some(card("US.1", Some("sheena.n")));
        }
        let mut failed = status("c", StatusKind::Failed);
        if let ItemChange::Status { contact, .. } = &mut failed {
            *contact = None;
        }
        let mut other = status("b", StatusKind::Sent);
        if let ItemChange::Status { contact, .. } = &mut other {
            *contact = Some(card("US.2", None));
        }
        let items =
            vec![item("1", status("a", StatusKind::Sent)), item("1", delivered), item("1", other), item("1", failed)];
        let (notification, _) = build("9", items, 1);
        let body = serde_json::to_value(&notification).unwrap();
        let value = &body["entry"][0]["changes"][0]["value"];
        assert_eq!(value["statuses"].as_array().unwrap().len(), 4);
        assert_eq!(
            value["contacts"],
            json!([{"profile": {"username": "sheena.n"}, "user_id": "US.1"}, {"user_id": "US.2"}]),
            "the sent and delivered of US.1 share one card, with what delivered adds"
        );
    }

    #[test]
    fn a_user_id_update_follows_its_system_message_in_the_same_entry() {
        let update = UserIdUpdate {
            messaging_product: "whatsapp",
            metadata: crate::webhooks::payload::Metadata::new("1"),
            user_id: UserIdPair { previous: "US.1".into(), current: "US.2".into() },
            wa_id: None,
        };
        let items = vec![item("1", ItemChange::UserIdChange { message: message("wamid.S", "US.2"), update })];
        let (notification, _) = build("9", items, 1);
        let body = serde_json::to_value(&notification).unwrap();
        assert_eq!(body["entry"].as_array().unwrap().len(), 1);
        let changes = body["entry"][0]["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0]["field"], "messages");
        assert_eq!(changes[0]["value"]["messages"][0]["from_user_id"], "US.2");
        assert!(changes[0]["value"].get("contacts").is_none());
        assert_eq!(changes[1]["field"], "user_id_update");
        assert_eq!(
            changes[1]["value"],
            json!({"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550000001", "phone_number_id": "1"},
                   "user_id": {"previous": "US.1", "current": "US.2"}})
        );
    }
}

//! Cloud webhook bodies as Meta sends them, for tests that play Cloud by
//! POSTing signed notifications to the webapp's intake
//! ([`crate::Stack::cloud_posts`]).

use serde_json::{Value, json};

/// A notification carrying `values` as `messages` changes of one entry.
pub fn notification(values: Vec<Value>) -> Value {
    let changes: Vec<Value> = values.into_iter().map(|v| json!({"field": "messages", "value": v})).collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": "200000000000001", "changes": changes}]})
}

/// A change value with `list` as its statuses, for number `pnid`.
pub fn statuses(pnid: &str, list: Vec<Value>) -> Value {
    json!({"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001111", "phone_number_id": pnid}, "statuses": list})
}

/// One status of the message Cloud calls `wamid`.
pub fn status(wamid: &str, name: &str, to: &str) -> Value {
    json!({"id": wamid, "status": name, "timestamp": "1790000000", "recipient_id": to})
}

/// A change value: user `from` wrote `body` to number `pnid`.
pub fn user_text(pnid: &str, from: &str, wamid: &str, body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001111", "phone_number_id": pnid},
           "contacts": [{"profile": {"name": "U"}, "wa_id": from}],
           "messages": [{"from": from, "id": wamid, "timestamp": "1790000000", "type": "text", "text": {"body": body}}]})
}

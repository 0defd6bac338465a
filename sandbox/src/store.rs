//! The sandbox's memory: what the business sent, what the inbox received.
//!
//! Each list keeps the newest [`MAX_RECORDS`] entries, so a benchmark pushing
//! millions of messages through the sandbox does not grow it without bound.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;

/// How many entries each list keeps before dropping the oldest.
pub(crate) const MAX_RECORDS: usize = 100_000;

/// One accepted call to `POST /{phone_number_id}/messages`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SentRecord {
    pub phone_number_id: String,
    /// The wamid the sandbox assigned; `null` for mark-as-read and typing
    /// indicator calls, which create no message (their target is in
    /// `payload.message_id`).
    pub wamid: Option<String>,
    /// `to` normalised to a wa_id; `null` for sends through `recipient`
    /// and for mark-as-read.
    pub to: Option<String>,
    /// The BSUID (or parent BSUID) in `recipient`, when the send used it
    /// (`to` was absent).
    pub recipient: Option<String>,
    /// The BSUID of the user the message reached; `null` for mark-as-read.
    pub user_id: Option<String>,
    /// The phone of the user the message reached; `null` for mark-as-read.
    pub phone: Option<String>,
    /// The message type; `null` for mark-as-read.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The JSON body as received.
    pub payload: serde_json::Value,
    /// Unix milliseconds on the sandbox clock.
    pub received_at: i64,
}

/// One request to the `/_sandbox/inbox` webhook receiver.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct InboxRecord {
    /// Unix milliseconds.
    pub received_at: i64,
    /// The request path, e.g. `/_sandbox/inbox` or `/_sandbox/inbox/team-a`.
    pub path: String,
    /// Header names (lowercase) to values; repeated headers joined with `, `.
    pub headers: serde_json::Map<String, serde_json::Value>,
    /// The body parsed as JSON, or as a string when it is not JSON.
    pub body: serde_json::Value,
}

/// A message the simulated user sent the business.
#[derive(Debug, Clone)]
pub(crate) struct InboundRecord {
    pub phone_number_id: String,
    pub wamid: String,
    /// The message `type` (a reaction cannot be reacted to).
    pub kind: String,
}

#[derive(Default)]
struct Records {
    sent: VecDeque<SentRecord>,
    inbox: VecDeque<InboxRecord>,
    /// Inbound messages by wamid, for mark-as-read and reactions; `inbound_order`
    /// keeps the insertion order so the oldest can be dropped at the cap.
    inbound: HashMap<String, InboundRecord>,
    inbound_order: VecDeque<String>,
}

/// All records behind one mutex, never held across an await.
#[derive(Default)]
pub(crate) struct Store {
    records: Mutex<Records>,
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, Records> {
        // The records stay consistent even if a holder panicked: every
        // operation is a single push, clear or clone.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push_sent(&self, record: SentRecord) {
        push_capped(&mut self.lock().sent, record);
    }

    /// The newest `limit` sends that `keep` accepts, oldest first.
    pub(crate) fn sent(&self, keep: impl Fn(&SentRecord) -> bool, limit: usize) -> Vec<SentRecord> {
        let records = self.lock();
        let mut picked: Vec<SentRecord> = records.sent.iter().rev().filter(|r| keep(r)).take(limit).cloned().collect();
        picked.reverse();
        picked
    }

    /// The send that created `wamid`.
    pub(crate) fn sent_message(&self, wamid: &str) -> Option<SentRecord> {
        self.lock().sent.iter().rev().find(|r| r.wamid.as_deref() == Some(wamid)).cloned()
    }

    pub(crate) fn clear_sent(&self) {
        self.lock().sent.clear();
    }

    pub(crate) fn push_inbox(&self, record: InboxRecord) {
        push_capped(&mut self.lock().inbox, record);
    }

    pub(crate) fn inbox(&self) -> Vec<InboxRecord> {
        self.lock().inbox.iter().cloned().collect()
    }

    pub(crate) fn clear_inbox(&self) {
        self.lock().inbox.clear();
    }

    pub(crate) fn push_inbound(&self, record: InboundRecord) {
        let mut records = self.lock();
        if records.inbound_order.len() == MAX_RECORDS
            && let Some(oldest) = records.inbound_order.pop_front()
        {
            records.inbound.remove(&oldest);
        }
        records.inbound_order.push_back(record.wamid.clone());
        records.inbound.insert(record.wamid.clone(), record);
    }

    /// The inbound message `wamid`, if a simulated user sent it.
    pub(crate) fn inbound(&self, wamid: &str) -> Option<InboundRecord> {
        self.lock().inbound.get(wamid).cloned()
    }

    /// The newest message the business sent the user with phone `wa_id`
    /// from `phone_number_id`, to their phone or their BSUID (the natural
    /// target of a reply the user sends).
    pub(crate) fn last_sent_to(&self, phone_number_id: &str, wa_id: &str) -> Option<String> {
        self.lock()
            .sent
            .iter()
            .rev()
            .find(|r| r.phone_number_id == phone_number_id && r.phone.as_deref() == Some(wa_id) && r.wamid.is_some())
            .and_then(|r| r.wamid.clone())
    }

    /// Forgets everything.
    pub(crate) fn reset(&self) {
        *self.lock() = Records::default();
    }
}

fn push_capped<T>(list: &mut VecDeque<T>, item: T) {
    if list.len() == MAX_RECORDS {
        list.pop_front();
    }
    list.push_back(item);
}

/// Real time in unix milliseconds (the inbox records when it really received).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_lookup_and_cap() {
        let store = Store::default();
        for n in 0..MAX_RECORDS + 2 {
            store.push_inbound(InboundRecord {
                phone_number_id: "1".into(),
                wamid: format!("w{n}"),
                kind: "text".into(),
            });
        }
        assert!(store.inbound("w0").is_none() && store.inbound("w1").is_none());
        assert_eq!(store.inbound("w2").unwrap().kind, "text");
        assert!(store.inbound(&format!("w{}", MAX_RECORDS + 1)).is_some());
    }

    #[test]
    fn lists_are_capped_oldest_first() {
        let mut list: VecDeque<usize> = VecDeque::new();
        for n in 0..MAX_RECORDS + 3 {
            push_capped(&mut list, n);
        }
        assert_eq!(list.len(), MAX_RECORDS);
        assert_eq!(list.front(), Some(&3));
        assert_eq!(list.back(), Some(&(MAX_RECORDS + 2)));
    }
}

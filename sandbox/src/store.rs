//! The sandbox's memory: what the business sent, what the inbox received.
//!
//! Each list keeps the newest [`MAX_RECORDS`] entries, so a benchmark pushing
//! millions of messages through the sandbox does not grow it without bound.

use std::collections::VecDeque;
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
    /// The JSON body as received.
    pub payload: serde_json::Value,
    /// Unix milliseconds.
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
}

#[derive(Default)]
struct Records {
    sent: VecDeque<SentRecord>,
    inbox: VecDeque<InboxRecord>,
    inbound: VecDeque<InboundRecord>,
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

    pub(crate) fn sent(&self) -> Vec<SentRecord> {
        self.lock().sent.iter().cloned().collect()
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
        push_capped(&mut self.lock().inbound, record);
    }

    /// Whether `wamid` is a message a simulated user sent to `phone_number_id`.
    pub(crate) fn is_inbound(&self, phone_number_id: &str, wamid: &str) -> bool {
        self.lock().inbound.iter().any(|r| r.phone_number_id == phone_number_id && r.wamid == wamid)
    }
}

fn push_capped<T>(list: &mut VecDeque<T>, item: T) {
    if list.len() == MAX_RECORDS {
        list.pop_front();
    }
    list.push_back(item);
}

/// Now in unix milliseconds.
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

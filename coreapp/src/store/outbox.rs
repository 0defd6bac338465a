//! `webhook_outbox`: on-prem events waiting for the business's webhook
//! server, in the order they were created (ids are ULIDs).

use diesel::prelude::*;

use super::queue::State;
use crate::store::db::AnyConnection;
use crate::store::db::prepared::{Prepared, insert_rows, marks, padded};
use crate::store::schema::webhook_outbox as wo;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = wo)]
pub struct Pending {
    pub id: String,
    pub contact: String,
    pub kind: String,
    pub payload: String,
    pub attempts: i32,
    pub created_at: i64,
}

/// What an event tells the business; its `kind` column, and the label of
/// the old client's callback metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A user's message (or a change of who they are).
    Message,
    /// A status of a message the business sent.
    Status,
    /// An error Cloud reported for the account.
    Error,
    /// The result of a garbage collection run on request.
    Services,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Status => "status",
            EventKind::Error => "error",
            EventKind::Services => "services",
        }
    }
}

/// An on-prem event to queue for the business's webhook server.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = wo)]
pub struct NewEvent {
    pub id: String,
    pub contact: String,
    pub kind: String,
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub created_at: i64,
}

impl NewEvent {
    /// A pending event; its id orders it after every event made before.
    pub fn new(contact: &str, kind: EventKind, payload: String, now: i64) -> Self {
        NewEvent {
            id: super::ordered_id(),
            contact: contact.to_string(),
            kind: kind.as_str().to_string(),
            payload,
            state: State::Pending.as_str().to_string(),
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
        }
    }
}

/// Queues events, many rows to a statement.
pub fn insert_many(conn: &mut AnyConnection, rows: &[NewEvent]) -> QueryResult<usize> {
    let head = "INSERT INTO webhook_outbox (id, contact, kind, payload, state, attempts, next_attempt_at, created_at)";
    insert_rows(conn, head, 8, rows, |p, e| {
        p.text(&e.id)
            .text(&e.contact)
            .text(&e.kind)
            .text(&e.payload)
            .text(&e.state)
            .integer(e.attempts)
            .big_int(e.next_attempt_at)
            .big_int(e.created_at)
    })
}

pub fn insert(
    conn: &mut AnyConnection,
    contact: &str,
    kind: EventKind,
    payload: &str,
    now: i64,
) -> QueryResult<String> {
    let id = super::ordered_id();
    diesel::insert_into(wo::table)
        .values((
            wo::id.eq(&id),
            wo::contact.eq(contact),
            wo::kind.eq(kind.as_str()),
            wo::payload.eq(payload),
            wo::state.eq(State::Pending.as_str()),
            wo::attempts.eq(0),
            wo::next_attempt_at.eq(now),
            wo::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// `next_attempt_at` of an event held back until something else is done
/// (its inbound media downloaded). A pending event holds back the later
/// events of its contact, so order is kept while it waits.
pub const HELD: i64 = i64::MAX;

/// The payload of an event.
pub fn payload_of(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<String>> {
    wo::table.find(id).select(wo::payload).first(conn).optional()
}

/// Lets a held event go out now, with a new payload when given.
pub fn release(conn: &mut AnyConnection, id: &str, payload: Option<&str>, now: i64) -> QueryResult<usize> {
    let held = wo::table.filter(wo::id.eq(id)).filter(wo::next_attempt_at.eq(HELD));
    match payload {
        Some(p) => diesel::update(held).set((wo::payload.eq(p), wo::next_attempt_at.eq(now))).execute(conn),
        None => diesel::update(held).set(wo::next_attempt_at.eq(now)).execute(conn),
    }
}

pub fn load(conn: &mut AnyConnection, ids: &[String]) -> QueryResult<Vec<Pending>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = padded(ids);
    let sql = format!(
        "SELECT id, contact, kind, payload, attempts, created_at FROM webhook_outbox WHERE id IN ({}) ORDER BY id",
        marks(list.len())
    );
    Prepared::new(sql).texts(list).load(conn)
}

//! `inbound_events` (Cloud webhook bodies, stored before Cloud gets its 200)
//! and `inbound_messages` (our id for each user message, deduplicated by wamid).

use diesel::prelude::*;

use super::queue::State;
use crate::store::db::AnyConnection;
use crate::store::db::prepared::{Prepared, insert_rows, marks, padded};
use crate::store::schema::{inbound_events as ie, inbound_messages as im};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = ie)]
pub struct Event {
    pub id: String,
    pub body: Vec<u8>,
    pub attempts: i32,
    pub received_at: i64,
}

/// Stores Cloud webhook bodies received together, in one statement;
/// returns their ids, in order.
pub fn insert_events(conn: &mut AnyConnection, bodies: &[Vec<u8>], now: i64) -> QueryResult<Vec<String>> {
    let rows: Vec<(String, &[u8])> = bodies.iter().map(|body| (super::ordered_id(), body.as_slice())).collect();
    let head = "INSERT INTO inbound_events (id, body, state, attempts, next_attempt_at, received_at)";
    insert_rows(conn, head, 6, &rows, |p, (id, body)| {
        p.text(id).binary(body).text(State::Pending.as_str()).integer(0).big_int(now).big_int(now)
    })?;
    Ok(rows.into_iter().map(|(id, _)| id).collect())
}

/// Stores part of a notification to be handled again later (statuses that
/// arrived before our sender recorded their wamids), keeping when Cloud
/// first delivered it.
pub fn insert_deferred(
    conn: &mut AnyConnection,
    body: &[u8],
    received_at: i64,
    attempts: i32,
    next_attempt_at: i64,
) -> QueryResult<String> {
    let id = super::ordered_id();
    diesel::insert_into(ie::table)
        .values((
            ie::id.eq(&id),
            ie::body.eq(body),
            ie::state.eq(State::Pending.as_str()),
            ie::attempts.eq(attempts),
            ie::next_attempt_at.eq(next_attempt_at),
            ie::received_at.eq(received_at),
        ))
        .execute(conn)?;
    Ok(id)
}

pub fn load_events(conn: &mut AnyConnection, ids: &[String]) -> QueryResult<Vec<Event>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = padded(ids);
    let sql = format!(
        "SELECT id, body, attempts, received_at FROM inbound_events WHERE id IN ({}) ORDER BY id",
        marks(list.len())
    );
    Prepared::new(sql).texts(list).load(conn)
}

/// The wamid of a user message we gave `id`.
pub fn wamid_of(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<String>> {
    im::table.find(id).select(im::wamid).first(conn).optional()
}

/// Which of these wamids of user messages we have already seen.
pub fn known_wamids(conn: &mut AnyConnection, wamids: &[String]) -> QueryResult<Vec<String>> {
    if wamids.is_empty() {
        return Ok(Vec::new());
    }
    im::table.filter(im::wamid.eq_any(wamids)).select(im::wamid).load(conn)
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = im)]
pub struct NewMessage {
    pub id: String,
    pub wamid: String,
    pub from_wa_id: String,
    pub received_at: i64,
}

pub fn insert_messages(conn: &mut AnyConnection, rows: &[NewMessage]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    insert_rows!(conn, im::table, rows)
}

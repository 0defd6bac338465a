//! `inbound_events` (Cloud webhook bodies, stored before Cloud gets its 200)
//! and `inbound_messages` (our id for each user message, deduplicated by wamid).

use diesel::prelude::*;

use super::queue::State;
use crate::store::db::AnyConnection;
use crate::store::schema::{inbound_events as ie, inbound_messages as im};

#[derive(Debug, Clone, Queryable, Selectable)]
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
    let ids: Vec<String> = bodies.iter().map(|_| super::ordered_id()).collect();
    let rows: Vec<_> = ids
        .iter()
        .zip(bodies)
        .map(|(id, body)| {
            (
                ie::id.eq(id),
                ie::body.eq(body),
                ie::state.eq(State::Pending.as_str()),
                ie::attempts.eq(0),
                ie::next_attempt_at.eq(now),
                ie::received_at.eq(now),
            )
        })
        .collect();
    insert_rows!(conn, ie::table, &rows)?;
    Ok(ids)
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
    ie::table.filter(ie::id.eq_any(ids)).order(ie::id).select(Event::as_select()).load(conn)
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

//! `inbound_events` (Cloud webhook bodies, stored before Cloud gets its 200)
//! and `inbound_messages` (our id for each user message, deduplicated by wamid).

use diesel::prelude::*;

use super::queue::PENDING;
use crate::db::AnyConnection;
use crate::schema::{inbound_events as ie, inbound_messages as im};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ie)]
pub struct Event {
    pub id: String,
    pub body: Vec<u8>,
    pub attempts: i32,
    pub received_at: i64,
}

pub fn insert_event(conn: &mut AnyConnection, body: &[u8], now: i64) -> QueryResult<String> {
    let id = super::ordered_id();
    diesel::insert_into(ie::table)
        .values((
            ie::id.eq(&id),
            ie::body.eq(body),
            ie::state.eq(PENDING),
            ie::attempts.eq(0),
            ie::next_attempt_at.eq(now),
            ie::received_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

pub fn load_events(conn: &mut AnyConnection, ids: &[String]) -> QueryResult<Vec<Event>> {
    ie::table.filter(ie::id.eq_any(ids)).order(ie::id).select(Event::as_select()).load(conn)
}

/// Our id for a user message, if we have seen its wamid.
pub fn message_id_for(conn: &mut AnyConnection, wamid: &str) -> QueryResult<Option<String>> {
    im::table.filter(im::wamid.eq(wamid)).select(im::id).first(conn).optional()
}

pub fn insert_message(conn: &mut AnyConnection, id: &str, wamid: &str, from: &str, now: i64) -> QueryResult<()> {
    diesel::insert_into(im::table)
        .values((im::id.eq(id), im::wamid.eq(wamid), im::from_wa_id.eq(from), im::received_at.eq(now)))
        .execute(conn)
        .map(drop)
}

/// The wamid of a user message we gave `id`.
pub fn wamid_of(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<String>> {
    im::table.find(id).select(im::wamid).first(conn).optional()
}

//! `outbound_messages` (the send queue and the id <-> wamid map) and
//! `message_statuses` (each status a message reached, once).

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::Text;

use wire::messages::Message;
use wire::status::MessageStatus;

use super::queue::State;
use crate::store::db::AnyConnection;
use crate::store::db::prepared::{Prepared, chunks, insert_rows, marks, padded};
use crate::store::schema::{message_statuses as ms, outbound_messages as om};

/// Handed to Cloud, which answered with a wamid.

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = om)]
pub struct Outbound {
    pub id: String,
    pub recipient: String,
    pub payload: String,
    pub attempts: i32,
    pub wamid: Option<String>,
    pub last_status: Option<String>,
    pub created_at: i64,
    pub media_resends: i32,
}

impl Outbound {
    /// The message, typed: `payload` holds the on-prem object it
    /// serialises to.
    pub fn message(&self) -> Result<Message, serde_json::Error> {
        serde_json::from_str(&self.payload)
    }
}

/// The stored form of a message (`payload`).
pub fn payload_of(message: &Message) -> String {
    serde_json::to_string(message).expect("a message serialises")
}

/// Stores an accepted message; from here on it will reach a final status.
/// With `claim`, the row is born claimed by that owner until the lease
/// ends (sync sends attempt it at once, and no worker takes it meanwhile).
pub fn insert(
    conn: &mut AnyConnection,
    id: &str,
    recipient: &str,
    payload: &str,
    now: i64,
    claim: Option<(&str, i64)>,
) -> QueryResult<()> {
    diesel::insert_into(om::table)
        .values((
            om::lease_owner.eq(claim.map(|c| c.0)),
            om::lease_until.eq(claim.map(|c| c.1)),
            om::id.eq(id),
            om::recipient.eq(recipient),
            om::payload.eq(payload),
            om::state.eq(State::Pending.as_str()),
            om::attempts.eq(0),
            om::next_attempt_at.eq(now),
            om::created_at.eq(now),
            om::updated_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// The columns of [`Outbound`], for statements written by hand.
const OUTBOUND_COLUMNS: &str = "id, recipient, payload, attempts, wamid, last_status, created_at, media_resends";

pub fn load(conn: &mut AnyConnection, ids: &[String]) -> QueryResult<Vec<Outbound>> {
    load_where(conn, "id", ids)
}

/// The messages whose `column` is one of `values`.
fn load_where(conn: &mut AnyConnection, column: &str, values: &[String]) -> QueryResult<Vec<Outbound>> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let list = padded(values);
    let sql = format!("SELECT {OUTBOUND_COLUMNS} FROM outbound_messages WHERE {column} IN ({})", marks(list.len()));
    Prepared::new(sql).texts(list).load(conn)
}

/// A message to store, as its row.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = om)]
pub struct NewOutbound {
    pub id: String,
    pub recipient: String,
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl NewOutbound {
    /// A pending message; with `claim`, born claimed by that owner until
    /// the given time (a sync send attempts it at once).
    pub fn new(id: String, recipient: String, payload: String, now: i64, claim: Option<(String, i64)>) -> Self {
        let (lease_owner, lease_until) = claim.map_or((None, None), |(o, t)| (Some(o), Some(t)));
        NewOutbound {
            id,
            recipient,
            payload,
            state: State::Pending.as_str().to_string(),
            attempts: 0,
            next_attempt_at: now,
            lease_owner,
            lease_until,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Stores accepted messages, many rows to a statement.
pub fn insert_many(conn: &mut AnyConnection, rows: &[NewOutbound]) -> QueryResult<usize> {
    let head = "INSERT INTO outbound_messages (id, recipient, payload, state, attempts, next_attempt_at, \
                lease_owner, lease_until, created_at, updated_at)";
    insert_rows(conn, head, 10, rows, |p, m| {
        p.text(&m.id)
            .text(&m.recipient)
            .text(&m.payload)
            .text(&m.state)
            .integer(m.attempts)
            .big_int(m.next_attempt_at)
            .nullable_text(m.lease_owner.as_deref())
            .nullable_big_int(m.lease_until)
            .big_int(m.created_at)
            .big_int(m.updated_at)
    })
}

/// Records Cloud's acceptance and releases the claim, if still ours.
pub fn mark_sent(
    conn: &mut AnyConnection,
    id: &str,
    owner: &str,
    wamid: &str,
    attempts: i32,
    now: i64,
) -> QueryResult<bool> {
    let n = diesel::update(om::table.filter(om::id.eq(id)).filter(om::lease_owner.eq(owner)))
        .set((
            om::state.eq(State::Sent.as_str()),
            om::wamid.eq(wamid),
            om::attempts.eq(attempts),
            om::lease_owner.eq(None::<String>),
            om::lease_until.eq(None::<i64>),
            om::last_error.eq(None::<String>),
            om::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// A send Cloud accepted, to record.
#[derive(Debug, Clone)]
pub struct Sent {
    pub id: String,
    pub wamid: String,
    pub attempts: i32,
}

/// Records several sends Cloud accepted and releases their claims, if
/// still `owner`'s, in a statement or a few. Returns how many it recorded: fewer
/// than given means some claims lapsed ([`wamids_of`] tells which).
pub fn mark_sent_many(conn: &mut AnyConnection, owner: &str, sent: &[Sent], now: i64) -> QueryResult<usize> {
    if sent.is_empty() {
        return Ok(0);
    }
    let mut recorded = 0;
    for chunk in chunks(sent) {
        let cases = " WHEN ? THEN ?".repeat(chunk.len());
        let sql = format!(
            "UPDATE outbound_messages SET state = ?, wamid = CASE id{cases} END, attempts = CASE id{cases} END, \
             lease_owner = NULL, lease_until = NULL, last_error = NULL, updated_at = ? \
             WHERE lease_owner = ? AND id IN ({})",
            marks(chunk.len())
        );
        let mut q = Prepared::new(sql).text(State::Sent.as_str());
        for s in chunk {
            q = q.text(&s.id).text(&s.wamid);
        }
        for s in chunk {
            q = q.text(&s.id).integer(s.attempts);
        }
        q = q.big_int(now).text(owner).texts(chunk.iter().map(|s| s.id.as_str()));
        recorded += q.execute(conn)?;
    }
    Ok(recorded)
}

/// The wamids recorded for these messages (absent: none yet).
pub fn wamids_of(conn: &mut AnyConnection, ids: &[String]) -> QueryResult<HashMap<String, String>> {
    let rows: Vec<(String, Option<String>)> =
        om::table.filter(om::id.eq_any(ids)).select((om::id, om::wamid)).load(conn)?;
    Ok(rows.into_iter().filter_map(|(id, wamid)| Some((id, wamid?))).collect())
}

/// Puts a message Cloud accepted as `wamid` back in the queue, to be sent
/// again (its media was rejected after the send; see the intake). Returns
/// false when the message moved on meanwhile.
pub fn resend(conn: &mut AnyConnection, id: &str, wamid: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(om::table.filter(om::id.eq(id)).filter(om::wamid.eq(wamid)))
        .set((
            om::state.eq(State::Pending.as_str()),
            om::wamid.eq(None::<String>),
            om::next_attempt_at.eq(now),
            om::media_resends.eq(om::media_resends + 1),
            om::lease_owner.eq(None::<String>),
            om::lease_until.eq(None::<i64>),
            om::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn set_last_status(conn: &mut AnyConnection, id: &str, status: MessageStatus, now: i64) -> QueryResult<usize> {
    diesel::update(om::table.find(id)).set((om::last_status.eq(status.as_str()), om::updated_at.eq(now))).execute(conn)
}

/// Records that a message reached `status`; false if it already had.
pub fn record_status(
    conn: &mut AnyConnection,
    message_id: &str,
    status: MessageStatus,
    cloud_ts: &str,
    now: i64,
) -> QueryResult<bool> {
    let status = status.as_str();
    let seen: i64 =
        ms::table.filter(ms::message_id.eq(message_id)).filter(ms::status.eq(status)).count().get_result(conn)?;
    if seen > 0 {
        return Ok(false);
    }
    let inserted = diesel::insert_into(ms::table)
        .values((
            ms::id.eq(super::ordered_id()),
            ms::message_id.eq(message_id),
            ms::status.eq(status),
            ms::cloud_timestamp.eq(cloud_ts),
            ms::created_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The wamid Cloud gave a message we sent.
pub fn wamid_of(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<String>> {
    om::table.find(id).select(om::wamid).first::<Option<String>>(conn).optional().map(Option::flatten)
}

/// The messages we sent with these wamids (one statement for a batch).
pub fn find_by_wamids(conn: &mut AnyConnection, wamids: &[String]) -> QueryResult<Vec<Outbound>> {
    if wamids.is_empty() {
        return Ok(Vec::new());
    }
    load_where(conn, "wamid", wamids)
}

/// Every status recorded for these messages, as (message id, status).
pub fn statuses_of(conn: &mut AnyConnection, ids: &[String]) -> QueryResult<Vec<(String, MessageStatus)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        message_id: String,
        #[diesel(sql_type = Text)]
        status: String,
    }
    let list = padded(ids);
    let sql = format!("SELECT message_id, status FROM message_statuses WHERE message_id IN ({})", marks(list.len()));
    let rows: Vec<Row> = Prepared::new(sql).texts(list).load(conn)?;
    // Only delivery statuses are ever recorded; a padded list repeats its
    // last id, which matches its rows once all the same.
    Ok(rows.into_iter().filter_map(|r| MessageStatus::parse(&r.status).map(|s| (r.message_id, s))).collect())
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ms)]
pub struct NewStatus {
    id: String,
    message_id: String,
    status: &'static str,
    cloud_timestamp: String,
    created_at: i64,
}

impl NewStatus {
    pub fn new(message_id: String, status: MessageStatus, cloud_timestamp: String, now: i64) -> Self {
        NewStatus { id: super::ordered_id(), message_id, status: status.as_str(), cloud_timestamp, created_at: now }
    }
}

/// Records statuses in one statement. A status recorded meanwhile by
/// another node violates the unique index and fails the statement (and the
/// caller's transaction), so no status is recorded twice.
pub fn insert_statuses(conn: &mut AnyConnection, rows: &[NewStatus]) -> QueryResult<usize> {
    let head = "INSERT INTO message_statuses (id, message_id, status, cloud_timestamp, created_at)";
    insert_rows(conn, head, 5, rows, |p, r| {
        p.text(&r.id).text(&r.message_id).text(r.status).text(&r.cloud_timestamp).big_int(r.created_at)
    })
}

/// Rewrites a queued message's stored payload (a provider link fetched to
/// the volume becomes our media id, so retries do not fetch it again).
pub fn set_message(conn: &mut AnyConnection, id: &str, message: &Message, now: i64) -> QueryResult<usize> {
    let payload = payload_of(message);
    diesel::update(om::table.find(id)).set((om::payload.eq(payload), om::updated_at.eq(now))).execute(conn)
}

//! `whatsapp_users`: the identity registry (see `crate::identities`). One
//! row per business-scoped user ID Cloud named; `seq` numbers the stand-in
//! identifiers.

use diesel::prelude::*;

use crate::store::db::AnyConnection;
use crate::store::db::prepared::insert_rows_then;
use crate::store::schema::whatsapp_users as w;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = w)]
pub struct WhatsappUser {
    pub seq: i64,
    pub bsuid: String,
    pub parent_bsuid: Option<String>,
    /// Digits; once known, never cleared (Cloud still takes sends to it).
    pub phone: Option<String>,
    pub username: Option<String>,
    pub profile_name: Option<String>,
    /// The row of the BSUID that replaced this one.
    pub replaced_by: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = w)]
struct NewRow<'a> {
    bsuid: &'a str,
    parent_bsuid: Option<&'a str>,
    phone: Option<&'a str>,
    username: Option<&'a str>,
    profile_name: Option<&'a str>,
    created_at: i64,
    updated_at: i64,
}

pub fn find_by_bsuids(conn: &mut AnyConnection, bsuids: &[String]) -> QueryResult<Vec<WhatsappUser>> {
    if bsuids.is_empty() {
        return Ok(Vec::new());
    }
    w::table.filter(w::bsuid.eq_any(bsuids)).select(WhatsappUser::as_select()).load(conn)
}

pub fn find_by_bsuid(conn: &mut AnyConnection, bsuid: &str) -> QueryResult<Option<WhatsappUser>> {
    w::table.filter(w::bsuid.eq(bsuid)).select(WhatsappUser::as_select()).first(conn).optional()
}

pub fn find_by_seq(conn: &mut AnyConnection, seq: i64) -> QueryResult<Option<WhatsappUser>> {
    w::table.find(seq).select(WhatsappUser::as_select()).first(conn).optional()
}

/// Inserts a new user and returns the row with its `seq`. When another
/// writer inserted the same BSUID first, its row is returned unchanged.
pub fn insert(conn: &mut AnyConnection, row: &WhatsappUser) -> QueryResult<WhatsappUser> {
    let new = NewRow {
        bsuid: &row.bsuid,
        parent_bsuid: row.parent_bsuid.as_deref(),
        phone: row.phone.as_deref(),
        username: row.username.as_deref(),
        profile_name: row.profile_name.as_deref(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    };
    match diesel::insert_into(w::table).values(&new).execute(conn) {
        Err(e) if super::is_unique_violation(&e) => {}
        other => other.map(drop)?,
    }
    find_by_bsuid(conn, &row.bsuid)?.ok_or(diesel::result::Error::NotFound)
}

/// Adds a user unless their BSUID is known, in one statement. (On MySQL an
/// ignored insert may still use up a `seq`: stand-ins can have gaps.)
pub fn insert_if_new(conn: &mut AnyConnection, bsuid: &str, phone: Option<&str>, now: i64) -> QueryResult<()> {
    let new = NewRow {
        bsuid,
        parent_bsuid: None,
        phone,
        username: None,
        profile_name: None,
        created_at: now,
        updated_at: now,
    };
    match conn {
        AnyConnection::Mysql(m) => diesel::insert_or_ignore_into(w::table).values(&new).execute(m),
        AnyConnection::Pg(p) => diesel::insert_into(w::table).values(&new).on_conflict_do_nothing().execute(p),
        AnyConnection::Sqlite(s) => diesel::insert_or_ignore_into(w::table).values(&new).execute(s),
    }
    .map(drop)
}

/// Adds the users whose BSUID is not known yet: the users a batch of sends
/// reached (BSUID and phone, as Cloud answered). One statement per chunk
/// of rows, kept prepared (`store::db::prepared`): every send's record
/// runs it.
pub fn insert_many_if_new(conn: &mut AnyConnection, users: &[(&str, Option<&str>)], now: i64) -> QueryResult<()> {
    let (head, tail) = match conn {
        AnyConnection::Mysql(_) => ("INSERT IGNORE INTO whatsapp_users (bsuid, phone, created_at, updated_at)", ""),
        _ => ("INSERT INTO whatsapp_users (bsuid, phone, created_at, updated_at)", " ON CONFLICT DO NOTHING"),
    };
    insert_rows_then(conn, head, 4, users, tail, |p, &(bsuid, phone)| {
        p.text(bsuid).nullable_text(phone).big_int(now).big_int(now)
    })
    .map(drop)
}

/// Records a user's phone when none was known; false when one already was
/// (another coreapp got there first: it told the business).
pub fn set_phone_if_unknown(conn: &mut AnyConnection, seq: i64, phone: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(w::table.find(seq).filter(w::phone.is_null()))
        .set((w::phone.eq(phone), w::updated_at.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Links a BSUID to the one that replaced it, once; false when it already
/// was.
pub fn set_replaced_if_unset(conn: &mut AnyConnection, seq: i64, by: i64, now: i64) -> QueryResult<bool> {
    let n = diesel::update(w::table.find(seq).filter(w::replaced_by.is_null()))
        .set((w::replaced_by.eq(by), w::updated_at.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Writes the details that may change without changing who the user is.
pub fn set_details(conn: &mut AnyConnection, row: &WhatsappUser) -> QueryResult<()> {
    diesel::update(w::table.find(row.seq))
        .set((
            w::parent_bsuid.eq(&row.parent_bsuid),
            w::username.eq(&row.username),
            w::profile_name.eq(&row.profile_name),
            w::updated_at.eq(row.updated_at),
        ))
        .execute(conn)
        .map(drop)
}

/// Every row, oldest first (backups).
pub fn all(conn: &mut AnyConnection) -> QueryResult<Vec<WhatsappUser>> {
    w::table.order(w::seq.asc()).select(WhatsappUser::as_select()).load(conn)
}

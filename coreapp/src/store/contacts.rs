//! `contacts` (results of `POST /v1/contacts`, kept 7 days) and
//! `contact_identities` (users' identity keys).

use diesel::prelude::*;
use wire::contacts::ContactStatus;

use crate::store::db::AnyConnection;
use crate::store::schema::{contact_identities as ci, contacts as c};

/// A kept result of checking one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub input: String,
    pub status: ContactStatus,
    pub wa_id: Option<String>,
    pub checked_at: i64,
}

/// The row as stored: the status by its on-prem name.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = c)]
struct Row {
    input: String,
    status: String,
    wa_id: Option<String>,
    checked_at: i64,
}

impl Row {
    fn of(checked: &Checked) -> Row {
        Row {
            input: checked.input.clone(),
            status: checked.status.as_str().to_string(),
            wa_id: checked.wa_id.clone(),
            checked_at: checked.checked_at,
        }
    }

    fn read(self) -> QueryResult<Checked> {
        let status = ContactStatus::parse(&self.status).ok_or_else(|| {
            diesel::result::Error::DeserializationError(format!("contact status {:?}", self.status).into())
        })?;
        Ok(Checked { input: self.input, status, wa_id: self.wa_id, checked_at: self.checked_at })
    }
}

pub fn find(conn: &mut AnyConnection, input: &str) -> QueryResult<Option<Checked>> {
    c::table.find(input).select(Row::as_select()).first(conn).optional()?.map(Row::read).transpose()
}

pub fn put(conn: &mut AnyConnection, checked: &Checked) -> QueryResult<()> {
    let row = &Row::of(checked);
    let n = diesel::update(c::table.find(&row.input))
        .set((c::status.eq(&row.status), c::wa_id.eq(&row.wa_id), c::checked_at.eq(row.checked_at)))
        .execute(conn)?;
    if n == 0 {
        match diesel::insert_into(c::table).values(row).execute(conn) {
            Err(e) if super::is_unique_violation(&e) => {}
            other => other.map(drop)?,
        }
    }
    Ok(())
}

/// The stored results for `inputs`.
pub fn find_many(conn: &mut AnyConnection, inputs: &[String]) -> QueryResult<Vec<Checked>> {
    c::table.filter(c::input.eq_any(inputs)).select(Row::as_select()).load(conn)?.into_iter().map(Row::read).collect()
}

/// Stores fresh results in two statements: the old rows of these inputs
/// go, the new ones are inserted. A concurrent check of the same input
/// computes the same result, so a row it inserted first is kept.
pub fn replace_many(conn: &mut AnyConnection, rows: &[Checked]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let inputs: Vec<&str> = rows.iter().map(|r| r.input.as_str()).collect();
    let rows: Vec<Row> = rows.iter().map(Row::of).collect();
    diesel::delete(c::table.filter(c::input.eq_any(&inputs))).execute(conn)?;
    match conn {
        AnyConnection::Mysql(m) => diesel::insert_or_ignore_into(c::table).values(&rows).execute(m),
        AnyConnection::Pg(p) => diesel::insert_into(c::table).values(&rows).on_conflict_do_nothing().execute(p),
        AnyConnection::Sqlite(s) => diesel::insert_or_ignore_into(c::table).values(&rows).execute(s),
    }
    .map(drop)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ci)]
pub struct Identity {
    pub wa_id: String,
    pub hash: String,
    pub created_timestamp: i64,
    pub acknowledged: i32,
}

pub fn identity(conn: &mut AnyConnection, wa_id: &str) -> QueryResult<Option<Identity>> {
    ci::table.find(wa_id).select(Identity::as_select()).first(conn).optional()
}

/// Records a user's identity key; a new key starts unacknowledged.
pub fn put_identity(conn: &mut AnyConnection, row: &Identity) -> QueryResult<()> {
    let n = diesel::update(ci::table.find(&row.wa_id).filter(ci::hash.ne(&row.hash)))
        .set((ci::hash.eq(&row.hash), ci::created_timestamp.eq(row.created_timestamp), ci::acknowledged.eq(0)))
        .execute(conn)?;
    if n == 0 && identity(conn, &row.wa_id)?.is_none() {
        match diesel::insert_into(ci::table).values(row).execute(conn) {
            Err(e) if super::is_unique_violation(&e) => {}
            other => other.map(drop)?,
        }
    }
    Ok(())
}

pub fn acknowledge(conn: &mut AnyConnection, wa_id: &str, hash: &str) -> QueryResult<usize> {
    diesel::update(ci::table.find(wa_id).filter(ci::hash.eq(hash))).set(ci::acknowledged.eq(1)).execute(conn)
}

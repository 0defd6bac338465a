//! `token_revocations`: logged-out tokens and deleted users. Webapps poll
//! the active list, so a revocation takes effect on every webapp within
//! their poll interval. Rows go once the tokens they revoke have expired.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::token_revocations as tr;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tr)]
pub struct Revocation {
    pub id: String,
    pub token_id: String,
    pub username: String,
    pub issued_before_ms: i64,
    pub expires_at_ms: i64,
    pub created_at: i64,
}

pub fn insert(conn: &mut AnyConnection, r: &Revocation) -> QueryResult<()> {
    diesel::insert_into(tr::table).values(r).execute(conn).map(drop)
}

pub fn active(conn: &mut AnyConnection, now: i64) -> QueryResult<Vec<Revocation>> {
    tr::table.filter(tr::expires_at_ms.gt(now)).select(Revocation::as_select()).load(conn)
}

pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> QueryResult<usize> {
    diesel::delete(tr::table.filter(tr::expires_at_ms.le(now))).execute(conn)
}

//! `token_revocations`: logged-out tokens and deleted users. Webapps poll
//! the active list, so a revocation takes effect on every webapp within
//! their poll interval. Rows go once the tokens they revoke have expired
//! beyond the clock leeway webapps grant (`wire::users::TOKEN_LEEWAY`): a
//! revocation dropped at `exp` would let the token back in for that long.

use diesel::prelude::*;

use crate::store::db::AnyConnection;
use crate::store::schema::token_revocations as tr;

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

/// The tokens' expiry before which a revocation still matters at `now`.
fn cutoff(now: i64) -> i64 {
    now.saturating_sub(wire::users::TOKEN_LEEWAY.as_millis() as i64)
}

pub fn active(conn: &mut AnyConnection, now: i64) -> QueryResult<Vec<Revocation>> {
    tr::table.filter(tr::expires_at_ms.gt(cutoff(now))).select(Revocation::as_select()).load(conn)
}

pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> QueryResult<usize> {
    diesel::delete(tr::table.filter(tr::expires_at_ms.le(cutoff(now)))).execute(conn)
}

//! `login_failures`: failed logins per client, shared by every coreapp so
//! the limit holds wherever the attempts arrive. Rows older than the
//! window are removed as new ones come.

use diesel::prelude::*;

use crate::store::db::AnyConnection;
use crate::store::schema::login_failures as lf;

/// Failures of `client` since `since_ms`.
pub fn count(conn: &mut AnyConnection, client: &str, since_ms: i64) -> QueryResult<i64> {
    lf::table.filter(lf::client.eq(client)).filter(lf::at_ms.gt(since_ms)).count().get_result(conn)
}

/// Records a failure, and drops every row that fell out of the window.
pub fn record(conn: &mut AnyConnection, client: &str, now_ms: i64, window_start_ms: i64) -> QueryResult<()> {
    diesel::delete(lf::table.filter(lf::at_ms.le(window_start_ms))).execute(conn)?;
    diesel::insert_into(lf::table)
        .values((lf::id.eq(wire::ids::message_id()), lf::client.eq(client), lf::at_ms.eq(now_ms)))
        .execute(conn)
        .map(drop)
}

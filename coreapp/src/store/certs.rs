//! `web_certificates`: the webapp's TLS certificate, so that every webapp
//! and every restart serves the same one.

use diesel::prelude::*;

use crate::store::db::AnyConnection;
use crate::store::schema::web_certificates as wc;

pub const WEBAPP: &str = "webapp";

pub fn get(conn: &mut AnyConnection, name: &str) -> QueryResult<Option<(String, String)>> {
    wc::table.find(name).select((wc::cert_pem, wc::key_pem)).first(conn).optional()
}

/// Stores the pair unless one is there already; returns the stored pair.
pub fn put_if_absent(
    conn: &mut AnyConnection,
    name: &str,
    cert: &str,
    key: &str,
    now: i64,
) -> QueryResult<(String, String)> {
    if let Some(pair) = get(conn, name)? {
        return Ok(pair);
    }
    let inserted = diesel::insert_into(wc::table)
        .values((wc::name.eq(name), wc::cert_pem.eq(cert), wc::key_pem.eq(key), wc::created_at.eq(now)))
        .execute(conn);
    match inserted {
        Err(e) if super::is_unique_violation(&e) => {}
        other => other.map(drop)?,
    }
    get(conn, name)?.ok_or(diesel::result::Error::NotFound)
}

/// Inserts or replaces the pair.
pub fn put(conn: &mut AnyConnection, name: &str, cert: &str, key: &str, now: i64) -> QueryResult<()> {
    let updated = diesel::update(wc::table.find(name))
        .set((wc::cert_pem.eq(cert), wc::key_pem.eq(key), wc::created_at.eq(now)))
        .execute(conn)?;
    if updated == 0 {
        put_if_absent(conn, name, cert, key, now)?;
        // Lost a race with a first start: store ours over it.
        diesel::update(wc::table.find(name))
            .set((wc::cert_pem.eq(cert), wc::key_pem.eq(key), wc::created_at.eq(now)))
            .execute(conn)?;
    }
    Ok(())
}

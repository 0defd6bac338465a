//! `settings`: named JSON documents (the application settings, the token
//! signing key), shared by every coreapp.

use diesel::prelude::*;

use crate::store::db::AnyConnection;
use crate::store::schema::settings;

pub const APPLICATION: &str = "application";
pub const JWT_KEY: &str = "auth.jwt_key";
/// PEM of private CAs the webhook client trusts.
pub const WEBHOOK_CA: &str = "webhooks.ca_pem";

pub fn get(conn: &mut AnyConnection, name: &str) -> QueryResult<Option<String>> {
    settings::table.find(name).select(settings::value).first(conn).optional()
}

/// Inserts or replaces a value.
pub fn put(conn: &mut AnyConnection, name: &str, value: &str, now: i64) -> QueryResult<()> {
    let updated = diesel::update(settings::table.find(name))
        .set((settings::value.eq(value), settings::updated_at.eq(now)))
        .execute(conn)?;
    if updated == 0 {
        match insert(conn, name, value, now) {
            Err(e) if super::is_unique_violation(&e) => {
                // Another node inserted it between our two statements.
                diesel::update(settings::table.find(name))
                    .set((settings::value.eq(value), settings::updated_at.eq(now)))
                    .execute(conn)?;
            }
            other => other?,
        }
    }
    Ok(())
}

/// Returns the stored value, inserting `value` first if there is none; the
/// first writer wins when several nodes race.
pub fn get_or_insert(conn: &mut AnyConnection, name: &str, value: &str, now: i64) -> QueryResult<String> {
    if let Some(v) = get(conn, name)? {
        return Ok(v);
    }
    match insert(conn, name, value, now) {
        Err(e) if super::is_unique_violation(&e) => {}
        other => other?,
    }
    get(conn, name)?.ok_or(diesel::result::Error::NotFound)
}

fn insert(conn: &mut AnyConnection, name: &str, value: &str, now: i64) -> QueryResult<()> {
    diesel::insert_into(settings::table)
        .values((settings::name.eq(name), settings::value.eq(value), settings::updated_at.eq(now)))
        .execute(conn)
        .map(drop)
}

pub fn delete(conn: &mut AnyConnection, name: &str) -> QueryResult<usize> {
    diesel::delete(settings::table.find(name)).execute(conn)
}

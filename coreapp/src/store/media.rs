//! `media`: our media ids and what we know of each (Cloud id and expiry,
//! the blob on the shared volume).

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::media as m;

/// Cloud keeps media a user sent for 7 days.
pub const INBOUND_CLOUD_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = m)]
pub struct Media {
    pub id: String,
    pub origin: String,
    pub mime_type: String,
    pub cloud_id: Option<String>,
    pub cloud_expires_at: Option<i64>,
    pub cloud_sha256: Option<String>,
    pub blob_sha256: Option<String>,
    pub size: Option<i64>,
    pub filename: Option<String>,
    pub created_at: i64,
}

pub fn insert(conn: &mut AnyConnection, row: &Media) -> QueryResult<()> {
    diesel::insert_into(m::table).values(row).execute(conn).map(drop)
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<Media>> {
    m::table.find(id).select(Media::as_select()).first(conn).optional()
}

pub fn insert_many(conn: &mut AnyConnection, rows: &[Media]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    insert_rows!(conn, m::table, rows)
}

//! `media_downloads`: inbound media to fetch from Cloud before its webhook
//! goes out (`media.auto_download`). Claimed like the other queues.

use diesel::prelude::*;

use super::queue::State;
use crate::store::db::AnyConnection;
use crate::store::schema::media_downloads as md;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = md)]
pub struct Download {
    pub id: String,
    pub media_id: String,
    /// The webhook event held until the file is on the volume.
    pub event_id: Option<String>,
    pub attempts: i32,
    pub created_at: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = md)]
pub struct NewDownload {
    pub id: String,
    pub media_id: String,
    pub event_id: Option<String>,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub created_at: i64,
}

impl NewDownload {
    pub fn new(media_id: &str, event_id: &str, now: i64) -> Self {
        NewDownload {
            id: super::ordered_id(),
            media_id: media_id.to_string(),
            event_id: Some(event_id.to_string()),
            state: State::Pending.as_str().to_string(),
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
        }
    }
}

pub fn insert_many(conn: &mut AnyConnection, rows: &[NewDownload]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    insert_rows!(conn, md::table, rows)
}

pub fn load(conn: &mut AnyConnection, ids: &[String]) -> QueryResult<Vec<Download>> {
    md::table.filter(md::id.eq_any(ids)).order(md::id).select(Download::as_select()).load(conn)
}

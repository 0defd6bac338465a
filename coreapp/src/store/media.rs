//! `media`: our media ids and what we know of each (the Cloud ids, the
//! file on the shared volume); `media_blobs`: one row per file on the
//! volume, the lock that keeps placing and removing files race-free.
//!
//! The protocol, shared by every coreapp:
//! - a file is placed (renamed into `blobs/`) only inside a transaction
//!   holding its `media_blobs` row, created if needed, and the media row
//!   that points at it is written in the same transaction;
//! - a file is removed only inside a transaction holding the same row,
//!   after counting that no media row points at it, and before commit.
//!
//! So a removal either sees the new media row (and keeps the file) or
//! finishes before the upload takes the row (which then finds no file and
//! places its own). A crash can leave a file without a row or a row
//! without a file, never a media row without its file: the garbage
//! collector reclaims both leftovers.

use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::error::CoreError;
use crate::store::db::AnyConnection;
use crate::store::db::prepared::Prepared;
use crate::store::schema::{media as m, media_blobs as mb};

/// Cloud keeps media a user sent for 7 days.
pub const INBOUND_CLOUD_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;
/// Cloud keeps uploaded media 30 days; we use an upload for 29, so a send
/// never races the expiry.
pub const UPLOAD_USABLE_MS: i64 = 29 * 24 * 3600 * 1000;

pub const ORIGIN_UPLOAD: &str = "upload";
pub const ORIGIN_INBOUND: &str = "inbound";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = m)]
pub struct Media {
    pub id: String,
    pub origin: String,
    pub mime_type: String,
    /// The id a user's message came with (for downloading).
    pub cloud_id: Option<String>,
    pub cloud_expires_at: Option<i64>,
    pub cloud_sha256: Option<String>,
    pub blob_sha256: Option<String>,
    pub size: Option<i64>,
    pub filename: Option<String>,
    pub created_at: i64,
    /// The id Cloud gave our upload of the file (for sending).
    pub upload_id: Option<String>,
    pub upload_expires_at: Option<i64>,
    /// The download URL an inbound webhook carried (newer payloads do).
    pub cloud_url: Option<String>,
}

impl Media {
    /// A row for media a user sent, known by Cloud's id only.
    pub fn inbound(id: String, mime_type: String, cloud_id: Option<String>, now: i64) -> Media {
        Media {
            id,
            origin: ORIGIN_INBOUND.into(),
            mime_type,
            cloud_id,
            cloud_expires_at: Some(now + INBOUND_CLOUD_LIFETIME_MS),
            cloud_sha256: None,
            blob_sha256: None,
            size: None,
            filename: None,
            created_at: now,
            upload_id: None,
            upload_expires_at: None,
            cloud_url: None,
        }
    }
}

pub fn insert(conn: &mut AnyConnection, row: &Media) -> QueryResult<()> {
    diesel::insert_into(m::table).values(row).execute(conn).map(drop)
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<Media>> {
    m::table.find(id).select(Media::as_select()).first(conn).optional()
}

pub fn find_many(conn: &mut AnyConnection, ids: &[String]) -> QueryResult<Vec<Media>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    m::table.filter(m::id.eq_any(ids)).select(Media::as_select()).load(conn)
}

pub fn insert_many(conn: &mut AnyConnection, rows: &[Media]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    insert_rows!(conn, m::table, rows)
}

/// Records the Cloud id of our upload of a media file.
pub fn set_upload(conn: &mut AnyConnection, id: &str, upload_id: &str, usable_until: i64) -> QueryResult<usize> {
    diesel::update(m::table.find(id))
        .set((m::upload_id.eq(upload_id), m::upload_expires_at.eq(usable_until)))
        .execute(conn)
}

/// Forgets Cloud ids of our uploads that Cloud no longer accepts.
pub fn forget_uploads(conn: &mut AnyConnection, ids: &[String]) -> QueryResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::update(m::table.filter(m::id.eq_any(ids)))
        .set((m::upload_id.eq(None::<String>), m::upload_expires_at.eq(None::<i64>)))
        .execute(conn)
}

/// Removes a media row; returns it, or `None` when there was none.
pub fn delete(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<Media>> {
    let row = find(conn, id)?;
    if row.is_some() {
        diesel::delete(m::table.find(id)).execute(conn)?;
    }
    Ok(row)
}

/// Media rows made before `before`, oldest first (the retention purge).
pub fn older_than(conn: &mut AnyConnection, before: i64, limit: i64) -> QueryResult<Vec<(String, Option<String>)>> {
    m::table
        .filter(m::created_at.lt(before))
        .order(m::created_at)
        .limit(limit)
        .select((m::id, m::blob_sha256))
        .load(conn)
}

pub fn delete_many(conn: &mut AnyConnection, ids: &[String]) -> QueryResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(m::table.filter(m::id.eq_any(ids))).execute(conn)
}

// === the file protocol ===

/// Takes the row lock of a file, creating its row if needed. Held until
/// the caller's transaction ends.
pub fn lock_blob(conn: &mut AnyConnection, sha256: &str, now: i64) -> QueryResult<()> {
    let sql = match conn {
        // ON DUPLICATE KEY UPDATE takes the exclusive lock on an existing row.
        AnyConnection::Mysql(_) => {
            "INSERT INTO media_blobs (sha256, created_at) VALUES (?, ?) ON DUPLICATE KEY UPDATE sha256 = sha256"
        }
        // So does an update on conflict.
        AnyConnection::Pg(_) => {
            "INSERT INTO media_blobs (sha256, created_at) VALUES (?, ?) \
             ON CONFLICT (sha256) DO UPDATE SET sha256 = EXCLUDED.sha256"
        }
        // One connection per process: the transaction itself is the lock.
        AnyConnection::Sqlite(_) => {
            "INSERT INTO media_blobs (sha256, created_at) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING"
        }
    };
    Prepared::new(sql).text(sha256).big_int(now).execute(conn).map(drop)
}

/// Stores a new media row whose file was written to the volume's
/// temporary folder, placing the file in the same transaction.
pub fn commit_upload(
    conn: &mut AnyConnection,
    store: &media::MediaStore,
    written: media::Written,
    row: &Media,
    now: i64,
) -> Result<(), CoreError> {
    crate::store::db::transaction(conn, |conn| {
        lock_blob(conn, &written.stored.sha256, now)?;
        store.place(written).map_err(anyhow::Error::from)?;
        insert(conn, row)?;
        Ok(())
    })
}

/// Points an existing media row at a file just fetched (an inbound file
/// downloaded from Cloud). Returns false when the row is gone meanwhile;
/// the file then stays for the garbage collector.
pub fn attach_blob(
    conn: &mut AnyConnection,
    store: &media::MediaStore,
    id: &str,
    written: media::Written,
    now: i64,
) -> Result<bool, CoreError> {
    let (sha256, size) = (written.stored.sha256.clone(), written.stored.size as i64);
    crate::store::db::transaction(conn, |conn| {
        lock_blob(conn, &sha256, now)?;
        store.place(written).map_err(anyhow::Error::from)?;
        let n = diesel::update(m::table.find(id)).set((m::blob_sha256.eq(&sha256), m::size.eq(size))).execute(conn)?;
        Ok(n == 1)
    })
}

/// Removes a file from the volume if no media row points at it any more.
/// Returns whether it went.
pub fn reclaim_blob(
    conn: &mut AnyConnection,
    store: &media::MediaStore,
    sha256: &str,
    now: i64,
) -> Result<bool, CoreError> {
    crate::store::db::transaction(conn, |conn| {
        lock_blob(conn, sha256, now)?;
        let refs: i64 = m::table.filter(m::blob_sha256.eq(sha256)).count().get_result(conn)?;
        if refs > 0 {
            return Ok(false);
        }
        diesel::delete(mb::table.find(sha256)).execute(conn)?;
        // Before commit: a crash here leaves a row without a file, which
        // the next collection removes; never a media row without a file.
        store.remove(sha256).map_err(anyhow::Error::from)?;
        Ok(true)
    })
}

/// File rows no media row points at (left by a crash or a removal).
pub fn unreferenced_blobs(conn: &mut AnyConnection, limit: i64) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Sha {
        #[diesel(sql_type = Text)]
        sha256: String,
    }
    let rows: Vec<Sha> = Prepared::new(
        "SELECT b.sha256 FROM media_blobs b WHERE NOT EXISTS \
         (SELECT 1 FROM media m WHERE m.blob_sha256 = b.sha256) LIMIT ?",
    )
    .big_int(limit)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.sha256).collect())
}

/// Which of these files have no row (placed by an upload that crashed
/// before its commit).
pub fn unknown_blobs(conn: &mut AnyConnection, shas: &[String]) -> QueryResult<Vec<String>> {
    if shas.is_empty() {
        return Ok(Vec::new());
    }
    let known: std::collections::HashSet<String> =
        mb::table.filter(mb::sha256.eq_any(shas)).select(mb::sha256).load::<String>(conn)?.into_iter().collect();
    Ok(shas.iter().filter(|s| !known.contains(*s)).cloned().collect())
}

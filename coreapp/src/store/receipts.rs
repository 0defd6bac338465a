//! Group commit for Cloud webhooks. Cloud gets its `200` only once the
//! notification is stored; one INSERT and one commit per POST held the
//! intake to what the pool's connections could commit one by one (about
//! 3,000 POSTs/s here, the CPU mostly idle). One task stores them
//! instead: every POST that arrived during the previous write goes into
//! the next one, one multi-row INSERT and one commit.

use crate::error::CoreError;
use crate::store::db::{Db, now_ms};
use crate::store::group::{GroupWriter, Linger};
use crate::store::inbound;

/// Most notifications in one write (Cloud's are small: a few kB each).
const MAX_BATCH: usize = 128;

#[derive(Clone)]
enum Failure {
    /// The database could not be used (an outage).
    Unavailable(String),
    Other(String),
}

#[derive(Clone)]
pub struct Receipts {
    writer: GroupWriter<Vec<u8>, Result<String, Failure>>,
}

impl Receipts {
    /// Starts the writer task on `db`; it ends when every `Receipts` is gone.
    pub fn start(db: Db) -> Receipts {
        let writer = GroupWriter::start("Cloud webhook", MAX_BATCH, Linger::NONE, move |bodies: Vec<Vec<u8>>| {
            let db = db.clone();
            async move {
                let n = bodies.len();
                match db.run(move |conn| Ok(inbound::insert_events(conn, &bodies, now_ms())?)).await {
                    Ok(ids) => ids.into_iter().map(Ok).collect(),
                    Err(e) if e.is_unavailable() => vec![Err(Failure::Unavailable(e.to_string())); n],
                    Err(e) => {
                        tracing::error!(error = %e, "storing Cloud webhooks failed");
                        vec![Err(Failure::Other(e.to_string())); n]
                    }
                }
            }
        });
        Receipts { writer }
    }

    /// Stores a notification; returns its id once it is committed.
    pub async fn store(&self, body: Vec<u8>) -> Result<String, CoreError> {
        match self.writer.submit(body).await? {
            Ok(id) => Ok(id),
            Err(Failure::Unavailable(text)) => Err(CoreError::Unavailable(text)),
            Err(Failure::Other(text)) => {
                Err(CoreError::Internal(anyhow::anyhow!("storing the Cloud webhook failed: {text}")))
            }
        }
    }
}

//! Group commit for accepted messages. Every accepted message must be
//! committed before its `201`; one INSERT and one commit each made the
//! database the bottleneck under load. One task stores them instead: it
//! takes every request that queued while its previous write ran and stores
//! them with one multi-row INSERT in one commit. At low load a request is
//! written at once, alone; under load, requests share writes.
//!
//! A message's id is chosen by the caller, so a send whose answer was lost
//! can be made again through any coreapp. When a write meets an id already
//! stored, its rows are written one by one: a row equal to the stored one
//! is that same message again ([`Stored::Replayed`]); a different message
//! under a stored id is refused.

use wire::{ApiError, ErrorCode};

use crate::error::CoreError;
use crate::store::db::Db;
use crate::store::group::{GroupWriter, Linger};
use crate::store::outbound::{self, NewOutbound};

/// Most messages in one write.
const MAX_BATCH: usize = 256;

/// A write of fewer than this many messages waits up to [`LINGER`] for
/// more, after a write that held more than one.
const LINGER_BELOW: usize = 16;
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

/// What storing a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// It is stored now.
    New,
    /// The same message was stored before, under the same id: a send made
    /// again after its answer was lost. Nothing was written.
    Replayed,
}

/// Why a write failed, for every request that shared it.
#[derive(Clone)]
enum Failure {
    /// The database could not be used (an outage): the requests get the
    /// database error, not an internal one.
    Unavailable(String),
    /// Another message is stored under this id.
    Conflict(String),
    Other(String),
}

#[derive(Clone)]
pub struct Acceptor {
    writer: GroupWriter<NewOutbound, Result<Stored, Failure>>,
}

impl Acceptor {
    /// Starts the writer task on `db`; it ends when every `Acceptor` is gone.
    pub fn start(db: Db) -> Acceptor {
        let writer = GroupWriter::start(
            "message",
            MAX_BATCH,
            Linger { below: LINGER_BELOW, wait: LINGER, when_shared: true },
            move |rows| {
                let db = db.clone();
                async move { write(&db, rows).await }
            },
        );
        Acceptor { writer }
    }

    /// Stores a message; returns once it is committed.
    pub async fn store(&self, row: NewOutbound) -> Result<Stored, CoreError> {
        match self.writer.submit(row).await? {
            Ok(stored) => Ok(stored),
            Err(Failure::Unavailable(text)) => Err(CoreError::Unavailable(text)),
            Err(Failure::Conflict(id)) => {
                Err(ApiError::new(ErrorCode::AlreadyExists, format!("Another message has the id {id}")).into())
            }
            Err(Failure::Other(text)) => {
                Err(CoreError::Internal(anyhow::anyhow!("storing the message failed: {text}")))
            }
        }
    }
}

/// One multi-row INSERT for the batch; row by row when it met a stored id.
async fn write(db: &Db, rows: Vec<NewOutbound>) -> Vec<Result<Stored, Failure>> {
    let rows = std::sync::Arc::new(rows);
    let all = rows.clone();
    let written = db.run(move |conn| Ok(outbound::insert_many(conn, &all)?)).await;
    match written {
        Ok(_) => vec![Ok(Stored::New); rows.len()],
        Err(CoreError::Db(e)) if crate::store::is_unique_violation(&e) => one_by_one(db, rows).await,
        Err(e) => vec![Err(failure(&e)); rows.len()],
    }
}

/// Writes each row alone, after a batch met an id already stored.
async fn one_by_one(db: &Db, rows: std::sync::Arc<Vec<NewOutbound>>) -> Vec<Result<Stored, Failure>> {
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in rows.iter().cloned() {
        let outcome = db
            .run(move |conn| match outbound::insert_many(conn, std::slice::from_ref(&row)) {
                Ok(_) => Ok(Ok(Stored::New)),
                Err(e) if crate::store::is_unique_violation(&e) => {
                    let stored = outbound::load(conn, std::slice::from_ref(&row.id))?;
                    let same = stored.first().is_some_and(|s| s.recipient == row.recipient && s.payload == row.payload);
                    Ok(if same { Ok(Stored::Replayed) } else { Err(Failure::Conflict(row.id)) })
                }
                Err(e) => Err(e.into()),
            })
            .await;
        outcomes.push(outcome.unwrap_or_else(|e| Err(failure(&e))));
    }
    outcomes
}

fn failure(e: &CoreError) -> Failure {
    if e.is_unavailable() {
        // An outage is logged once, where it is found.
        return Failure::Unavailable(e.to_string());
    }
    tracing::error!(error = %e, "storing accepted messages failed");
    Failure::Other(e.to_string())
}

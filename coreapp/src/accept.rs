//! Group commit for accepted messages. Every accepted message must be
//! committed before its `201`; one INSERT and one commit each made the
//! database the bottleneck under load. One task stores them instead: it
//! takes every request that queued while its previous write ran and stores
//! them with one multi-row INSERT in one commit. At low load a request is
//! written at once, alone; under load, requests share writes.

use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::error::CoreError;
use crate::store::outbound::{self, NewOutbound};

/// Most messages in one write.
const MAX_BATCH: usize = 256;

/// Why a write failed, for every request that shared it.
#[derive(Clone)]
struct Failure {
    /// The database could not be used (an outage): the requests get the
    /// database error, not an internal one.
    unavailable: bool,
    text: String,
}

type Request = (NewOutbound, oneshot::Sender<Result<(), Failure>>);

#[derive(Clone)]
pub struct Acceptor {
    tx: mpsc::Sender<Request>,
}

impl Acceptor {
    /// Starts the writer task on `db`; it ends when every `Acceptor` is gone.
    pub fn start(db: Db) -> Acceptor {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(write_loop(db, rx));
        Acceptor { tx }
    }

    /// Stores a message; returns once it is committed.
    pub async fn store(&self, row: NewOutbound) -> Result<(), CoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((row, done))
            .await
            .map_err(|_| CoreError::Internal(anyhow::anyhow!("the message writer has stopped")))?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Failure { unavailable: true, text })) => Err(CoreError::Unavailable(text)),
            Ok(Err(Failure { text, .. })) => {
                Err(CoreError::Internal(anyhow::anyhow!("storing the message failed: {text}")))
            }
            Err(_) => Err(CoreError::Internal(anyhow::anyhow!("the message writer has stopped"))),
        }
    }
}

async fn write_loop(db: Db, mut rx: mpsc::Receiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let (rows, waiters): (Vec<NewOutbound>, Vec<_>) = batch.into_iter().unzip();
        let result = db.run(move |conn| Ok(outbound::insert_many(conn, &rows)?)).await;
        let outcome = result.map(drop).map_err(|e| {
            let unavailable = e.is_unavailable();
            // An outage is logged once, where it is found.
            if !unavailable {
                tracing::error!(error = %e, "storing accepted messages failed");
            }
            Failure { unavailable, text: e.to_string() }
        });
        for w in waiters {
            let _ = w.send(outcome.clone());
        }
    }
}

//! Group commit for the record of sends Cloud accepted. A send is recorded
//! before the sender lets go of it (else a crash would send it again), and
//! one UPDATE and one commit per message made that record a large share of
//! the database's work. One task records them instead, as `accept` stores
//! accepted messages: it takes every record that queued while its previous
//! write ran and writes them in one transaction, with one statement for the
//! messages and one for the users Cloud named. A record that finds the
//! writer idle waits a few milliseconds for company (see `LINGER`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wire::identity::UserFacts;

use crate::error::CoreError;
use crate::store::db::{Db, now_ms, transaction};
use crate::store::group::{GroupWriter, Linger};
use crate::store::outbound::{self, Sent};
use crate::store::whatsapp_users;

/// Most records in one write.
const MAX_BATCH: usize = 256;
/// A write of fewer records than this waits up to [`LINGER`] for more:
/// sends complete one by one, and without it a write held about two.
/// Nobody waits on the record but the sender's batch (the business had its
/// answer when the message was accepted).
const LINGER_BELOW: usize = 16;
const LINGER: Duration = Duration::from_millis(5);

/// A send Cloud accepted, and the user its answer named.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub sent: Sent,
    pub user: Option<UserFacts>,
}

#[derive(Clone)]
pub struct SentRecorder {
    writer: GroupWriter<Accepted, Result<bool, String>>,
}

impl SentRecorder {
    /// Starts the writer task for claims held as `owner`; it waits for the
    /// database through an outage for up to `patience` (the claims' lease),
    /// and ends when every `SentRecorder` is gone.
    pub fn start(db: Db, owner: String, patience: Duration) -> SentRecorder {
        let linger = Linger { below: LINGER_BELOW, wait: LINGER, when_shared: false };
        let writer = GroupWriter::start("sent-message", MAX_BATCH, linger, move |records: Vec<Accepted>| {
            let (db, owner) = (db.clone(), owner.clone());
            async move {
                let n = records.len();
                let records = Arc::new(records);
                let all = records.clone();
                let written =
                    db.run_patiently(patience, move |conn| transaction(conn, |conn| write(conn, &owner, &all))).await;
                match written {
                    Ok(kept) => kept.into_iter().map(Ok).collect(),
                    Err(e) => {
                        tracing::error!(error = %e, sends = n, "recording sends Cloud accepted failed");
                        vec![Err(e.to_string()); n]
                    }
                }
            }
        });
        SentRecorder { writer }
    }

    /// Records a send; returns once it is committed: true when recorded,
    /// false when the claim had lapsed (another node owns the message now,
    /// and what it does wins).
    pub async fn record(&self, accepted: Accepted) -> Result<bool, CoreError> {
        self.writer
            .submit(accepted)
            .await?
            .map_err(|text| CoreError::Internal(anyhow::anyhow!("recording sends failed: {text}")))
    }
}

/// The users, then the messages; which records were kept, in order.
fn write(
    conn: &mut crate::store::db::AnyConnection,
    owner: &str,
    records: &[Accepted],
) -> Result<Vec<bool>, CoreError> {
    let now = now_ms();
    // One row per BSUID; a later record's phone wins, as it would have
    // written one by one.
    let mut users: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    for user in records.iter().filter_map(|r| r.user.as_ref()) {
        if let Some(bsuid) = &user.bsuid {
            let entry = users.entry(bsuid.as_str()).or_default();
            if user.phone.is_some() {
                *entry = user.phone.as_deref();
            }
        }
    }
    let users: Vec<(&str, Option<&str>)> = users.into_iter().collect();
    whatsapp_users::insert_many_if_new(conn, &users, now)?;
    let sent: Vec<Sent> = records.iter().map(|r| r.sent.clone()).collect();
    let recorded = outbound::mark_sent_many(conn, owner, &sent, now)?;
    if recorded == sent.len() {
        return Ok(vec![true; sent.len()]);
    }
    // Some claims lapsed: a record stands where its wamid was written.
    let ids: Vec<String> = sent.iter().map(|s| s.id.clone()).collect();
    let wamids = outbound::wamids_of(conn, &ids)?;
    Ok(sent.iter().map(|s| wamids.get(&s.id) == Some(&s.wamid)).collect())
}

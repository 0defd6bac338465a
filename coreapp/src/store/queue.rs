//! The work queues (outbound sends, inbound Cloud webhooks, the business
//! webhook outbox, inbound media downloads) are tables sharing the same claim columns: `state`,
//! `attempts`, `next_attempt_at`, `lease_owner`, `lease_until`, `last_error`.
//!
//! A node claims due rows by writing its name and a lease deadline; it alone
//! works on them until it settles them or the lease lapses (a dead node's
//! work is then claimed by another). MySQL claims with
//! `FOR UPDATE SKIP LOCKED`, so nodes never block each other; SQLite (one
//! writer by construction) claims in a single `UPDATE ... RETURNING`.

use std::sync::atomic::{AtomicBool, Ordering};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::error::CoreError;
use crate::store::db::prepared::{Prepared, marks, padded};
use crate::store::db::{AnyConnection, transaction};

/// Where a queued row is in its life: its `state` column. Strings stay
/// inside the store; everything above it speaks of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Still to do (or to retry, from `next_attempt_at`).
    Pending,
    /// An outbound message Cloud accepted; its statuses come later.
    Sent,
    /// Finished, kept for a while.
    Done,
    /// Given up for good.
    Failed,
}

impl State {
    pub const ALL: [State; 4] = [State::Pending, State::Sent, State::Done, State::Failed];

    /// The column's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Sent => "sent",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// The column value of [`State::Pending`], for SQL written by hand.
const PENDING: &str = State::Pending.as_str();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Outbound,
    Inbound,
    Outbox,
    MediaDownload,
}

impl Queue {
    fn table(self) -> &'static str {
        match self {
            Queue::Outbound => "outbound_messages",
            Queue::Inbound => "inbound_events",
            Queue::Outbox => "webhook_outbox",
            Queue::MediaDownload => "media_downloads",
        }
    }

    /// The index that holds pending rows in [`Queue::order`]. A claim reads
    /// through it by name: left to choose, MariaDB and SQLite both take the
    /// `(state, next_attempt_at)` index and sort every due row to hand out
    /// the first few, which grows with the backlog (a 90,000-row intake
    /// backlog made each claim take 460 ms, against 8 ms through this one,
    /// and the queue fell further behind the longer it lasted). On MySQL
    /// the sort also kept every due row locked until the claim committed,
    /// so the other nodes' claims skipped the whole backlog.
    fn claim_index(self) -> &'static str {
        match self {
            Queue::Outbound => "outbound_messages_claim",
            Queue::Inbound => "inbound_events_claim",
            Queue::Outbox => "webhook_outbox_claim",
            Queue::MediaDownload => "media_downloads_claim",
        }
    }

    /// Outbound ids are random; the other two tables have time-ordered ids.
    fn order(self) -> &'static str {
        match self {
            Queue::Outbound => "q.created_at, q.id",
            Queue::Inbound | Queue::Outbox | Queue::MediaDownload => "q.id",
        }
    }

    /// One contact's webhook events, and one recipient's messages, go out in
    /// order: only the oldest pending row of a contact (recipient) may be
    /// claimed, so a later one waits for an earlier one that is failing or
    /// held back (Cloud's pair rate limit).
    ///
    /// Each check reads through the contact's (recipient's) index, named
    /// for the reason given at [`Queue::claim_index`].
    fn head_of_line(self, use_index: impl Fn(&str) -> String) -> String {
        match self {
            Queue::Outbound => format!(
                " AND NOT EXISTS (SELECT 1 FROM outbound_messages e{} \
                 WHERE e.recipient = q.recipient AND e.state = 'pending' \
                 AND (e.created_at < q.created_at OR (e.created_at = q.created_at AND e.id < q.id)))",
                use_index("outbound_messages_recipient")
            ),
            Queue::Outbox => format!(
                " AND NOT EXISTS (SELECT 1 FROM webhook_outbox e{} \
                 WHERE e.contact = q.contact AND e.state = 'pending' AND e.id < q.id)",
                use_index("webhook_outbox_contact")
            ),
            Queue::Inbound | Queue::MediaDownload => String::new(),
        }
    }
}

/// The clause that makes a query read `table` through `index`, in each
/// engine's words.
fn use_index(conn: &AnyConnection, index: &str) -> String {
    match conn {
        AnyConnection::Mysql(_) => format!(" FORCE INDEX ({index})"),
        AnyConnection::Sqlite(_) => format!(" INDEXED BY {index}"),
        // No hints: its planner reads these through their index.
        AnyConnection::Pg(_) => String::new(),
    }
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Claims up to `limit` due rows for `owner` until `now + lease_ms`.
pub fn claim(
    conn: &mut AnyConnection,
    queue: Queue,
    owner: &str,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<String>, CoreError> {
    let (t, order) = (queue.table(), queue.order());
    let claim_index = use_index(conn, queue.claim_index());
    let due = format!(
        "q.state = '{PENDING}' AND q.next_attempt_at <= ? AND (q.lease_until IS NULL OR q.lease_until < ?){}",
        queue.head_of_line(|index| use_index(conn, index))
    );
    if let AnyConnection::Sqlite(_) = conn {
        let sql = format!(
            "UPDATE {t} SET lease_owner = ?, lease_until = ? WHERE id IN \
             (SELECT q.id FROM {t} q{claim_index} WHERE {due} ORDER BY {order} LIMIT ?) RETURNING id"
        );
        let rows: Vec<IdRow> = diesel::sql_query(sql)
            .bind::<Text, _>(owner)
            .bind::<BigInt, _>(now + lease_ms)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(limit)
            .load(conn)?;
        return Ok(rows.into_iter().map(|r| r.id).collect());
    }
    // Most claims find nothing (a queue just emptied, a poll of an idle
    // one): a plain read says so in one statement, where the claim's
    // transaction takes three. Right after a claim that found work, the
    // next is likely to find more, and goes straight to its transaction.
    let found_last = &FOUND_LAST[queue as usize];
    if !found_last.load(Ordering::Relaxed) {
        let probe = format!("SELECT q.id FROM {t} q WHERE {due} LIMIT 1");
        if Prepared::new(probe).big_int(now).big_int(now).load::<IdRow>(conn)?.is_empty() {
            return Ok(Vec::new());
        }
    }
    let ids = transaction(conn, |conn| {
        if let AnyConnection::Pg(_) = conn {
            // PostgreSQL takes no index hints. Its planner, going by
            // statistics gathered while the queue was short (they lag a
            // backlog that builds in seconds), fetched every due row
            // through the other index and sorted them to hand out the
            // first few, and marked the claimed rows through a scan of the
            // table: 20,000 rows read per claim at 20,000 waiting. Without
            // sorts, bitmaps and sequential scans for this transaction,
            // the claim walks its index in order and the update finds its
            // rows by key, whatever the statistics.
            conn.batch_execute(
                "SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off",
            )?;
        }
        let sql =
            format!("SELECT q.id FROM {t} q{claim_index} WHERE {due} ORDER BY {order} LIMIT ? FOR UPDATE SKIP LOCKED");
        let rows: Vec<IdRow> = Prepared::new(sql).big_int(now).big_int(now).big_int(limit).load(conn)?;
        let ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
        if ids.is_empty() {
            return Ok(ids);
        }
        let list = padded(&ids);
        let sql = format!("UPDATE {t} SET lease_owner = ?, lease_until = ? WHERE id IN ({})", marks(list.len()));
        Prepared::new(sql).text(owner).big_int(now + lease_ms).texts(list).execute(conn)?;
        Ok(ids)
    })?;
    found_last.store(!ids.is_empty(), Ordering::Relaxed);
    Ok(ids)
}

/// Per queue, whether this process's last claim found work (a hint for
/// the next claim, see [`claim`]).
static FOUND_LAST: [AtomicBool; 4] = [const { AtomicBool::new(false) }; 4];

/// Extends `owner`'s claim on a row (work that outlasts one lease, such as
/// a large media transfer). Returns false when the claim was lost.
pub fn renew(conn: &mut AnyConnection, queue: Queue, id: &str, owner: &str, until: i64) -> QueryResult<bool> {
    let sql = format!("UPDATE {} SET lease_until = ? WHERE id = ? AND lease_owner = ?", queue.table());
    let n = Prepared::new(sql).big_int(until).text(id).text(owner).execute(conn)?;
    Ok(n == 1)
}

/// How a claimed row ends this attempt.
#[derive(Debug, Clone)]
pub struct Settle {
    pub state: State,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

/// Writes the outcome of an attempt and releases the claim. Returns false
/// when `owner` no longer held the row (its lease lapsed and another node
/// took it): the caller's result is then discarded.
pub fn settle(conn: &mut AnyConnection, queue: Queue, id: &str, owner: &str, s: &Settle) -> QueryResult<bool> {
    let sql = format!(
        "UPDATE {} SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, \
         lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
        queue.table()
    );
    let n = Prepared::new(sql)
        .text(s.state.as_str())
        .integer(s.attempts)
        .big_int(s.next_attempt_at)
        .nullable_text(s.last_error.as_deref())
        .text(id)
        .text(owner)
        .execute(conn)?;
    Ok(n == 1)
}

/// Removes finished rows held by `owner` in one statement (a delivered
/// webhook event, a handled Cloud webhook), as the old client dropped a
/// callback once acknowledged. Returns how many it removed: fewer than
/// asked means some claims lapsed.
pub fn finish_many(conn: &mut AnyConnection, queue: Queue, ids: &[String], owner: &str) -> QueryResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let list = padded(ids);
    let sql = format!("DELETE FROM {} WHERE lease_owner = ? AND id IN ({})", queue.table(), marks(list.len()));
    Prepared::new(sql).text(owner).texts(list).execute(conn)
}

/// Releases every claim held under this node's name (`<node>/<instance>`)
/// by an earlier run of the same node, so work a crashed process held is
/// resumed at once on restart instead of after the lease.
pub fn release_node(conn: &mut AnyConnection, queue: Queue, node_prefix: &str) -> QueryResult<usize> {
    let sql = format!(
        "UPDATE {} SET lease_owner = NULL, lease_until = NULL WHERE state = '{PENDING}' AND lease_owner LIKE ?",
        queue.table()
    );
    let pattern = format!("{}/%", node_prefix.replace('%', "\\%").replace('_', "\\_"));
    Prepared::new(sql).text(&pattern).execute(conn)
}

/// Releases every claim `owner` still holds (a node stopping while work
/// was in hand), so other nodes take it at once rather than after the lease.
pub fn release_owner(conn: &mut AnyConnection, queue: Queue, owner: &str) -> QueryResult<usize> {
    let sql = format!("UPDATE {} SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", queue.table());
    Prepared::new(sql).text(owner).execute(conn)
}

/// Rows still to do, for health and metrics.
pub fn depth(conn: &mut AnyConnection, queue: Queue) -> QueryResult<i64> {
    count_in_state(conn, queue, State::Pending)
}

/// Rows in a given state (benchmarks and metrics).
pub fn count_in_state(conn: &mut AnyConnection, queue: Queue, state: State) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let sql = format!("SELECT COUNT(*) AS n FROM {} WHERE state = ?", queue.table());
    let rows: Vec<Count> = Prepared::new(sql).text(state.as_str()).load(conn)?;
    Ok(rows.first().map(|c| c.n).unwrap_or(0))
}

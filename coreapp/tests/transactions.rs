//! `store::db::transaction` on both engines: work commits when the closure
//! succeeds and is undone when it fails or panics, a nested transaction is
//! part of the one around it, and on MySQL a transaction and a claim cost
//! one round trip per statement: the statements stay prepared (counted by
//! the server, per session, not timed).

use std::collections::HashMap;

use coreapp::config::DbConfig;
use coreapp::error::CoreError;
use coreapp::store::db::{AnyConnection, Db, migrate, now_ms, transaction};
use coreapp::store::outbound;
use coreapp::store::queue::{self, Queue};
use coreapp::testing::TestEngine;
use diesel::prelude::*;
use diesel::sql_types::Text;

struct TestDb {
    db: Db,
    config: DbConfig,
    _dir: tempfile::TempDir,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = coreapp::store::db::drop_server_database(&self.config);
    }
}

fn open(engine: TestEngine) -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let config = coreapp::testing::config(engine, dir.path(), "t.db");
    migrate(&config).expect("migrations (is MariaDB running on 127.0.0.1:3306?)");
    let db = Db::connect(&config, 2).unwrap();
    TestDb { db, config, _dir: dir }
}

fn insert(c: &mut AnyConnection, id: &str) -> Result<(), CoreError> {
    outbound::insert(c, id, "15550000001", "{}", now_ms(), None)?;
    Ok(())
}

async fn stored(db: &Db, ids: &[&str]) -> Vec<String> {
    let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    let mut found: Vec<String> =
        db.run(move |c| Ok(outbound::load(c, &ids)?)).await.unwrap().into_iter().map(|m| m.id).collect();
    found.sort();
    found
}

async fn commits_and_undoes(engine: TestEngine) {
    let t = open(engine);
    t.db.run(|c| transaction(c, |c| insert(c, "kept"))).await.unwrap();

    let failed = t.db.run(|c| {
        transaction(c, |c| -> Result<(), CoreError> {
            insert(c, "undone")?;
            Err(CoreError::Internal(anyhow::anyhow!("the caller changed its mind")))
        })
    });
    assert!(failed.await.is_err());

    // A failure inside a nested transaction fails the one around it, and
    // nothing of either stays.
    let nested = t.db.run(|c| {
        transaction(c, |c| {
            insert(c, "outer")?;
            transaction(c, |c| -> Result<(), CoreError> {
                insert(c, "inner")?;
                // The same id again: the database refuses it.
                insert(c, "inner")
            })
        })
    });
    assert!(nested.await.is_err());

    // A closure that panics: the task fails, its work is undone, and the
    // pool goes on with a good connection.
    let panicked = t.db.run(|c| -> Result<(), CoreError> {
        transaction(c, |c| {
            insert(c, "panicked")?;
            panic!("a bug in the middle of a transaction");
        })
    });
    assert!(panicked.await.is_err());

    let nested_ok = t.db.run(|c| {
        transaction(c, |c| {
            insert(c, "outer-ok")?;
            transaction(c, |c| insert(c, "inner-ok"))
        })
    });
    nested_ok.await.unwrap();

    assert_eq!(
        stored(&t.db, &["kept", "undone", "outer", "inner", "panicked", "outer-ok", "inner-ok"]).await,
        vec!["inner-ok", "kept", "outer-ok"]
    );
}

#[tokio::test]
async fn mysql_commits_and_undoes() {
    commits_and_undoes(TestEngine::Mysql).await;
}

#[tokio::test]
async fn pgsql_commits_and_undoes() {
    commits_and_undoes(TestEngine::Pgsql).await;
}

#[tokio::test]
async fn sqlite_commits_and_undoes() {
    commits_and_undoes(TestEngine::Sqlite).await;
}

#[derive(QueryableByName)]
struct StatusRow {
    #[diesel(sql_type = Text, column_name = "Variable_name")]
    name: String,
    #[diesel(sql_type = Text, column_name = "Value")]
    value: String,
}

/// This session's statement counters, as the server keeps them.
fn session_counters(c: &mut AnyConnection) -> Result<HashMap<String, i64>, CoreError> {
    let rows: Vec<StatusRow> = diesel::sql_query(
        "SHOW SESSION STATUS WHERE Variable_name IN \
         ('Com_set_option', 'Com_stmt_prepare', 'Com_stmt_close', 'Com_begin', 'Com_commit')",
    )
    .load(c)?;
    Ok(rows.into_iter().map(|r| (r.name, r.value.parse().unwrap_or(0))).collect())
}

#[tokio::test]
async fn mysql_transactions_and_claims_keep_their_statements_prepared() {
    let t = open(TestEngine::Mysql);
    const ROUNDS: i64 = 50;
    let (before, after) =
        t.db.run(|c| {
            let before = session_counters(c)?;
            for round in 0..ROUNDS {
                // A claim that finds something (so its UPDATE runs too) and
                // settles it, and a claim of an empty queue.
                let id = format!("msg-{round}");
                transaction(c, |c| insert(c, &id))?;
                let claimed = queue::claim(c, Queue::Outbound, "node/1", now_ms() + 1, 60_000, 8)?;
                assert_eq!(claimed, vec![id.clone()]);
                queue::finish_many(c, Queue::Outbound, &claimed, "node/1")?;
                assert!(queue::claim(c, Queue::Outbox, "node/1", now_ms(), 60_000, 8)?.is_empty());
            }
            let after = session_counters(c)?;
            Ok((before, after))
        })
        .await
        .unwrap();
    let delta = |name: &str| after[name] - before[name];
    // Two transactions a round (the insert, the claim that finds work),
    // each one BEGIN and one COMMIT; the claim of the empty queue reads
    // without one.
    assert_eq!(delta("Com_begin"), 2 * ROUNDS);
    assert_eq!(delta("Com_commit"), 2 * ROUNDS);
    // No statement wrapped in switching multi-statements on and off.
    assert_eq!(delta("Com_set_option"), 0);
    // Each statement is prepared once for the session, not once a call:
    // BEGIN, COMMIT, the insert, two claims' probes, one claim's SELECT,
    // its UPDATE, the DELETE, and the status query read at the end.
    let prepared = delta("Com_stmt_prepare");
    assert!(prepared <= 12, "{prepared} statements prepared for {ROUNDS} rounds of 10 statements");
}

//! Transactions, with one round trip per `BEGIN` and per `COMMIT` on MySQL.
//!
//! diesel's transaction manager sends `BEGIN` and `COMMIT` as a batch, and
//! on MySQL every batch is wrapped in two `COM_SET_OPTION` calls (multiple
//! statements switched on, then off): three round trips each, six per
//! transaction, and most of a message's trips to the database. Here they
//! are fixed statements with a static query id instead, which diesel keeps
//! prepared on the connection: one round trip each.
//!
//! Nested transactions on MySQL join the one in progress on the same
//! connection (no savepoints): an inner failure fails the whole
//! transaction, which every caller propagates anyway. SQLite and
//! PostgreSQL keep diesel's manager (their batches cost nothing extra: one
//! round trip each).

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use diesel::mysql::Mysql;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};

use super::AnyConnection;
use crate::error::CoreError;

/// A statement whose text never changes and takes no parameters.
macro_rules! fixed_statement {
    ($name:ident, $sql:literal) => {
        #[derive(Debug, Clone, Copy, QueryId)]
        struct $name;

        impl QueryFragment<Mysql> for $name {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Mysql>) -> QueryResult<()> {
                out.push_sql($sql);
                Ok(())
            }
        }

        impl RunQueryDsl<MysqlConnection> for $name {}
    };
}

fixed_statement!(Begin, "BEGIN");
fixed_statement!(Commit, "COMMIT");
fixed_statement!(Rollback, "ROLLBACK");

thread_local! {
    /// The MySQL connections (by address) with a transaction of ours open
    /// on this thread. A connection is used by one thread at a time, for
    /// the whole of a blocking closure.
    static OPEN: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Marks a connection as in a transaction until dropped (also when the
/// closure panics).
struct Open(usize);

impl Open {
    fn enter(key: usize) -> Option<Open> {
        OPEN.with(|open| {
            let mut open = open.borrow_mut();
            if open.contains(&key) {
                return None;
            }
            open.push(key);
            Some(Open(key))
        })
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        OPEN.with(|open| open.borrow_mut().retain(|k| *k != self.0));
    }
}

/// Runs `f` in a transaction: committed when it returns `Ok`, rolled back
/// when it returns `Err` or panics.
pub fn transaction<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, CoreError>,
) -> Result<T, CoreError> {
    let key = match conn {
        AnyConnection::Sqlite(_) | AnyConnection::Pg(_) => return conn.transaction(f),
        AnyConnection::Mysql(c) => std::ptr::from_mut(c) as usize,
    };
    let Some(_open) = Open::enter(key) else {
        // Inside a transaction already: this work is part of it.
        return f(conn);
    };
    Begin.execute(mysql(conn)?)?;
    let outcome = catch_unwind(AssertUnwindSafe(|| f(&mut *conn)));
    let c = mysql(conn)?;
    match outcome {
        Ok(Ok(value)) => match Commit.execute(c) {
            Ok(_) => Ok(value),
            // Whether the commit took is unknown when the connection went:
            // a failed rollback says so, and the connection is then
            // dropped (see `connection_fault`).
            Err(commit_error) => match Rollback.execute(c) {
                Ok(_) => Err(commit_error.into()),
                Err(rollback_error) => Err(diesel::result::Error::RollbackErrorOnCommit {
                    commit_error: Box::new(commit_error),
                    rollback_error: Box::new(rollback_error),
                }
                .into()),
            },
        },
        Ok(Err(e)) => match Rollback.execute(c) {
            Ok(_) => Err(e),
            Err(_) if e.is_unavailable() => Err(e),
            Err(rollback_error) => {
                // The transaction may still be open on a connection that
                // answers: it must not go back to the pool.
                tracing::warn!(error = %e, %rollback_error, "rollback failed; the connection is dropped");
                Err(diesel::result::Error::BrokenTransactionManager.into())
            }
        },
        Err(panic) => {
            // The pool drops a connection handed back while panicking,
            // which ends the transaction too; rolling back first frees its
            // locks at once.
            let _ = Rollback.execute(c);
            resume_unwind(panic)
        }
    }
}

/// The MySQL connection inside (the caller matched it already).
fn mysql(conn: &mut AnyConnection) -> Result<&mut MysqlConnection, CoreError> {
    match conn {
        AnyConnection::Mysql(c) => Ok(c),
        _ => Err(CoreError::Internal(anyhow::anyhow!("not a MySQL connection"))),
    }
}

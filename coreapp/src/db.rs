//! The database: one connection type over MySQL/MariaDB and SQLite, an r2d2
//! pool, the one helper that crosses from async into blocking work, and the
//! embedded migrations.
//!
//! SQLite is the embedded single-host default: its pool holds a single
//! connection, so writers never contend for the file lock (WAL mode,
//! `synchronous=FULL`: an accepted message survives a power cut).

use std::time::Duration;

use anyhow::{Context, bail};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tracing::Instrument;

use crate::config::DbConfig;
use crate::error::CoreError;

/// The schema, per engine (`migrations/`), embedded in the binary.
pub const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/mysql");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// A connection to whichever engine is configured.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Mysql(diesel::MysqlConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Mysql,
    Sqlite,
}

/// The pool, cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager<AnyConnection>>,
    engine: Engine,
}

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut AnyConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// MySQL sessions run at READ COMMITTED. At MySQL's default (REPEATABLE
/// READ) a claim's `SELECT ... FOR UPDATE SKIP LOCKED` also locks the gaps
/// of the range it scans, which blocks every insert of new work into that
/// range (new messages, new Cloud webhooks) until the claim commits; under
/// load inserts then queued behind claims until the pool timed out.
#[derive(Debug)]
struct MysqlSession;

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for MysqlSession {
    fn on_acquire(&self, conn: &mut AnyConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .map_err(diesel::r2d2::Error::QueryError)?;
        // A coreapp cut off the network in the middle of a transaction
        // leaves it open on the server, holding its row locks, until the
        // server notices the connection is dead (hours, by default), and
        // every other node waits on those locks. Our transactions never
        // wait on anything but the database, so MariaDB may end one that
        // sits idle for 10 s. MySQL has no such setting (the statement
        // fails there and is skipped): see the README.
        let _ = conn.batch_execute(&format!("SET SESSION idle_transaction_timeout = {IDLE_TRANSACTION_TIMEOUT_S}"));
        Ok(())
    }
}

/// How long MariaDB lets a transaction of ours sit idle before ending it.
const IDLE_TRANSACTION_TIMEOUT_S: u32 = 10;

impl Db {
    /// Opens the pool on an existing, migrated database. Refuses to start on
    /// a database that is missing migrations or carries newer ones.
    pub fn connect(config: &DbConfig, pool_size: u32) -> anyhow::Result<Db> {
        let (url, engine) = match config {
            DbConfig::Sqlite { path } => {
                if !path.exists() {
                    bail!("SQLite database {} does not exist: run `coreapp migrate` first", path.display());
                }
                (path.display().to_string(), Engine::Sqlite)
            }
            DbConfig::Mysql { .. } => (mysql_url(config, true)?, Engine::Mysql),
        };
        // No `SELECT 1` on every checkout: that doubled the statements of
        // small operations. A connection that broke is found on use and
        // discarded by r2d2 (`has_broken`).
        let builder = Pool::builder().connection_timeout(Duration::from_secs(10)).test_on_check_out(false);
        let builder = match engine {
            Engine::Sqlite => builder.max_size(1).connection_customizer(Box::new(SqlitePragmas)),
            Engine::Mysql => builder.max_size(pool_size.max(2)).connection_customizer(Box::new(MysqlSession)),
        };
        let pool = builder
            .build(ConnectionManager::<AnyConnection>::new(url))
            .with_context(|| format!("cannot connect to the database ({})", config.describe()))?;
        let db = Db { pool, engine };
        let mut conn = db.pool.get()?;
        check_schema(&mut conn)?;
        Ok(db)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Runs blocking database work on the blocking pool, in the caller's
    /// span. The connection never lives across an `.await`.
    pub async fn run<T, F>(&self, f: F) -> Result<T, CoreError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, CoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .in_current_span()
        .await
        .map_err(|e| CoreError::Internal(anyhow::anyhow!("database task failed: {e}")))?
    }

    /// Connections in use and idle, for health and metrics.
    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections - s.idle_connections, s.idle_connections)
    }
}

/// `coreapp migrate`: creates the database if it is missing and applies the
/// embedded migrations. Safe to run from several nodes at once on MySQL (a
/// named lock serialises them); idempotent.
pub fn migrate(config: &DbConfig) -> anyhow::Result<Vec<String>> {
    match config {
        DbConfig::Sqlite { path } => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let mut conn = diesel::SqliteConnection::establish(&path.display().to_string())
                .with_context(|| format!("cannot open SQLite database {}", path.display()))?;
            conn.batch_execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000;")?;
            let applied =
                conn.run_pending_migrations(SQLITE_MIGRATIONS).map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
            Ok(applied.iter().map(ToString::to_string).collect())
        }
        DbConfig::Mysql { name_prefix, .. } => {
            let name = DbConfig::mysql_database(name_prefix);
            let mut server = diesel::MysqlConnection::establish(&mysql_url(config, false)?)
                .with_context(|| format!("cannot connect to the MySQL server ({})", config.describe()))?;
            server.batch_execute(&format!(
                "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            ))?;
            let mut conn = diesel::MysqlConnection::establish(&mysql_url(config, true)?)?;
            conn.batch_execute("DO GET_LOCK('wa_onprem_migrate', 120)")?;
            let result = conn
                .run_pending_migrations(MYSQL_MIGRATIONS)
                .map(|v| v.iter().map(ToString::to_string).collect())
                .map_err(|e| anyhow::anyhow!("migration failed: {e}"));
            conn.batch_execute("DO RELEASE_LOCK('wa_onprem_migrate')")?;
            result
        }
    }
}

/// Drops the MySQL database of this configuration (tests clean up with it).
pub fn drop_mysql_database(config: &DbConfig) -> anyhow::Result<()> {
    if let DbConfig::Mysql { name_prefix, .. } = config {
        let mut server = diesel::MysqlConnection::establish(&mysql_url(config, false)?)?;
        server.batch_execute(&format!("DROP DATABASE IF EXISTS `{}`", DbConfig::mysql_database(name_prefix)))?;
    }
    Ok(())
}

fn check_schema(conn: &mut AnyConnection) -> anyhow::Result<()> {
    let (embedded, applied) = match conn {
        AnyConnection::Mysql(c) => (versions(&MYSQL_MIGRATIONS)?, applied(c)?),
        AnyConnection::Sqlite(c) => (versions(&SQLITE_MIGRATIONS)?, applied(c)?),
    };
    if let Some(newer) = applied.iter().find(|v| !embedded.contains(v)) {
        bail!(
            "the database schema has migration {newer}, which this coreapp does not know: it is newer than this binary"
        );
    }
    if let Some(missing) = embedded.iter().find(|v| !applied.contains(v)) {
        bail!("the database schema lacks migration {missing}: run `coreapp migrate` first");
    }
    Ok(())
}

fn versions(m: &EmbeddedMigrations) -> anyhow::Result<Vec<String>> {
    let list = diesel::migration::MigrationSource::<diesel::sqlite::Sqlite>::migrations(m)
        .map_err(|e| anyhow::anyhow!("embedded migrations are unreadable: {e}"))?;
    Ok(list.iter().map(|m| m.name().version().to_string()).collect())
}

fn applied<C, DB>(conn: &mut C) -> anyhow::Result<Vec<String>>
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB>,
{
    let v = conn
        .applied_migrations()
        .map_err(|e| anyhow::anyhow!("cannot read the migration table (run `coreapp migrate`): {e}"))?;
    Ok(v.iter().map(ToString::to_string).collect())
}

fn mysql_url(config: &DbConfig, with_database: bool) -> anyhow::Result<String> {
    let DbConfig::Mysql { host, port, username, password, name_prefix } = config else {
        bail!("not a MySQL configuration");
    };
    if !name_prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("WA_DB_NAME_PREFIX may only contain letters, digits and '_'");
    }
    let mut url =
        url::Url::parse(&format!("mysql://{host}:{port}/")).context("WA_DB_HOSTNAME is not a valid host name")?;
    url.set_username(username).map_err(|_| anyhow::anyhow!("WA_DB_USERNAME cannot be used in a URL"))?;
    if !password.is_empty() {
        url.set_password(Some(password)).map_err(|_| anyhow::anyhow!("WA_DB_PASSWORD cannot be used in a URL"))?;
    }
    if with_database {
        url.set_path(&DbConfig::mysql_database(name_prefix));
    }
    Ok(url.to_string())
}

/// Milliseconds since the Unix epoch; every time column uses it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// A transaction whose closure may fail with any [`CoreError`].
pub fn transaction<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, CoreError>,
) -> Result<T, CoreError> {
    conn.transaction(f)
}

//! The database: one connection type over MySQL/MariaDB, PostgreSQL and
//! SQLite, an r2d2 pool, the one helper that crosses from async into blocking work, and the
//! embedded migrations.
//!
//! SQLite is the embedded single-host default: its pool holds a single
//! connection, so writers never contend for the file lock (WAL mode,
//! `synchronous=FULL`: an accepted message survives a power cut).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tracing::Instrument;

use crate::config::{DbConfig, ServerDb, SslMode};
use crate::error::CoreError;

mod availability;
mod mysql_tls;
pub mod prepared;
mod transaction;

pub use availability::Outage;
use availability::{Availability, Pass};
pub use transaction::transaction;

/// The schema, per engine (`migrations/`), embedded in the binary.
pub const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/mysql");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
pub const PGSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// A connection to whichever engine is configured.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Mysql(diesel::MysqlConnection),
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Mysql,
    Pgsql,
    Sqlite,
}

/// How long a request waits for a free connection while the database
/// answers (every connection busy under load).
const POOL_WAIT: Duration = Duration::from_secs(10);
/// How long the one request that probes a database that went away waits
/// for a new connection before the outage goes on.
const PROBE_WAIT: Duration = Duration::from_secs(2);
/// r2d2 retries a connection it could not make after a backoff that doubles
/// up to half of this: with 4 s, a database that came back is reconnected
/// within 2 s.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
/// Connections kept open while idle.
const MIN_IDLE: u32 = 2;
/// A connection idle longer than this is pinged before it is handed out:
/// the server may have dropped it (`wait_timeout`, a restart nobody
/// noticed) while no statement could tell.
const IDLE_CHECK: Duration = Duration::from_secs(30);

/// The pool, cheap to clone.
///
/// It hands out connections without testing them: a `SELECT 1` on every
/// checkout doubled the statements of small operations. Instead:
/// - a statement failing at the connection level (the server went away,
///   refused, shut down; for SQLite, a locked, read-only or full file)
///   marks its connection broken, so the pool drops it, and makes every
///   connection made before it suspect: each is pinged once on its next
///   checkout (dead ones are dropped, new ones made);
/// - the database is then taken as unavailable: calls fail at once with
///   [`CoreError::Unavailable`] (no pool wait per request), except one
///   probe at a time, spaced by a backoff from 100 ms to 2 s, whose
///   success ends the outage. New connections resolve the host name again,
///   so a failover that moves the name is followed;
/// - a connection idle for a while is pinged before use.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    engine: Engine,
    availability: Arc<Availability>,
    /// One per connection the pool may open: a call takes one before it
    /// takes a blocking thread, so callers beyond the pool wait as tasks,
    /// not as threads parked on the pool (each holds a stack and, under
    /// load, an allocator arena of its own).
    workers: Arc<tokio::sync::Semaphore>,
}

/// A pooled connection and what the pool knows about it.
pub struct PoolConn {
    conn: AnyConnection,
    /// A statement failed at the connection level: drop it on return.
    broken: bool,
    /// The availability generation this connection last answered in.
    generation: u64,
    /// When it was last handed back to the pool.
    returned: Instant,
}

/// Makes and checks connections for r2d2.
struct Manager {
    url: String,
    engine: Engine,
    availability: Arc<Availability>,
}

impl Manager {
    fn establish(&self) -> Result<AnyConnection, diesel::r2d2::Error> {
        // Each engine's own `establish`: the derived one tries every engine
        // in turn and keeps none of their errors.
        let made = match self.engine {
            Engine::Mysql => diesel::MysqlConnection::establish(&self.url).map(AnyConnection::Mysql),
            Engine::Pgsql => diesel::PgConnection::establish(&self.url).map(AnyConnection::Pg),
            Engine::Sqlite => diesel::SqliteConnection::establish(&self.url).map(AnyConnection::Sqlite),
        };
        let mut conn = made.map_err(diesel::r2d2::Error::ConnectionError)?;
        let setup = match self.engine {
            Engine::Sqlite => SQLITE_SESSION,
            Engine::Mysql => MYSQL_SESSION,
            Engine::Pgsql => PGSQL_SESSION,
        };
        conn.batch_execute(setup).map_err(diesel::r2d2::Error::QueryError)?;
        if self.engine == Engine::Mysql {
            // A coreapp cut off the network in the middle of a transaction
            // leaves it open on the server, holding its row locks, until
            // the server notices the connection is dead (hours, by
            // default), and every other node waits on those locks. Our
            // transactions never wait on anything but the database, so
            // MariaDB may end one that sits idle for 10 s. MySQL has no
            // such setting (the statement fails there and is skipped): see
            // the README.
            let _ = conn.batch_execute(&format!("SET SESSION idle_transaction_timeout = {IDLE_TRANSACTION_TIMEOUT_S}"));
        }
        Ok(conn)
    }
}

impl ManageConnection for Manager {
    type Connection = PoolConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PoolConn, Self::Error> {
        // Read before connecting: a failure seen while this connection was
        // being made leaves it suspect.
        let generation = self.availability.generation();
        match self.establish() {
            Ok(conn) => {
                self.availability.connected();
                Ok(PoolConn { conn, broken: false, generation, returned: Instant::now() })
            }
            Err(e) => {
                self.availability.connect_failed(&e.to_string());
                Err(e)
            }
        }
    }

    fn is_valid(&self, c: &mut PoolConn) -> Result<(), Self::Error> {
        let generation = self.availability.generation();
        if c.generation == generation && c.returned.elapsed() < IDLE_CHECK {
            return Ok(());
        }
        self.availability.checked();
        c.conn.ping().map_err(diesel::r2d2::Error::QueryError)?;
        c.generation = generation;
        Ok(())
    }

    fn has_broken(&self, c: &mut PoolConn) -> bool {
        c.returned = Instant::now();
        c.broken || std::thread::panicking() || c.conn.is_broken()
    }
}

/// Connection failures are the availability's to report (once per outage,
/// see [`Availability`]); r2d2 would log every retry.
#[derive(Debug)]
struct QuietErrors;

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for QuietErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::debug!(%error, "database connection attempt failed");
    }
}

/// SQLite: WAL, every commit synced, a 10 s wait on another process's lock.
const SQLITE_SESSION: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

/// MySQL sessions run at READ COMMITTED. At MySQL's default (REPEATABLE
/// READ) a claim's `SELECT ... FOR UPDATE SKIP LOCKED` also locks the gaps
/// of the range it scans, which blocks every insert of new work into that
/// range (new messages, new Cloud webhooks) until the claim commits; under
/// load inserts then queued behind claims until the pool timed out.
const MYSQL_SESSION: &str = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";

/// PostgreSQL sessions: READ COMMITTED is its default (a claim's `FOR
/// UPDATE SKIP LOCKED` locks the rows it returns and nothing else). A
/// coreapp cut off mid-transaction holds its row locks until the server
/// notices; the server ends a transaction of ours idle for 10 s (see
/// MariaDB's below). Statements stay prepared, but each run is planned for
/// its values and the table as it is now: after five runs PostgreSQL would
/// otherwise keep one generic plan for the connection's life, made while a
/// queue was empty, and a claim planned for an empty table read its whole
/// backlog once per row (18 s a claim at 21,000 messages waiting).
const PGSQL_SESSION: &str = "SET idle_in_transaction_session_timeout = '10s'; SET TIME ZONE 'UTC'; \
     SET client_min_messages = WARNING; SET plan_cache_mode = force_custom_plan";

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
            DbConfig::Mysql(server) => (mysql_url(server, true)?, Engine::Mysql),
            DbConfig::Pgsql(server) => (pgsql_url(server, Some(&server.database()))?, Engine::Pgsql),
        };
        let availability = Availability::new();
        let manager = Manager { url, engine, availability: availability.clone() };
        // SQLite: one connection, so writers never contend for the file lock.
        let size = if engine == Engine::Sqlite { 1 } else { pool_size.max(2) };
        // Connections are made as load needs them and closed after ten
        // idle minutes, down to two: an idle node holds two, not the pool's
        // size (each costs memory here and on the server).
        let pool = Pool::builder()
            .max_size(size)
            .min_idle(Some(size.min(MIN_IDLE)))
            .connection_timeout(CONNECT_TIMEOUT)
            .test_on_check_out(true)
            .error_handler(Box::new(QuietErrors))
            .build(manager)
            .with_context(|| format!("cannot connect to the database ({})", config.describe()))?;
        let workers = Arc::new(tokio::sync::Semaphore::new(size as usize));
        let db = Db { pool, engine, availability, workers };
        let mut conn = db.pool.get_timeout(POOL_WAIT)?;
        check_schema(&mut conn.conn)?;
        Ok(db)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Runs blocking database work on the blocking pool, in the caller's
    /// span. The connection never lives across an `.await`.
    ///
    /// While the database is unavailable this fails at once with
    /// [`CoreError::Unavailable`], but for the probe that finds it back.
    pub async fn run<T, F>(&self, f: F) -> Result<T, CoreError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, CoreError> + Send + 'static,
        T: Send + 'static,
    {
        let ticket = self.availability.admit(Instant::now())?;
        let probe = ticket.pass == Pass::Probe;
        let wait = if probe { PROBE_WAIT } else { POOL_WAIT };
        // Past the wait for a worker, the pool is asked without waiting:
        // it answers with its own timeout, which the outage logic reads.
        let (worker, wait) = match tokio::time::timeout(wait, self.workers.clone().acquire_owned()).await {
            Ok(worker) => (worker.ok(), wait),
            Err(_) => (None, Duration::from_millis(1)),
        };
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        let result = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let _worker = worker;
            let mut conn = pool.get_timeout(wait)?;
            // A probe of a locked SQLite file should not hold its caller
            // for the whole busy timeout: it waits 1 s for the lock.
            let brief = probe && matches!(conn.conn, AnyConnection::Sqlite(_));
            if brief {
                conn.conn.batch_execute("PRAGMA busy_timeout = 1000")?;
            }
            let result = f(&mut conn.conn);
            if brief {
                let _ = conn.conn.batch_execute("PRAGMA busy_timeout = 10000");
            }
            if let Err(e) = &result
                && connection_fault(e).is_some()
            {
                conn.broken = true;
            }
            result
        })
        .in_current_span()
        .await
        .map_err(|e| CoreError::Internal(anyhow::anyhow!("database task failed: {e}")));
        let result = result.and_then(|r| r);
        ticket.settle(result.as_ref().err());
        result
    }

    /// As [`Db::run`], for a write that must not be dropped because the
    /// database is away for a moment (the record of what Cloud or the
    /// business's server already took): while the database is unavailable
    /// it waits for it, up to `patience`, then gives up with the last error.
    pub async fn run_patiently<T, F>(&self, patience: Duration, f: F) -> Result<T, CoreError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, CoreError> + Clone + Send + 'static,
        T: Send + 'static,
    {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match self.run(f.clone()).await {
                Err(e) if e.is_unavailable() && tokio::time::Instant::now() < deadline => {
                    let pause = self.availability.retry_in().clamp(Duration::from_millis(20), Duration::from_secs(1));
                    tokio::select! {
                        _ = self.availability.recovered() => {}
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
                other => return other,
            }
        }
    }

    /// The outage in progress, if any: since when, and why.
    pub fn outage(&self) -> Option<Outage> {
        self.availability.outage()
    }

    /// Waits until the database may be tried again: it came back, or the
    /// next probe is due (at most `limit`).
    pub async fn until_retry(&self, limit: Duration) {
        let pause = self.availability.retry_in().clamp(Duration::from_millis(20), limit);
        tokio::select! {
            _ = self.availability.recovered() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }

    /// How many times a connection was pinged before use (after a
    /// connection-level failure, or idle for long), since start: the
    /// statements the pool adds to the application's.
    pub fn connection_checks(&self) -> u64 {
        self.availability.checks()
    }

    /// Connections in use and idle, for health and metrics.
    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections - s.idle_connections, s.idle_connections)
    }
}

/// Whether an error means the connection, or the database behind it, is
/// gone (as opposed to a statement the database refused): the reason, if so.
/// A pool timeout is judged by the availability, which knows whether making
/// connections failed.
pub fn connection_fault(err: &CoreError) -> Option<String> {
    match err {
        CoreError::Unavailable(why) => Some(why.clone()),
        CoreError::Db(e) => diesel_connection_fault(e),
        _ => None,
    }
}

fn diesel_connection_fault(err: &diesel::result::Error) -> Option<String> {
    use diesel::result::{DatabaseErrorKind, Error};
    match err {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => Some(info.message().to_string()),
        Error::BrokenTransactionManager => Some("the connection broke mid-transaction".into()),
        Error::DatabaseError(_, info) => {
            let message = info.message();
            is_connection_message(message).then(|| message.to_string())
        }
        // The connection went away during COMMIT, so the rollback failed
        // too. Whether the commit took is unknown: the caller must treat
        // it as an outage (and retry what it can repeat), never as a
        // failure of its own that leaves its claims to be handed back.
        Error::RollbackErrorOnCommit { commit_error, rollback_error } => {
            diesel_connection_fault(commit_error).or_else(|| diesel_connection_fault(rollback_error))
        }
        _ => None,
    }
}

/// The messages of the client libraries (MariaDB/MySQL, libpq, SQLite) for a
/// database that cannot be used right now, whatever the statement.
fn is_connection_message(message: &str) -> bool {
    const MARKERS: &[&str] = &[
        // MariaDB/MySQL client and server
        "gone away",
        "lost connection",
        "can't connect",
        "connection refused",
        "connection was killed",
        "shutdown in progress",
        "server shutdown",
        "commands out of sync",
        "disconnected by the server",
        "unknown server host",
        "unknown mysql server host",
        "too many connections",
        "--read-only",
        "broken pipe",
        // coreapp's own TLS to MySQL (mysql_tls)
        "tls to the database server",
        // PostgreSQL (libpq and server)
        "server closed the connection",
        "could not connect to server",
        "connection to server",
        "no connection to the server",
        "terminating connection",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
        "too many clients",
        "read-only transaction",
        "ssl connection has been closed",
        "idle-in-transaction timeout",
        // SQLite
        "database is locked",
        "readonly database",
        "disk i/o error",
        "database or disk is full",
        "unable to open database file",
    ];
    let message = message.to_ascii_lowercase();
    MARKERS.iter().any(|m| message.contains(m))
}

/// `coreapp migrate`: creates the database if it is missing and applies the
/// embedded migrations. Safe to run from several nodes at once on MySQL and
/// PostgreSQL (a named lock, an advisory lock, serialises them); idempotent.
pub fn migrate(config: &DbConfig) -> anyhow::Result<Vec<String>> {
    let applied = |result: diesel::migration::Result<Vec<diesel::migration::MigrationVersion<'_>>>| {
        result
            .map(|v| v.iter().map(ToString::to_string).collect())
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"))
    };
    match config {
        DbConfig::Sqlite { path } => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let mut conn = diesel::SqliteConnection::establish(&path.display().to_string())
                .with_context(|| format!("cannot open SQLite database {}", path.display()))?;
            conn.batch_execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000;")?;
            applied(conn.run_pending_migrations(SQLITE_MIGRATIONS))
        }
        DbConfig::Mysql(server) => {
            let name = server.database();
            let mut admin = diesel::MysqlConnection::establish(&mysql_url(server, false)?)
                .with_context(|| format!("cannot connect to the MySQL server ({})", config.describe()))?;
            admin.batch_execute(&format!(
                "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            ))?;
            let mut conn = diesel::MysqlConnection::establish(&mysql_url(server, true)?)?;
            conn.batch_execute("DO GET_LOCK('wa_onprem_migrate', 120)")?;
            let result = applied(conn.run_pending_migrations(MYSQL_MIGRATIONS));
            conn.batch_execute("DO RELEASE_LOCK('wa_onprem_migrate')")?;
            result
        }
        DbConfig::Pgsql(server) => {
            create_pgsql_database(server).with_context(|| config.describe())?;
            let mut conn = diesel::PgConnection::establish(&pgsql_url(server, Some(&server.database()))?)
                .with_context(|| format!("cannot connect to the PostgreSQL server ({})", config.describe()))?;
            conn.batch_execute(&format!("SELECT pg_advisory_lock({PGSQL_MIGRATE_LOCK})"))?;
            let result = applied(conn.run_pending_migrations(PGSQL_MIGRATIONS));
            conn.batch_execute(&format!("SELECT pg_advisory_unlock({PGSQL_MIGRATE_LOCK})"))?;
            result
        }
    }
}

/// The advisory lock key `coreapp migrate` holds on PostgreSQL.
const PGSQL_MIGRATE_LOCK: i64 = 0x7761_6f6e_7072_656d;

/// Creates the PostgreSQL database of `server` when it does not exist
/// (PostgreSQL has no `CREATE DATABASE IF NOT EXISTS`: a node that loses
/// the race to another finds it made).
fn create_pgsql_database(server: &ServerDb) -> anyhow::Result<()> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        one: i32,
    }
    let name = server.database();
    let mut admin = diesel::PgConnection::establish(&pgsql_url(server, Some("postgres"))?)
        .context("cannot connect to the PostgreSQL server")?;
    let exists = |admin: &mut diesel::PgConnection| -> anyhow::Result<bool> {
        let found: Vec<Found> = diesel::sql_query("SELECT 1 AS one FROM pg_database WHERE datname = $1")
            .bind::<diesel::sql_types::Text, _>(&name)
            .load(admin)?;
        Ok(!found.is_empty())
    };
    if exists(&mut admin)? {
        return Ok(());
    }
    // The name is checked to be letters, digits and '_' (`pgsql_url`).
    // Text sorts by its bytes, as on MySQL (`utf8mb4_bin`) and SQLite.
    let create = format!("CREATE DATABASE \"{name}\" ENCODING 'UTF8' LC_COLLATE 'C' TEMPLATE template0");
    match admin.batch_execute(&create) {
        Ok(()) => Ok(()),
        // Another node made it meanwhile.
        Err(_) if exists(&mut admin)? => Ok(()),
        Err(e) => Err(anyhow::Error::from(e).context(format!("cannot create the database {name}"))),
    }
}

/// Drops the server database of this configuration (tests clean up with it).
pub fn drop_server_database(config: &DbConfig) -> anyhow::Result<()> {
    match config {
        DbConfig::Sqlite { .. } => {}
        DbConfig::Mysql(server) => {
            let mut admin = diesel::MysqlConnection::establish(&mysql_url(server, false)?)?;
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS `{}`", server.database()))?;
        }
        DbConfig::Pgsql(server) => {
            let mut admin = diesel::PgConnection::establish(&pgsql_url(server, Some("postgres"))?)?;
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", server.database()))?;
        }
    }
    Ok(())
}

fn check_schema(conn: &mut AnyConnection) -> anyhow::Result<()> {
    let (embedded, applied) = match conn {
        AnyConnection::Mysql(c) => (versions(&MYSQL_MIGRATIONS)?, applied(c)?),
        AnyConnection::Pg(c) => (versions(&PGSQL_MIGRATIONS)?, applied(c)?),
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

/// The client library's URL for a MySQL server. With TLS it points at
/// this process's relay (see [`mysql_tls`]), which reaches the server.
fn mysql_url(server: &ServerDb, with_database: bool) -> anyhow::Result<String> {
    let database = with_database.then(|| server.database());
    if server.tls.mode == SslMode::Disable {
        return server_url("mysql", server, database.as_deref());
    }
    let socket = mysql_tls::socket_for(server)?;
    let local = ServerDb { host: "localhost".into(), ..server.clone() };
    let mut url = url::Url::parse(&server_url("mysql", &local, database.as_deref())?)?;
    url.query_pairs_mut().append_pair("unix_socket", &socket.display().to_string());
    Ok(url.to_string())
}

/// libpq's URL: TLS as `sslmode`, the CA as `sslrootcert`.
fn pgsql_url(server: &ServerDb, database: Option<&str>) -> anyhow::Result<String> {
    let mut url = url::Url::parse(&server_url("postgres", server, database)?)?;
    let mode = match server.tls.mode {
        SslMode::Disable => "disable",
        SslMode::Require => "require",
        SslMode::VerifyCa => "verify-ca",
        SslMode::VerifyFull => "verify-full",
    };
    url.query_pairs_mut().append_pair("sslmode", mode);
    if matches!(server.tls.mode, SslMode::VerifyCa | SslMode::VerifyFull) {
        url.query_pairs_mut().append_pair("sslrootcert", &server.tls.ca.display().to_string());
    }
    Ok(url.to_string())
}

/// `scheme://user:password@host:port/database`, every part checked.
fn server_url(scheme: &str, server: &ServerDb, database: Option<&str>) -> anyhow::Result<String> {
    let ServerDb { host, port, username, password, name_prefix, tls: _ } = server;
    if !name_prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("WA_DB_NAME_PREFIX may only contain letters, digits and '_'");
    }
    let mut url =
        url::Url::parse(&format!("{scheme}://{host}:{port}/")).context("WA_DB_HOSTNAME is not a valid host name")?;
    url.set_username(username).map_err(|_| anyhow::anyhow!("WA_DB_USERNAME cannot be used in a URL"))?;
    if !password.is_empty() {
        url.set_password(Some(password)).map_err(|_| anyhow::anyhow!("WA_DB_PASSWORD cannot be used in a URL"))?;
    }
    if let Some(database) = database {
        url.set_path(database);
    }
    Ok(url.to_string())
}

/// Milliseconds since the Unix epoch; every time column uses it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    fn db_error(message: &str) -> Error {
        Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_owned()))
    }

    #[test]
    fn a_commit_cut_off_by_the_server_going_away_is_an_outage() {
        let cut = Error::RollbackErrorOnCommit {
            rollback_error: Box::new(db_error("Server has gone away")),
            commit_error: Box::new(db_error("Lost connection to server during query")),
        };
        assert!(CoreError::Db(cut).is_unavailable());
        let refused = Error::RollbackErrorOnCommit {
            rollback_error: Box::new(db_error("Deadlock found when trying to get lock")),
            commit_error: Box::new(db_error("Lock wait timeout exceeded")),
        };
        assert!(!CoreError::Db(refused).is_unavailable());
        assert!(CoreError::Db(db_error("Server shutdown in progress")).is_unavailable());
        assert!(!CoreError::Db(db_error("Duplicate entry 'x' for key 'PRIMARY'")).is_unavailable());
    }
}

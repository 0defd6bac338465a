//! Everything the coreapp keeps in its database.
//!
//! - [`db`]: the connection type over MySQL/MariaDB and SQLite, the pool,
//!   the crossing from async into blocking work, outages, and migrations;
//!   [`schema`]: diesel's table definitions.
//! - One module per table group ([`outbound`], [`inbound`], [`outbox`],
//!   [`queue`] for the claim/lease/settle protocol every queue shares, ...):
//!   plain diesel functions. Each takes `&mut AnyConnection` and returns
//!   `QueryResult`; callers compose them inside one `Db::run` closure (and
//!   one transaction where several writes must land together).
//! - [`group`]: group commit, one writer task sharing each statement and
//!   commit among every caller that came meanwhile; its users [`accept`]
//!   (accepted messages), `engine::receive` (Cloud webhooks) and [`sent`]
//!   (the record of sends Cloud accepted); [`cached`]: a value read from
//!   the database at most once per interval.

pub mod accept;
pub mod cached;
pub mod db;
pub mod group;
pub mod schema;
pub mod sent;

/// A multi-row INSERT. Diesel's batch inserts do not go through the
/// multi-backend connection, so this dispatches to the concrete one.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            crate::store::db::AnyConnection::Mysql(c) => diesel::insert_into($table).values($rows).execute(c),
            crate::store::db::AnyConnection::Pg(c) => diesel::insert_into($table).values($rows).execute(c),
            crate::store::db::AnyConnection::Sqlite(c) => diesel::insert_into($table).values($rows).execute(c),
        }
    };
}

pub mod certs;
pub mod contacts;
pub mod downloads;
pub mod inbound;
pub mod leases;
pub mod login_failures;
pub mod media;
pub mod nodes;
pub mod outbound;
pub mod outbox;
pub mod pacing;
pub mod queue;
pub mod revocations;
pub mod settings;
pub mod users;
pub mod whatsapp_users;

/// True when a diesel error is a unique-key violation (a row that another
/// writer, or an earlier attempt, already inserted).
pub fn is_unique_violation(err: &diesel::result::Error) -> bool {
    matches!(err, diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
}

/// A time-ordered id (ULID) for rows whose order matters (inbound events,
/// webhook events). Ids made in the same millisecond still sort in creation
/// order, which a plain random ULID would not guarantee; the generator is
/// process-wide for that reason, like a clock.
pub fn ordered_id() -> String {
    static GENERATOR: std::sync::Mutex<Option<ulid::Generator>> = std::sync::Mutex::new(None);
    let mut guard = GENERATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let generator = guard.get_or_insert_with(ulid::Generator::new);
    // Overflow needs 2^80 ids in one millisecond; fall back to a fresh one.
    generator.generate().unwrap_or_else(|_| ulid::Ulid::new()).to_string()
}

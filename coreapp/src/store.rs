//! Plain diesel functions per table. Each takes `&mut AnyConnection` and
//! returns `QueryResult`; callers compose them inside one `Db::run` closure
//! (and one transaction where several writes must land together).

pub mod certs;
pub mod inbound;
pub mod outbound;
pub mod outbox;
pub mod queue;
pub mod revocations;
pub mod settings;
pub mod users;

/// True when a diesel error is a unique-key violation (a row that another
/// writer, or an earlier attempt, already inserted).
pub fn is_unique_violation(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

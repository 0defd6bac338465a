//! `users`: the webapp's accounts.

use diesel::prelude::*;

use crate::store::db::AnyConnection;
use crate::store::schema::users;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub must_change_password: i32,
    pub created_at: i64,
    pub updated_at: i64,
    /// The name in lower case, unique: names may not differ only by case.
    /// `None` for look-alikes that existed before that rule (kept, reported).
    pub name_key: Option<String>,
}

/// The case-insensitive key of a user name (names are ASCII).
pub fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

pub fn find(conn: &mut AnyConnection, name: &str) -> QueryResult<Option<User>> {
    users::table.find(name).select(User::as_select()).first(conn).optional()
}

pub fn insert(conn: &mut AnyConnection, user: &User) -> QueryResult<()> {
    diesel::insert_into(users::table).values(user).execute(conn).map(drop)
}

pub fn set_password(conn: &mut AnyConnection, name: &str, hash: &str, now: i64) -> QueryResult<usize> {
    diesel::update(users::table.find(name))
        .set((users::password_hash.eq(hash), users::must_change_password.eq(0), users::updated_at.eq(now)))
        .execute(conn)
}

/// Another user whose name differs from `name` only by case.
pub fn look_alike(conn: &mut AnyConnection, name: &str) -> QueryResult<Option<String>> {
    users::table
        .filter(users::name_key.eq(name_key(name)))
        .filter(users::username.ne(name))
        .select(users::username)
        .first(conn)
        .optional()
}

/// Users without a name key: names that differ from another only by case,
/// created before names had to differ otherwise.
pub fn look_alikes(conn: &mut AnyConnection) -> QueryResult<Vec<String>> {
    users::table.filter(users::name_key.is_null()).select(users::username).order(users::username).load(conn)
}

/// Every user's name and role.
pub fn list(conn: &mut AnyConnection) -> QueryResult<Vec<(String, String)>> {
    users::table.select((users::username, users::role)).order(users::username).load(conn)
}

pub fn delete(conn: &mut AnyConnection, name: &str) -> QueryResult<usize> {
    diesel::delete(users::table.find(name)).execute(conn)
}

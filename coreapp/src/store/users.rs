//! `users`: the webapp's accounts.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::users;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub must_change_password: i32,
    pub created_at: i64,
    pub updated_at: i64,
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

pub fn delete(conn: &mut AnyConnection, name: &str) -> QueryResult<usize> {
    diesel::delete(users::table.find(name)).execute(conn)
}

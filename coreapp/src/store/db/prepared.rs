//! Statements written by hand that stay prepared on their connection.
//!
//! diesel prepares a raw SQL statement (`sql_query`), and any statement
//! with an `IN` list, anew on every call on MySQL, and closes it after:
//! three round trips for one statement. A [`Prepared`] statement is one
//! diesel may keep: its cache holds it under its text, and calls after the
//! first cost one round trip. Only statements whose text comes from a small
//! set may be kept (the cache is unbounded and MySQL limits prepared
//! statements server-wide): fixed text per table, `IN` lists padded to a
//! power of two ([`padded`]), and multi-row inserts cut into chunks of a
//! power of two rows ([`insert_rows`]).

use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Binary, HasSqlType, Integer, Nullable, Text, Untyped};

use crate::store::db::AnyConnection;

/// SQL text and the values of its `?`s, in order.
#[derive(Debug, Clone)]
pub struct Prepared<'a> {
    sql: String,
    binds: Vec<Bind<'a>>,
}

#[derive(Debug, Clone)]
enum Bind<'a> {
    Text(&'a str),
    NullableText(Option<&'a str>),
    BigInt(i64),
    NullableBigInt(Option<i64>),
    Integer(i32),
    Binary(&'a [u8]),
}

impl<'a> Prepared<'a> {
    pub fn new(sql: impl Into<String>) -> Self {
        Prepared { sql: sql.into(), binds: Vec::new() }
    }

    pub fn text(mut self, value: &'a str) -> Self {
        self.binds.push(Bind::Text(value));
        self
    }

    /// One `?` per value, in order (an `IN` list).
    pub fn texts(mut self, values: impl IntoIterator<Item = &'a str>) -> Self {
        self.binds.extend(values.into_iter().map(Bind::Text));
        self
    }

    pub fn nullable_text(mut self, value: Option<&'a str>) -> Self {
        self.binds.push(Bind::NullableText(value));
        self
    }

    pub fn big_int(mut self, value: i64) -> Self {
        self.binds.push(Bind::BigInt(value));
        self
    }

    pub fn nullable_big_int(mut self, value: Option<i64>) -> Self {
        self.binds.push(Bind::NullableBigInt(value));
        self
    }

    pub fn integer(mut self, value: i32) -> Self {
        self.binds.push(Bind::Integer(value));
        self
    }

    pub fn binary(mut self, value: &'a [u8]) -> Self {
        self.binds.push(Bind::Binary(value));
        self
    }
}

impl<DB> QueryFragment<DB> for Prepared<'_>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Integer> + HasSqlType<Binary>,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    i32: ToSql<Integer, DB>,
    [u8]: ToSql<Binary, DB>,
    for<'b> Option<&'b str>: ToSql<Nullable<Text>, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
{
    /// Each `?` of the text is where a value goes (the backend writes its
    /// own placeholder there); the text has no other `?`.
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut pieces = self.sql.split('?');
        out.push_sql(pieces.next().unwrap_or_default());
        let mut binds = self.binds.iter();
        for piece in pieces {
            match binds.next() {
                Some(Bind::Text(v)) => out.push_bind_param::<Text, str>(v)?,
                Some(Bind::NullableText(v)) => out.push_bind_param::<Nullable<Text>, Option<&str>>(v)?,
                Some(Bind::BigInt(v)) => out.push_bind_param::<BigInt, i64>(v)?,
                Some(Bind::NullableBigInt(v)) => out.push_bind_param::<Nullable<BigInt>, Option<i64>>(v)?,
                Some(Bind::Integer(v)) => out.push_bind_param::<Integer, i32>(v)?,
                Some(Bind::Binary(v)) => out.push_bind_param::<Binary, [u8]>(v)?,
                None => return Err(mismatch(&self.sql, self.binds.len())),
            }
            out.push_sql(piece);
        }
        if binds.next().is_some() {
            return Err(mismatch(&self.sql, self.binds.len()));
        }
        Ok(())
    }
}

fn mismatch(sql: &str, values: usize) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(format!("{values} values for the placeholders of: {sql}").into())
}

/// Keyed by its text in the statement cache, not by type.
impl QueryId for Prepared<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// Rows come back by name (`QueryableByName`), as from `sql_query`.
impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for Prepared<'_> {}

/// `ids` padded to the next power of two by repeating the last one, so an
/// `IN` list over them has one of a few lengths (a repeat matches nothing
/// more). Empty stays empty.
pub fn padded(ids: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = ids.iter().map(String::as_str).collect();
    if let Some(last) = out.last().copied() {
        out.resize(out.len().next_power_of_two(), last);
    }
    out
}

/// `?, ?, ...` for `n` parameters.
pub fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Most rows one INSERT of [`insert_rows`] carries.
const MOST_ROWS: usize = 64;

/// Inserts `rows` with `head` (`INSERT INTO t (a, b)`, or any other verb
/// that takes `VALUES`), each row's `columns` values given by `bind`.
/// Rows go in chunks of a power of two (37 rows: 32, 4, 1), at most
/// [`MOST_ROWS`], so every table has a handful of statements to keep.
/// Returns the rows the server counted.
pub fn insert_rows<'a, T>(
    conn: &mut AnyConnection,
    head: &str,
    columns: usize,
    rows: &'a [T],
    bind: impl Fn(Prepared<'a>, &'a T) -> Prepared<'a>,
) -> QueryResult<usize> {
    insert_rows_then(conn, head, columns, rows, "", bind)
}

/// As [`insert_rows`], with `tail` after the values (`ON CONFLICT DO
/// NOTHING`).
pub fn insert_rows_then<'a, T>(
    conn: &mut AnyConnection,
    head: &str,
    columns: usize,
    rows: &'a [T],
    tail: &str,
    bind: impl Fn(Prepared<'a>, &'a T) -> Prepared<'a>,
) -> QueryResult<usize> {
    let row = format!("({})", marks(columns));
    let mut counted = 0;
    for chunk in chunks(rows) {
        let sql = format!("{head} VALUES {}{tail}", vec![row.as_str(); chunk.len()].join(", "));
        counted += chunk.iter().fold(Prepared::new(sql), &bind).execute(conn)?;
    }
    Ok(counted)
}

/// `rows` cut into chunks whose lengths are powers of two, largest first,
/// at most [`MOST_ROWS`] each: for statements whose text grows with their
/// rows, so that each has a handful of forms to keep prepared.
pub fn chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (chunk, after) = rest.split_at(chunk_len(rest.len()));
        rest = after;
        Some(chunk)
    })
}

/// The rows of the next chunk of `left` rows: the largest power of two
/// that fits, up to [`MOST_ROWS`].
fn chunk_len(left: usize) -> usize {
    if left >= MOST_ROWS { MOST_ROWS } else { 1 << left.ilog2() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_go_in_chunks_of_a_power_of_two_rows() {
        let cut = |n: usize| chunks(&vec![0u8; n]).map(<[u8]>::len).collect::<Vec<_>>();
        assert_eq!(cut(37), [32, 4, 1]);
        assert_eq!(cut(64), [64]);
        assert_eq!(cut(200), [64, 64, 64, 8]);
        assert_eq!(cut(1), [1]);
        assert!(cut(0).is_empty());
    }

    #[test]
    fn in_lists_take_a_power_of_two_length_and_keep_every_id() {
        let ids: Vec<String> = (0..5).map(|i| format!("id{i}")).collect();
        let p = padded(&ids);
        assert_eq!(p.len(), 8);
        assert_eq!(&p[..5], &["id0", "id1", "id2", "id3", "id4"]);
        assert!(p[5..].iter().all(|id| *id == "id4"));
        assert_eq!(padded(&ids[..4]).len(), 4);
        assert_eq!(padded(&ids[..1]), vec!["id0"]);
        assert!(padded(&[]).is_empty());
    }

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Row {
        #[diesel(sql_type = Text)]
        a: String,
        #[diesel(sql_type = BigInt)]
        b: i64,
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        c: Option<String>,
    }

    #[test]
    fn values_go_where_the_marks_are_and_must_match_them() {
        let mut conn = diesel::SqliteConnection::establish(":memory:").unwrap();
        let rows: Vec<Row> = Prepared::new("SELECT ? AS a, ? AS b, ? AS c")
            .text("x")
            .big_int(7)
            .nullable_text(None)
            .load(&mut conn)
            .unwrap();
        assert_eq!(rows, vec![Row { a: "x".into(), b: 7, c: None }]);
        let short = Prepared::new("SELECT ? AS a, ? AS b").text("x").execute(&mut conn);
        assert!(matches!(short, Err(diesel::result::Error::QueryBuilderError(_))), "{short:?}");
        let long = Prepared::new("SELECT ? AS a").text("x").integer(1).execute(&mut conn);
        assert!(matches!(long, Err(diesel::result::Error::QueryBuilderError(_))), "{long:?}");
    }
}

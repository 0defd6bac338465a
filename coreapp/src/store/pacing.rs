//! `send_pacing`: one business number's send slots, shared by every
//! coreapp. A sender reserves the slots of the batch it is about to send in
//! one short transaction; the reservations of all nodes line up one after
//! the other, so together they never exceed the number's rate.

use diesel::prelude::*;

use crate::error::CoreError;
use crate::store::db::prepared::Prepared;
use crate::store::db::{AnyConnection, transaction};
use crate::store::schema::send_pacing as sp;

/// Reserves `count` slots `interval_us` apart, starting no earlier than
/// `now_us`; returns the first slot's time (microseconds since the epoch).
pub fn reserve(
    conn: &mut AnyConnection,
    phone_number_id: &str,
    count: i64,
    interval_us: i64,
    now_us: i64,
) -> Result<i64, CoreError> {
    transaction(conn, |conn| {
        // Moving the slot forward in the statement that reads it takes the
        // row's lock at once, for the rest of the transaction (SQLite has
        // one writer). A first reservation creates the row, then moves it.
        let advance = |conn: &mut AnyConnection| {
            Prepared::new(
                "UPDATE send_pacing SET next_slot_us = \
                 (CASE WHEN next_slot_us > ? THEN next_slot_us ELSE ? END) + ? WHERE phone_number_id = ?",
            )
            .big_int(now_us)
            .big_int(now_us)
            .big_int(count * interval_us)
            .text(phone_number_id)
            .execute(conn)
        };
        if advance(conn)? == 0 {
            let insert = match conn {
                AnyConnection::Mysql(_) => {
                    "INSERT IGNORE INTO send_pacing (phone_number_id, next_slot_us) VALUES (?, 0)"
                }
                _ => "INSERT INTO send_pacing (phone_number_id, next_slot_us) VALUES (?, 0) ON CONFLICT DO NOTHING",
            };
            Prepared::new(insert).text(phone_number_id).execute(conn)?;
            advance(conn)?;
        }
        let next: i64 = sp::table.find(phone_number_id).select(sp::next_slot_us).first(conn)?;
        Ok(next - count * interval_us)
    })
}

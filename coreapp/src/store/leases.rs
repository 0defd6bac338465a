//! `job_leases`: periodic jobs that one node at a time runs (the media
//! garbage collector). A node holds a job until its lease ends; another
//! node takes it over once the lease has lapsed.

use diesel::prelude::*;

use crate::store::db::AnyConnection;
use crate::store::schema::job_leases as jl;

pub const MEDIA_GC: &str = "media_gc";

/// Takes (or renews) the lease of `job` for `owner` until `until`. Returns
/// whether `owner` holds it now.
pub fn acquire(conn: &mut AnyConnection, job: &str, owner: &str, now: i64, until: i64) -> QueryResult<bool> {
    let free = jl::lease_until.lt(now).or(jl::lease_owner.eq(owner));
    let n = diesel::update(jl::table.filter(jl::name.eq(job)).filter(free))
        .set((jl::lease_owner.eq(owner), jl::lease_until.eq(until)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Hands back every job `owner` holds (a node stopping on purpose), so
/// another node runs it at its next turn rather than once the lease lapses.
pub fn release_owner(conn: &mut AnyConnection, owner: &str) -> QueryResult<usize> {
    diesel::update(jl::table.filter(jl::lease_owner.eq(owner)))
        .set((jl::lease_owner.eq(None::<String>), jl::lease_until.eq(0)))
        .execute(conn)
}

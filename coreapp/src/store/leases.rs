//! `job_leases`: periodic jobs that one node at a time runs (the media
//! garbage collector). A node holds a job until its lease ends; another
//! node takes it over once the lease has lapsed.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::job_leases as jl;

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

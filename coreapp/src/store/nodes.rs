//! `nodes`: the coreapps sharing this database, each with its last
//! heartbeat and gateway status.

use diesel::prelude::*;

use crate::store::db::AnyConnection;
use crate::store::schema::nodes as n;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = n)]
pub struct Node {
    pub node_id: String,
    /// `<node id>/<random>` of the running process (its name on claims).
    pub instance: String,
    pub gateway_status: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
}

/// Records a heartbeat (registering the node on its first).
pub fn heartbeat(conn: &mut AnyConnection, node: &Node) -> QueryResult<()> {
    let updated = diesel::update(n::table.find(&node.node_id))
        .set((
            n::instance.eq(&node.instance),
            n::gateway_status.eq(&node.gateway_status),
            n::started_at.eq(node.started_at),
            n::heartbeat_at.eq(node.heartbeat_at),
        ))
        .execute(conn)?;
    if updated == 0 {
        match diesel::insert_into(n::table).values(node).execute(conn) {
            // Registered by a racing heartbeat of the same node id.
            Err(e) if super::is_unique_violation(&e) => {}
            other => {
                other?;
            }
        }
    }
    Ok(())
}

/// Every registered node, by id.
pub fn all(conn: &mut AnyConnection) -> QueryResult<Vec<Node>> {
    n::table.order(n::node_id).select(Node::as_select()).load(conn)
}

/// Removes a node that stopped (its own instance only, so a restarted
/// node with the same id is not removed by its predecessor).
pub fn deregister(conn: &mut AnyConnection, node_id: &str, instance: &str) -> QueryResult<usize> {
    diesel::delete(n::table.filter(n::node_id.eq(node_id)).filter(n::instance.eq(instance))).execute(conn)
}

/// Forgets nodes silent since before `before` (scaled down or gone for good).
pub fn prune(conn: &mut AnyConnection, before: i64) -> QueryResult<usize> {
    diesel::delete(n::table.filter(n::heartbeat_at.lt(before))).execute(conn)
}

//! The pool's cost and its recovery, counted in statements rather than
//! timed: healthy connections are handed out without a test query, and
//! connections the server killed are found, dropped and replaced after the
//! first failure, with one ping per pooled connection and no more.
//!
//! The server kills only this test's own connections (`KILL` on the shared
//! MariaDB, `pg_terminate_backend` on the shared PostgreSQL);
//! `tests/tests/outages.rs` restarts a private server.

use std::time::{Duration, Instant};

use coreapp::config::DbConfig;
use coreapp::store::db::{Db, migrate};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

const POOL: u32 = 4;

async fn trivial(db: &Db) -> Result<(), coreapp::error::CoreError> {
    db.run(|conn| Ok(conn.batch_execute("SELECT 1")?)).await
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Kills every server connection to the database of `config` (ours), as a
/// server restart or a network cut would end them.
fn kill_connections_to(config: &DbConfig) -> usize {
    let server = config.server().expect("a server engine");
    let mut url = url::Url::parse(&format!("mysql://{}:{}/", server.host, server.port)).unwrap();
    url.set_username(&server.username).unwrap();
    if !server.password.is_empty() {
        url.set_password(Some(&server.password)).unwrap();
    }
    let database = server.database();
    match config {
        DbConfig::Pgsql(_) => {
            url.set_path("postgres");
            let url = url.as_str().replacen("mysql:", "postgres:", 1);
            let mut admin = diesel::PgConnection::establish(&url).expect("the shared PostgreSQL");
            let ids: Vec<Id> = diesel::sql_query(
                "SELECT pid::BIGINT AS id FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind::<Text, _>(&database)
            .load(&mut admin)
            .unwrap();
            for Id { id } in &ids {
                let _ = admin.batch_execute(&format!("SELECT pg_terminate_backend({id})"));
            }
            ids.len()
        }
        _ => {
            let mut admin = diesel::MysqlConnection::establish(url.as_str()).expect("the shared MariaDB");
            let ids: Vec<Id> = diesel::sql_query("SELECT id FROM information_schema.processlist WHERE db = ?")
                .bind::<Text, _>(&database)
                .load(&mut admin)
                .unwrap();
            for Id { id } in &ids {
                let _ = admin.batch_execute(&format!("KILL CONNECTION {id}"));
            }
            ids.len()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_killed_connections_are_replaced_with_one_ping_each() {
    killed_connections_are_replaced_with_one_ping_each(coreapp::testing::mysql_config()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgsql_killed_connections_are_replaced_with_one_ping_each() {
    killed_connections_are_replaced_with_one_ping_each(coreapp::testing::pgsql_config()).await;
}

async fn killed_connections_are_replaced_with_one_ping_each(config: DbConfig) {
    migrate(&config).expect("migrations (is the database server running?)");
    let db = Db::connect(&config, POOL).unwrap();

    for _ in 0..200 {
        trivial(&db).await.unwrap();
    }
    assert_eq!(db.connection_checks(), 0, "healthy connections are used without a test query");

    assert!(kill_connections_to(&config) > 0);
    // The first call on a killed connection fails at the connection level;
    // calls then go through again once the pool has made new connections.
    let first = trivial(&db).await;
    assert!(first.as_ref().is_err_and(|e| e.is_unavailable()), "{first:?}");
    let start = Instant::now();
    while trivial(&db).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "the pool did not recover");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(db.outage().is_none());
    let after_recovery = db.connection_checks();
    assert!(after_recovery <= u64::from(POOL), "{after_recovery} pings: at most one per pooled connection");

    // Connections the recovery did not need yet are checked when first
    // handed out: still one ping each, and none after.
    for _ in 0..200 {
        trivial(&db).await.unwrap();
    }
    let settled = db.connection_checks();
    assert!(settled <= u64::from(POOL), "{settled} pings: at most one per pooled connection");
    for _ in 0..200 {
        trivial(&db).await.unwrap();
    }
    assert_eq!(db.connection_checks(), settled, "no pings once the pool is sound again");
    println!("recovered in {:?} with {after_recovery} pings", start.elapsed());
    coreapp::store::db::drop_server_database(&config).unwrap();
}

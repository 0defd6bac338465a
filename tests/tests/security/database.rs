//! The link to the database server (`WA_DB_SSL_MODE`, `WA_DB_SSL_CA`):
//! TLS at the level asked for, on MariaDB (through the coreapp's own TLS,
//! `coreapp/src/store/db/mysql_tls.rs`) and on PostgreSQL (libpq), against
//! private servers that take TCP clients over TLS only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use coreapp::config::{DbConfig, DbTls, SslMode};
use coreapp::store::db::{self, Db};
use e2e::mariadb::PrivateMariadb;
use e2e::postgres::PrivatePostgres;
use e2e::{Auth, Engine, Options, Stack};
use reqwest::Method;
use serde_json::json;

/// A cluster CA and the database server's certificate it issued for
/// `127.0.0.1` and `db.wa-test` (not `localhost`), made as an operator
/// makes them (`coreapp cluster-certs --role database`), and another
/// deployment's CA.
struct Pki {
    dir: tempfile::TempDir,
    cert_pem: String,
    key_pem: String,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let names = ["db.wa-test".to_string(), "127.0.0.1".to_string()];
        coreapp::cluster::write_database(&d.join("ca"), &d.join("db"), &names, 30, false).unwrap();
        coreapp::cluster::write_database(&d.join("other-ca"), &d.join("other-db"), &names, 30, false).unwrap();
        let read = |path: &str| std::fs::read_to_string(d.join(path)).unwrap();
        Pki { cert_pem: read("db/database.pem"), key_pem: read("db/database.key"), dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("db/ca.pem")
    }

    fn other_ca(&self) -> PathBuf {
        self.dir.path().join("other-db/ca.pem")
    }
}

/// `config` reached at `host` with `mode` and `ca`.
fn through(config: &DbConfig, host: &str, mode: SslMode, ca: &Path) -> DbConfig {
    let mut server = config.server().unwrap().clone();
    server.host = host.into();
    server.tls = DbTls { mode, ca: ca.to_path_buf() };
    match config {
        DbConfig::Mysql(_) => DbConfig::Mysql(server),
        _ => DbConfig::Pgsql(server),
    }
}

/// Creates and migrates the database, then opens a pool on it (which
/// checks the schema through its connections): the error, if any.
fn reach(config: &DbConfig) -> Result<(), String> {
    db::migrate(config).map_err(|e| format!("{e:#}"))?;
    Db::connect(config, 2).map(drop).map_err(|e| format!("{e:#}"))
}

fn refused(config: &DbConfig, what: &str) -> String {
    let Err(error) = reach(config) else { panic!("{what}: the connection was made") };
    error
}

/// Every mode against a server that requires TLS, then `REQUIRE` against
/// one without it.
fn each_level_holds(engine: Engine, tls_server: DbConfig, plain_server: DbConfig, pki: &Pki) {
    let (ca, other) = (pki.ca(), pki.other_ca());

    // The server's own CA and its name: in, over TLS (the server takes
    // nothing else, as the next case shows).
    reach(&through(&tls_server, "127.0.0.1", SslMode::VerifyFull, &ca)).unwrap();
    let plain = refused(&through(&tls_server, "127.0.0.1", SslMode::Disable, &ca), "plain text");
    assert!(!plain.is_empty(), "{engine:?}");

    // A certificate from a CA we were not told to trust.
    let error = refused(&through(&tls_server, "127.0.0.1", SslMode::VerifyFull, &other), "unknown CA");
    assert!(error.to_lowercase().contains("certificate"), "{engine:?}: {error}");
    let error = refused(&through(&tls_server, "127.0.0.1", SslMode::VerifyCa, &other), "unknown CA");
    assert!(error.to_lowercase().contains("certificate"), "{engine:?}: {error}");

    // The right CA, but reached by a name the certificate does not carry:
    // VERIFY_FULL refuses it, VERIFY_CA takes it.
    let error = refused(&through(&tls_server, "localhost", SslMode::VerifyFull, &ca), "wrong name");
    assert!(error.to_lowercase().contains("name") || error.contains("localhost"), "{engine:?}: {error}");
    reach(&through(&tls_server, "localhost", SslMode::VerifyCa, &ca)).unwrap();

    // REQUIRE: TLS with any certificate...
    reach(&through(&tls_server, "localhost", SslMode::Require, &other)).unwrap();
    // ...and never plain text, even from a server that offers nothing else.
    let error = refused(&through(&plain_server, "127.0.0.1", SslMode::Require, &ca), "no TLS");
    assert!(error.contains("TLS") || error.contains("SSL"), "{engine:?}: {error}");
}

#[test]
fn mysql_each_tls_level_holds() {
    let pki = Pki::new();
    let tls = PrivateMariadb::start_tls(&pki.cert_pem, &pki.key_pem).expect("a private MariaDB with TLS");
    let plain = PrivateMariadb::start().expect("a private MariaDB");
    each_level_holds(Engine::Mysql, tls.config("tls_"), plain.config("plain_"), &pki);
}

#[test]
fn pgsql_each_tls_level_holds() {
    let pki = Pki::new();
    let tls = PrivatePostgres::start_tls(&pki.cert_pem, &pki.key_pem).expect("a private PostgreSQL with TLS");
    let plain = PrivatePostgres::start().expect("a private PostgreSQL");
    each_level_holds(Engine::Pgsql, tls.config("tls_"), plain.config("plain_"), &pki);
}

/// The whole stack on a database it reaches over verified TLS: a message
/// is accepted, sent and its statuses reach the business.
async fn a_stack_runs_over_verified_tls(engine: Engine, config: DbConfig, pki: &Pki) {
    let _shared = super::EXCLUSIVE.read().await;
    let config = through(&config, "127.0.0.1", SslMode::VerifyFull, &pki.ca());
    let s = Stack::start_with(engine, Options { db: Some(config), ..Options::default() }).await;
    let token = s.admin_token().await;
    s.use_receiver(&token).await;
    let message = json!({"to": "15557300001", "text": {"body": "over TLS"}});
    let a = s.call(Method::POST, "/v1/messages", Auth::Bearer(&token), Some(message)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["messages"][0]["id"].as_str().unwrap().to_string();
    s.receiver
        .wait_for(Duration::from_secs(60), |hook| {
            hook["statuses"]
                .as_array()
                .is_some_and(|list| list.iter().any(|st| st["id"] == id.as_str() && st["status"] == "delivered"))
        })
        .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_stack_runs_over_verified_tls() {
    let pki = Pki::new();
    let server = PrivateMariadb::start_tls(&pki.cert_pem, &pki.key_pem).expect("a private MariaDB with TLS");
    a_stack_runs_over_verified_tls(Engine::Mysql, server.config("stack_"), &pki).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgsql_a_stack_runs_over_verified_tls() {
    let pki = Pki::new();
    let server = PrivatePostgres::start_tls(&pki.cert_pem, &pki.key_pem).expect("a private PostgreSQL with TLS");
    a_stack_runs_over_verified_tls(Engine::Pgsql, server.config("stack_"), &pki).await;
}

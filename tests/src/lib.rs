//! Test harness: the real sandbox, coreapp and webapp, started through
//! their `run` functions on ephemeral ports, against MariaDB, PostgreSQL or SQLite, with
//! a webhook receiver standing in for the business's server.
//!
//! MySQL/MariaDB is found through `WA_TEST_MYSQL_HOST`, `WA_TEST_MYSQL_PORT`,
//! `WA_TEST_MYSQL_USER` and `WA_TEST_MYSQL_PASSWORD` (default
//! `root@127.0.0.1:3306`, no password); each stack gets its own database,
//! dropped at the end.

mod api;
pub mod capture;
mod cloud;
pub mod files;
pub mod mariadb;
pub mod payloads;
pub mod postgres;
pub mod raw;
pub mod receiver;
pub mod servers;
mod settle;
mod stack;

/// Declares each listed scenario `async fn name(engine: Engine)` as three
/// tests, `mysql::name`, `pgsql::name` and `sqlite::name`, so every
/// end-to-end scenario runs on MariaDB, PostgreSQL and SQLite. The calling
/// file imports `Engine`.
#[macro_export]
macro_rules! on_all_engines {
    ($($name:ident),* $(,)?) => {
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() { super::$name(super::Engine::Mysql).await })*
        }
        mod pgsql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() { super::$name(super::Engine::Pgsql).await })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() { super::$name(super::Engine::Sqlite).await })*
        }
    };
}

use std::net::SocketAddr;
use std::time::Duration;

use coreapp::config::DbConfig;

pub use api::{Answer, Auth};
pub use capture::Capture;
pub use receiver::{PrivateCa, Receiver};
pub use stack::{Options, Stack, loopback_links};

pub const PHONE_NUMBER_ID: &str = "100000000000001";
pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const API_KEY: &str = "test-monitoring-key";
pub const ADMIN_PASSWORD: &str = "Adm1n#pass";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Mysql,
    Pgsql,
    Sqlite,
}

/// Credentials of the internal link for `role`, from one cluster CA made
/// once per test process: every stack talks mutual TLS, as deployed.
pub fn cluster_link(role: proto::cluster::Role) -> proto::cluster::LinkConfig {
    use proto::cluster::Role;
    static ISSUED: std::sync::OnceLock<(coreapp::cluster::Issued, coreapp::cluster::Issued)> =
        std::sync::OnceLock::new();
    let (core, web) = ISSUED.get_or_init(|| {
        let ca = coreapp::cluster::new_authority().expect("a cluster CA");
        let issue = |role| coreapp::cluster::issue(&ca, role, 30, &[]).expect("a cluster certificate");
        (issue(Role::Coreapp), issue(Role::Webapp))
    });
    let issued = if role == Role::Coreapp { core } else { web };
    proto::cluster::LinkConfig {
        credentials: Some(issued.credentials().expect("issued credentials check out")),
        insecure: false,
    }
}

/// Writes the test process's cluster credentials for `role` into `dir`
/// (a `WA_CLUSTER_DIR` for processes started as programs).
pub fn write_cluster_dir(dir: &std::path::Path) {
    use proto::cluster::Role;
    std::fs::create_dir_all(dir).expect("cluster dir");
    for role in [Role::Coreapp, Role::Webapp] {
        let link = cluster_link(role);
        let c = link.credentials.expect("credentials");
        let (cert, key) = role.files(dir);
        std::fs::write(dir.join(proto::cluster::CA_FILE), c.ca_pem()).unwrap();
        std::fs::write(cert, c.cert_pem()).unwrap();
        std::fs::write(key, c.key_pem()).unwrap();
    }
}

/// A gRPC client of the coreapp at `addr` (`host:port`), holding the
/// webapp's cluster credentials, as a webapp would.
pub async fn core_client(
    addr: &str,
) -> Result<proto::core::core_client::CoreClient<tonic::transport::Channel>, tonic::transport::Error> {
    let tls = cluster_link(proto::cluster::Role::Webapp).credentials.expect("credentials").client_tls();
    let channel =
        tonic::transport::Endpoint::from_shared(format!("https://{addr}"))?.tls_config(tls)?.connect().await?;
    Ok(proto::core::core_client::CoreClient::new(channel))
}

/// The MySQL server the tests use; each stack gets a unique prefix.
pub fn mysql_config() -> DbConfig {
    coreapp::testing::mysql_config()
}

/// A new database of its own for a test on `engine` (SQLite in `dir`).
pub fn db_config(engine: Engine, dir: &std::path::Path) -> DbConfig {
    match engine {
        Engine::Sqlite => DbConfig::Sqlite { path: dir.join("wa.db") },
        Engine::Mysql => coreapp::testing::mysql_config(),
        Engine::Pgsql => coreapp::testing::pgsql_config(),
    }
}

/// The `WA_DB_*` variables of a coreapp started as a program on `db`.
pub fn db_env(db: &DbConfig) -> Vec<(&'static str, String)> {
    let server = |engine: &str, s: &coreapp::config::ServerDb| {
        vec![
            ("WA_DB_ENGINE", engine.to_string()),
            ("WA_DB_HOSTNAME", s.host.clone()),
            ("WA_DB_PORT", s.port.to_string()),
            ("WA_DB_USERNAME", s.username.clone()),
            ("WA_DB_PASSWORD", s.password.clone()),
            ("WA_DB_NAME_PREFIX", s.name_prefix.clone()),
            ("WA_DB_SSL_MODE", s.tls.mode.as_str().to_string()),
            ("WA_DB_SSL_CA", s.tls.ca.display().to_string()),
        ]
    };
    match db {
        DbConfig::Sqlite { path } => {
            vec![("WA_DB_ENGINE", "SQLITE".into()), ("WA_DB_SQLITE_PATH", path.display().to_string())]
        }
        DbConfig::Mysql(s) => server("MYSQL", s),
        DbConfig::Pgsql(s) => server("PGSQL", s),
    }
}

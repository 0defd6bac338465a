//! What the test suites share: the MySQL and PostgreSQL servers they run
//! against (`WA_TEST_MYSQL_HOST`, `_PORT`, `_USER`, `_PASSWORD`, by default
//! root with no password on 127.0.0.1:3306; `WA_TEST_PGSQL_HOST`, `_PORT`,
//! `_USER`, `_PASSWORD`, by default postgres with no password on
//! 127.0.0.1:5432). Not used by the binaries.

use crate::config::{DbConfig, ServerDb};

/// The test MySQL server, with a database name prefix of its own for each
/// call, so tests running at once never share a database.
pub fn mysql_config() -> DbConfig {
    DbConfig::Mysql(server("MYSQL", "3306", "root"))
}

/// The test PostgreSQL server, with a database of its own for each call.
pub fn pgsql_config() -> DbConfig {
    DbConfig::Pgsql(server("PGSQL", "5432", "postgres"))
}

fn server(engine: &str, port: &str, user: &str) -> ServerDb {
    let var = |name: &str, default: &str| {
        std::env::var(format!("WA_TEST_{engine}_{name}")).unwrap_or_else(|_| default.to_owned())
    };
    ServerDb {
        host: var("HOST", "127.0.0.1"),
        port: var("PORT", port).parse().expect("WA_TEST_*_PORT is a port"),
        username: var("USER", user),
        password: var("PASSWORD", ""),
        name_prefix: format!("t{}_", wire::ids::random_hex(6)),
        tls: Default::default(),
    }
}

/// The engines the store's tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestEngine {
    Mysql,
    Pgsql,
    Sqlite,
}

/// A database of its own on `engine` (SQLite: `file` in `dir`).
pub fn config(engine: TestEngine, dir: &std::path::Path, file: &str) -> DbConfig {
    match engine {
        TestEngine::Mysql => mysql_config(),
        TestEngine::Pgsql => pgsql_config(),
        TestEngine::Sqlite => DbConfig::Sqlite { path: dir.join(file) },
    }
}

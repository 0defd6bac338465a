//! What the test suites share: the MySQL server they run against
//! (`WA_TEST_MYSQL_HOST`, `_PORT`, `_USER`, `_PASSWORD`; by default root
//! with no password on 127.0.0.1:3306). Not used by the binaries.

use crate::config::DbConfig;

/// The test MySQL server, with a database name prefix of its own for each
/// call, so tests running at once never share a database.
pub fn mysql_config() -> DbConfig {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    DbConfig::Mysql {
        host: var("WA_TEST_MYSQL_HOST", "127.0.0.1"),
        port: var("WA_TEST_MYSQL_PORT", "3306").parse().expect("WA_TEST_MYSQL_PORT is a port"),
        username: var("WA_TEST_MYSQL_USER", "root"),
        password: var("WA_TEST_MYSQL_PASSWORD", ""),
        name_prefix: format!("t{}_", wire::ids::random_hex(6)),
    }
}

//! A private database server of either engine, for the tests that stop,
//! kill, restart and move the database (`mariadb`, `postgres`).

use std::net::IpAddr;

use coreapp::config::DbConfig;

use crate::Engine;
use crate::mariadb::PrivateMariadb;
use crate::postgres::PrivatePostgres;

pub enum PrivateServer {
    Mariadb(PrivateMariadb),
    Postgres(PrivatePostgres),
}

impl PrivateServer {
    /// A new server of `engine` (MySQL or PostgreSQL) listening on `bind`.
    pub fn start_on(engine: Engine, bind: IpAddr) -> anyhow::Result<PrivateServer> {
        Ok(match engine {
            Engine::Mysql => PrivateServer::Mariadb(PrivateMariadb::start_on(bind)?),
            Engine::Pgsql => PrivateServer::Postgres(PrivatePostgres::start_on(bind)?),
            Engine::Sqlite => anyhow::bail!("SQLite has no server"),
        })
    }

    /// As [`PrivateServer::start_on`], on `127.0.0.1`.
    pub fn start(engine: Engine) -> anyhow::Result<PrivateServer> {
        Self::start_on(engine, IpAddr::from([127, 0, 0, 1]))
    }

    pub fn config(&self, name_prefix: &str) -> DbConfig {
        match self {
            PrivateServer::Mariadb(s) => s.config(name_prefix),
            PrivateServer::Postgres(s) => s.config(name_prefix),
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            PrivateServer::Mariadb(s) => s.port(),
            PrivateServer::Postgres(s) => s.port(),
        }
    }

    /// A clean shutdown.
    pub fn stop(&mut self) {
        match self {
            PrivateServer::Mariadb(s) => s.stop(),
            PrivateServer::Postgres(s) => s.stop(),
        }
    }

    /// SIGKILL, as a crashed host.
    pub fn kill(&mut self) {
        match self {
            PrivateServer::Mariadb(s) => s.kill(),
            PrivateServer::Postgres(s) => s.kill(),
        }
    }

    pub fn start_again(&mut self) -> anyhow::Result<()> {
        match self {
            PrivateServer::Mariadb(s) => s.start_again(),
            PrivateServer::Postgres(s) => s.start_again(),
        }
    }

    pub fn move_to(&mut self, bind: IpAddr) -> anyhow::Result<()> {
        match self {
            PrivateServer::Mariadb(s) => s.move_to(bind),
            PrivateServer::Postgres(s) => s.move_to(bind),
        }
    }
}

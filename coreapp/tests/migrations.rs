//! Migrations are an explicit step: several nodes may run `coreapp migrate`
//! at once and all succeed, and a coreapp refuses, with a message saying
//! what to do, to open a database that lacks migrations or has newer ones.

use coreapp::config::DbConfig;
use coreapp::db::{Db, migrate};

fn refusal(config: &DbConfig) -> String {
    match Db::connect(config, 2) {
        Ok(_) => panic!("a coreapp opened a database it should refuse"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn nodes_migrating_together_all_succeed_and_unmigrated_or_newer_schemas_are_refused() {
    let config = e2e::mysql_config();
    // Nothing there yet: the coreapp says to migrate.
    coreapp::db::drop_mysql_database(&config).unwrap();
    let why = refusal(&config);
    assert!(why.contains("cannot connect") || why.contains("coreapp migrate"), "{why}");

    let runs: Vec<_> = (0..3)
        .map(|_| {
            let config = config.clone();
            std::thread::spawn(move || migrate(&config))
        })
        .collect();
    let applied: Vec<Vec<String>> =
        runs.into_iter().map(|r| r.join().unwrap().expect("a concurrent migrate")).collect();
    assert_eq!(applied.iter().filter(|a| !a.is_empty()).count(), 1, "exactly one run applied them: {applied:?}");
    Db::connect(&config, 2).expect("a migrated database opens");

    // A migration this binary does not know: a newer coreapp migrated.
    {
        use diesel::prelude::*;
        let DbConfig::Mysql { host, port, username, name_prefix, .. } = &config else { unreachable!() };
        let url = format!("mysql://{username}@{host}:{port}/{}", DbConfig::mysql_database(name_prefix));
        let mut conn = diesel::MysqlConnection::establish(&url).unwrap();
        diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES ('29990101000000')")
            .execute(&mut conn)
            .unwrap();
    }
    let why = refusal(&config);
    assert!(why.contains("newer than this binary"), "{why}");
    coreapp::db::drop_mysql_database(&config).unwrap();
}

#[test]
fn an_sqlite_file_that_was_never_migrated_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = DbConfig::Sqlite { path: dir.path().join("wa.db") };
    assert!(refusal(&config).contains("run `coreapp migrate` first"));
    // An empty file (created by something else) lacks every migration.
    std::fs::write(dir.path().join("wa.db"), b"").unwrap();
    let why = refusal(&config);
    assert!(why.contains("coreapp migrate"), "{why}");
    migrate(&config).unwrap();
    Db::connect(&config, 1).expect("opens once migrated");
}

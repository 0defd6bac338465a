//! Migrations are an explicit step: several nodes may run `coreapp migrate`
//! at once and all succeed, and a coreapp refuses, with a message saying
//! what to do, to open a database that lacks migrations or has newer ones.

use coreapp::config::DbConfig;
use coreapp::store::db::{Db, migrate};

fn refusal(config: &DbConfig) -> String {
    match Db::connect(config, 2) {
        Ok(_) => panic!("a coreapp opened a database it should refuse"),
        Err(e) => format!("{e:#}"),
    }
}

/// A raw connection URL to the database of `config` (a server engine).
fn url(config: &DbConfig) -> String {
    let (scheme, s) = match config {
        DbConfig::Mysql(s) => ("mysql", s),
        DbConfig::Pgsql(s) => ("postgres", s),
        DbConfig::Sqlite { .. } => unreachable!("a server engine"),
    };
    let password = if s.password.is_empty() { String::new() } else { format!(":{}", s.password) };
    format!("{scheme}://{}{password}@{}:{}/{}", s.username, s.host, s.port, s.database())
}

fn nodes_migrating_together_all_succeed_and_unmigrated_or_newer_schemas_are_refused(config: DbConfig) {
    // Nothing there yet: the coreapp says to migrate.
    coreapp::store::db::drop_server_database(&config).unwrap();
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
        use diesel::connection::SimpleConnection;
        use diesel::prelude::*;
        let newer = "INSERT INTO __diesel_schema_migrations (version) VALUES ('29990101000000')";
        match &config {
            DbConfig::Pgsql(_) => PgConnection::establish(&url(&config)).unwrap().batch_execute(newer).unwrap(),
            _ => MysqlConnection::establish(&url(&config)).unwrap().batch_execute(newer).unwrap(),
        }
    }
    let why = refusal(&config);
    assert!(why.contains("newer than this binary"), "{why}");
    coreapp::store::db::drop_server_database(&config).unwrap();
}

#[test]
fn mysql_nodes_migrating_together_all_succeed_and_unmigrated_or_newer_schemas_are_refused() {
    nodes_migrating_together_all_succeed_and_unmigrated_or_newer_schemas_are_refused(coreapp::testing::mysql_config());
}

#[test]
fn pgsql_nodes_migrating_together_all_succeed_and_unmigrated_or_newer_schemas_are_refused() {
    nodes_migrating_together_all_succeed_and_unmigrated_or_newer_schemas_are_refused(coreapp::testing::pgsql_config());
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

/// User names that differ only by case, made before that was refused, are
/// kept by the migration that makes names unique regardless of case: the
/// first holds the key, the other is reported, and no third look-alike can
/// be created.
fn look_alikes_survive_the_case_rule<C>(
    mut conn: C,
    config: &DbConfig,
    migrations: fn() -> diesel_migrations::EmbeddedMigrations,
) where
    C: diesel::Connection + diesel_migrations::MigrationHarness<C::Backend>,
    diesel_migrations::EmbeddedMigrations: diesel::migration::MigrationSource<C::Backend>,
{
    conn.run_pending_migrations(migrations()).unwrap();
    // Back to the schema before the rule, where look-alikes could be made
    // (every later migration reverted first, which checks their `down`).
    let later = ["20261206000008"];
    for want in later.iter().chain(["20261205000007"].iter()) {
        let reverted = conn.revert_last_migration(migrations()).unwrap();
        assert_eq!(reverted.to_string(), *want, "migrations revert newest first");
    }
    for name in ["Bob1", "bob1", "carol"] {
        conn.batch_execute(&format!(
            "INSERT INTO users (username, password_hash, role, must_change_password, created_at, updated_at) \
             VALUES ('{name}', 'x', 'ROLE_USER', 0, 0, 0)"
        ))
        .unwrap();
    }
    conn.run_pending_migrations(migrations()).unwrap();
    drop(conn);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = Db::connect(config, 2).unwrap();
        let (look_alikes, names) = db
            .run(|conn| Ok((coreapp::store::users::look_alikes(conn)?, coreapp::store::users::list(conn)?)))
            .await
            .unwrap();
        let names: Vec<String> = names.into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Bob1", "bob1", "carol"], "every user is kept");
        assert_eq!(look_alikes, ["bob1"], "the second of the pair is reported");
        let refused = coreapp::api::accounts::create_user(&db, "BOB1".into(), "Bob-pass1!".into()).await;
        assert!(refused.is_err(), "a third look-alike was created");
        coreapp::api::accounts::create_user(&db, "dave".into(), "Dave-pass1!".into()).await.unwrap();
    });
}

#[test]
fn look_alike_user_names_are_kept_and_reported_on_mysql() {
    use diesel::Connection;
    let config = coreapp::testing::mysql_config();
    migrate(&config).unwrap();
    let conn = diesel::MysqlConnection::establish(&url(&config)).unwrap();
    look_alikes_survive_the_case_rule(conn, &config, || coreapp::store::db::MYSQL_MIGRATIONS);
    coreapp::store::db::drop_server_database(&config).unwrap();
}

#[test]
fn look_alike_user_names_are_kept_and_reported_on_pgsql() {
    use diesel::Connection;
    let config = coreapp::testing::pgsql_config();
    migrate(&config).unwrap();
    let conn = diesel::PgConnection::establish(&url(&config)).unwrap();
    look_alikes_survive_the_case_rule(conn, &config, || coreapp::store::db::PGSQL_MIGRATIONS);
    coreapp::store::db::drop_server_database(&config).unwrap();
}

#[test]
fn look_alike_user_names_are_kept_and_reported_on_sqlite() {
    use diesel::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa.db");
    let config = DbConfig::Sqlite { path: path.clone() };
    let conn = diesel::SqliteConnection::establish(&path.display().to_string()).unwrap();
    look_alikes_survive_the_case_rule(conn, &config, || coreapp::store::db::SQLITE_MIGRATIONS);
}

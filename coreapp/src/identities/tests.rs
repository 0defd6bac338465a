use diesel::Connection;
use wire::identity::{Bsuid, IdentifierMode, UserFacts};

use super::*;
use crate::config::DbConfig;
use crate::store::db::migrate;

const A: &str = "US.13491208655302741918";
const A2: &str = "US.20000000000000000002";

fn db() -> (tempfile::TempDir, AnyConnection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    migrate(&DbConfig::Sqlite { path: path.clone() }).unwrap();
    let conn = diesel::SqliteConnection::establish(&path.display().to_string()).unwrap();
    (dir, AnyConnection::Sqlite(conn))
}

fn user(bsuid: &str, phone: Option<&str>) -> UserFacts {
    UserFacts {
        bsuid: Bsuid::parse(bsuid),
        phone: phone.map(str::to_owned),
        username: Some("realsheenanelson".into()),
        profile_name: Some("Sheena Nelson".into()),
        ..UserFacts::default()
    }
}

fn observe(conn: &mut AnyConnection, f: &UserFacts, mode: IdentifierMode) -> Seen {
    let mut r = Registry::load(conn, std::iter::once(f), mode).unwrap();
    r.observe(conn, f, 1).unwrap().unwrap()
}

#[test]
fn a_user_without_a_phone_keeps_one_stand_in_until_the_phone_is_known() {
    let (_dir, mut conn) = db();
    let first = observe(&mut conn, &user(A, None), IdentifierMode::Digits);
    assert_eq!(first.identifier, "280000000000001");
    assert_eq!(first.change, None);
    // Seen again (another batch, another coreapp): the same stand-in.
    let again = observe(&mut conn, &user(A, None), IdentifierMode::Digits);
    assert_eq!(again.identifier, "280000000000001");
    assert_eq!(again.change, None);
    // A second user gets the next one.
    assert_eq!(observe(&mut conn, &user(A2, None), IdentifierMode::Digits).identifier, "280000000000002");

    // The phone becomes known: one change, from the stand-in to the phone.
    let shared = observe(&mut conn, &user(A, Some("16505551234")), IdentifierMode::Digits);
    assert_eq!(shared.identifier, "16505551234");
    assert_eq!(shared.change, Some(Change { from: "280000000000001".into(), to: "16505551234".into() }));
    // Later webhooks without the phone still name the user by it, no change.
    let withheld = observe(&mut conn, &user(A, None), IdentifierMode::Digits);
    assert_eq!((withheld.identifier.as_str(), withheld.change), ("16505551234", None));
    // Sends go to the phone; the stand-in still reaches the user.
    assert_eq!(target(&mut conn, "280000000000001").unwrap(), Some(Target::Phone("16505551234".into())));
    assert_eq!(target(&mut conn, A).unwrap(), Some(Target::Phone("16505551234".into())));
    assert_eq!(target(&mut conn, "280000000000002").unwrap(), Some(Target::Bsuid(A2.into())));
    // A stand-in never given out is unknown.
    assert_eq!(target(&mut conn, "280000000000099").unwrap(), None);
    assert_eq!(known(&mut conn, "280000000000099", IdentifierMode::Digits).unwrap(), None);
    assert_eq!(known(&mut conn, A2, IdentifierMode::Digits).unwrap().as_deref(), Some("280000000000002"));
}

#[test]
fn a_user_first_seen_with_a_phone_never_changes() {
    let (_dir, mut conn) = db();
    let seen = observe(&mut conn, &user(A, Some("16505551234")), IdentifierMode::Digits);
    assert_eq!((seen.identifier.as_str(), seen.change), ("16505551234", None));
    let later = observe(&mut conn, &user(A, None), IdentifierMode::Digits);
    assert_eq!((later.identifier.as_str(), later.change), ("16505551234", None));
}

#[test]
fn the_raw_bsuid_mode_names_users_by_their_bsuid() {
    let (_dir, mut conn) = db();
    let seen = observe(&mut conn, &user(A, None), IdentifierMode::Bsuid);
    assert_eq!(seen.identifier, A);
    let shared = observe(&mut conn, &user(A, Some("16505551234")), IdentifierMode::Bsuid);
    assert_eq!(shared.change, Some(Change { from: A.into(), to: "16505551234".into() }));
}

#[test]
fn a_new_bsuid_is_one_change_from_the_old_identifier() {
    let (_dir, mut conn) = db();
    observe(&mut conn, &user(A, Some("16505551234")), IdentifierMode::Digits);
    // A number change: new BSUID, new phone shared.
    let mut moved = user(A2, Some("16505559876"));
    moved.previous_bsuid = Bsuid::parse(A);
    moved.previous_phone = Some("16505551234".into());
    moved.username = None;
    let seen = observe(&mut conn, &moved, IdentifierMode::Digits);
    assert_eq!(seen.identifier, "16505559876");
    assert_eq!(seen.change, Some(Change { from: "16505551234".into(), to: "16505559876".into() }));
    assert_eq!(seen.username.as_deref(), Some("realsheenanelson"), "kept across the change");
    // The same change told again (the older shape's second event): nothing.
    assert_eq!(observe(&mut conn, &moved, IdentifierMode::Digits).change, None);
    // Sends to the old BSUID follow to the new user.
    assert_eq!(target(&mut conn, A).unwrap(), Some(Target::Phone("16505551234".into())));
}

#[test]
fn a_new_bsuid_without_a_phone_gets_a_new_stand_in() {
    let (_dir, mut conn) = db();
    let before = observe(&mut conn, &user(A, None), IdentifierMode::Digits);
    let mut moved = user(A2, None);
    moved.previous_bsuid = Bsuid::parse(A);
    let seen = observe(&mut conn, &moved, IdentifierMode::Digits);
    assert_eq!(seen.change, Some(Change { from: before.identifier.clone(), to: "280000000000002".into() }));
    // The old stand-in now reaches the user's new BSUID.
    assert_eq!(target(&mut conn, &before.identifier).unwrap(), Some(Target::Bsuid(A2.into())));
}

#[test]
fn older_webhooks_without_bsuids_name_users_by_phone() {
    let (_dir, mut conn) = db();
    let f = UserFacts { phone: Some("16505551234".into()), ..UserFacts::default() };
    let seen = observe(&mut conn, &f, IdentifierMode::Digits);
    assert_eq!((seen.identifier.as_str(), seen.bsuid, seen.change), ("16505551234", None, None));
    assert_eq!(target(&mut conn, "16505551234").unwrap(), Some(Target::Phone("16505551234".into())));
}

#[test]
fn a_send_answer_adds_users_not_yet_known_and_changes_no_one() {
    let (_dir, mut conn) = db();
    let answer = UserFacts { bsuid: Bsuid::parse(A), phone: Some("16505551234".into()), ..UserFacts::default() };
    record_addressee(&mut conn, &answer, 1).unwrap();
    record_addressee(&mut conn, &answer, 2).unwrap();
    assert_eq!(known(&mut conn, A, IdentifierMode::Digits).unwrap().as_deref(), Some("16505551234"));
    // A user known by a stand-in is left to the webhooks (which announce).
    observe(&mut conn, &user(A2, None), IdentifierMode::Digits);
    let later = UserFacts { bsuid: Bsuid::parse(A2), phone: Some("16505559999".into()), ..UserFacts::default() };
    record_addressee(&mut conn, &later, 3).unwrap();
    assert!(is_standin_of(&known(&mut conn, A2, IdentifierMode::Digits).unwrap().unwrap()));
}

fn is_standin_of(id: &str) -> bool {
    wire::identity::standin_seq(id).is_some()
}

#[test]
fn a_phone_needs_no_lookup_and_answers_as_the_lookup_does() {
    let (_dir, mut conn) = db();
    let standin = wire::identity::standin(7).unwrap();
    for to in ["15551234567", "4915112345678"] {
        assert_eq!(phone_target(to), Some(Target::Phone(to.into())));
        assert_eq!(phone_target(to), target(&mut conn, to).unwrap(), "{to}");
    }
    // Stand-ins and BSUIDs go to the registry.
    assert_eq!(phone_target(A), None);
    assert_eq!(phone_target(&standin), None);
}

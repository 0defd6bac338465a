use super::*;
use serde_json::json;

fn b(s: &str) -> Bsuid {
    Bsuid::parse(s).unwrap()
}

#[test]
fn bsuids_parse_as_cloud_writes_them() {
    let user = b("US.13491208655302741918");
    assert!(!user.is_parent());
    assert_eq!(user.as_str(), "US.13491208655302741918");
    assert!(b("US.ENT.11815799212886844830").is_parent());
    assert!(Bsuid::parse(&format!("BR.{}", "a1".repeat(64))).is_some());
    for bad in [
        "",
        "13491208655302741918",
        "us.1349",
        "USA.1349",
        "US.",
        "US.ENT.",
        "US.13-49",
        "US.13 49",
        "U1.1349",
        &format!("BR.{}", "a".repeat(129)),
    ] {
        assert_eq!(Bsuid::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn standins_are_fifteen_digits_under_a_spare_country_code() {
    assert_eq!(standin(1).as_deref(), Some("280000000000001"));
    assert_eq!(standin(123_456).as_deref(), Some("280000000123456"));
    let last = standin(STANDIN_MAX_SEQ).unwrap();
    assert_eq!(last, "280999999999999");
    assert_eq!(last.len(), STANDIN_LEN);
    assert!(last.parse::<i64>().is_ok(), "fits a signed 64-bit column");
    assert_eq!(standin(0), None);
    assert_eq!(standin(STANDIN_MAX_SEQ + 1), None);

    for seq in [1, 7, 99_999, STANDIN_MAX_SEQ] {
        assert_eq!(standin_seq(&standin(seq).unwrap()), Some(seq));
    }
    assert_eq!(standin_seq("+280000000000042"), Some(42));
    for not in
        ["280000000000000", "28000000000001", "2800000000000001", "15551234567", "281000000000001", "28000000000000x"]
    {
        assert_eq!(standin_seq(not), None, "{not}");
    }
}

#[test]
fn recipients_are_phones_standins_or_bsuids() {
    assert_eq!(Recipient::parse("+1 (555) 123-4567"), Some(Recipient::Phone("15551234567".into())));
    assert_eq!(Recipient::parse("15551234567"), Some(Recipient::Phone("15551234567".into())));
    assert_eq!(Recipient::parse("280000000000007"), Some(Recipient::Standin(7)));
    assert_eq!(Recipient::parse("+280 000 000 000 007"), Some(Recipient::Standin(7)));
    assert_eq!(Recipient::parse("US.13491208655302741918"), Some(Recipient::Bsuid(b("US.13491208655302741918"))));
    for bad in ["", "   ", "abc", "1555abc", "US:1349"] {
        assert_eq!(Recipient::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn modes_parse_and_print() {
    for mode in [IdentifierMode::Digits, IdentifierMode::Bsuid] {
        assert_eq!(IdentifierMode::parse(mode.as_str()), Some(mode));
    }
    assert_eq!(IdentifierMode::default(), IdentifierMode::Digits);
    assert_eq!(IdentifierMode::parse("phone"), None);
}

/// The `value` of a `messages` change from the fixture `name`.
fn fixture_value(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/cloud-webhooks/{name}", env!("CARGO_MANIFEST_DIR"));
    let root: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    root["entry"][0]["changes"][0]["value"].clone()
}

#[test]
fn a_username_user_without_a_shared_phone() {
    let value = fixture_value("bsuid-text-username-no-phone.json");
    assert_eq!(
        facts(&value),
        vec![UserFacts {
            bsuid: Some(b("US.13491208655302741918")),
            parent_bsuid: Some(b("US.ENT.11815799212886844830")),
            username: Some("realsheenanelson".into()),
            profile_name: Some("Sheena Nelson".into()),
            ..UserFacts::default()
        }]
    );
}

#[test]
fn a_user_whose_phone_is_shared() {
    let value = fixture_value("bsuid-text-with-phone.json");
    let got = facts(&value);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].bsuid, Some(b("US.13491208655302741918")));
    assert_eq!(got[0].phone.as_deref(), Some("16505551234"));
    assert_eq!(got[0].profile_name.as_deref(), Some("Sheena Nelson"));
}

#[test]
fn older_messages_have_the_phone_and_maybe_a_bsuid() {
    let value = fixture_value("bindambc-text.json");
    assert_eq!(
        facts(&value),
        vec![UserFacts {
            phone: Some("1111111111111".into()),
            profile_name: Some("Mauricio Binda".into()),
            ..UserFacts::default()
        }]
    );
    let got = facts(&fixture_value("pywa-text.json"));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].phone.as_deref(), Some("972987654321"));
    assert_eq!(got[0].bsuid, Some(b("US.13491208655302741918")));
    assert_eq!(got[0].parent_bsuid, Some(b("US.ENT.11815799212886844830")));

    // A status whose contacts block names the same user by phone.
    let got = facts(&fixture_value("pywa-status-delivered.json"));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].bsuid, Some(b("US.13491208655302741918")));
}

#[test]
fn statuses_name_their_recipient() {
    let value = fixture_value("bsuid-status-delivered-no-phone.json");
    assert_eq!(
        facts(&value),
        vec![UserFacts {
            bsuid: Some(b("US.13491208655302741918")),
            username: Some("realsheenanelson".into()),
            ..UserFacts::default()
        }]
    );

    // A failed status of a message sent to the phone: the phone only.
    let failed = json!({"statuses": [{"id": "wamid.x", "status": "failed", "recipient_id": "16505551234"}]});
    assert_eq!(facts(&failed), vec![UserFacts { phone: Some("16505551234".into()), ..UserFacts::default() }]);
}

#[test]
fn a_number_change_names_the_new_phone_and_the_old() {
    // The legacy shape: `from` is the old number, `system.wa_id` the new.
    let value = fixture_value("pywa-system-user-changed-number.json");
    assert_eq!(
        facts(&value),
        vec![UserFacts {
            phone: Some("972912345678".into()),
            previous_phone: Some("972987654321".into()),
            ..UserFacts::default()
        }]
    );

    // Today's shape: a new BSUID too, with the one it replaces.
    let value = fixture_value("bsuid-system-user-changed-number.json");
    let got = facts(&value);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].bsuid, Some(b("US.20000000000000000002")));
    assert_eq!(got[0].previous_bsuid, Some(b("US.13491208655302741918")));
    assert_eq!(got[0].phone.as_deref(), Some("16505559876"));
    assert_eq!(got[0].previous_phone.as_deref(), Some("16505551234"));
}

#[test]
fn a_bsuid_change_without_a_phone() {
    let value = fixture_value("bsuid-system-user-changed-user-id.json");
    assert_eq!(
        facts(&value),
        vec![UserFacts {
            bsuid: Some(b("US.20000000000000000002")),
            previous_bsuid: Some(b("US.13491208655302741918")),
            ..UserFacts::default()
        }]
    );

    // The June 2026 shape, a field of its own.
    let update = json!({"user_id": {"previous": "US.13491208655302741918", "current": "US.20000000000000000002"}});
    assert_eq!(
        facts(&update),
        vec![UserFacts {
            bsuid: Some(b("US.20000000000000000002")),
            previous_bsuid: Some(b("US.13491208655302741918")),
            ..UserFacts::default()
        }]
    );
}

#[test]
fn a_contact_share_on_request_gives_the_sender_phone() {
    let value = fixture_value("bsuid-contacts-contact-request.json");
    let got = facts(&value);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].bsuid, Some(b("US.13491208655302741918")));
    assert_eq!(got[0].phone.as_deref(), Some("16505551234"));

    // A card of someone else (origin other) is not the sender's number.
    let mut other = value.clone();
    other["messages"][0]["contacts"][0]["origin"] = json!("other");
    assert_eq!(facts(&other)[0].phone, None);
}

#[test]
fn anything_else_says_nothing() {
    for value in [json!({}), json!({"messages": 5}), json!({"contacts": [{"profile": {"name": "x"}}]}), json!(null)] {
        assert_eq!(facts(&value), vec![], "{value}");
    }
}

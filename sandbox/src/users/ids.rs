//! The identifiers of a simulated WhatsApp user: the business-scoped user
//! ID (BSUID) and parent BSUID the sandbox derives for them, the syntax Cloud
//! accepts for both, usernames, and the country a phone number belongs to.
//!
//! A BSUID is an ISO 3166 alpha-2 country code, a period and up to 128
//! letters and digits (`US.13491208655302741918`); a parent BSUID has `ENT.`
//! after the country (`US.ENT.11815799212886844830`). Cloud gives a user one
//! per business portfolio, so the sandbox derives it from (portfolio, phone)
//! with a hash: the same user gets the same id after a restart, and another
//! phone (a number change) gives another id, as on Cloud.

use sha2::{Digest, Sha256};

/// Longest identifier part after the country (and `ENT.`), as Cloud documents.
const ID_MAX: usize = 128;

/// Digits of the identifier part the sandbox derives: the length of Meta's
/// examples.
const DERIVED_DIGITS: u32 = 20;

/// Shortest and longest username (Cloud: 3 to 35 of `a-z 0-9 . _`).
pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 35;

/// Shortest and longest phone number the control API takes for a user: a
/// country code and a subscriber number, at most E.164's 15 digits.
const PHONE_MIN: usize = 7;
const PHONE_MAX: usize = 15;

/// The country of a BSUID when the phone's calling code is not in
/// [`COUNTRIES`].
pub const DEFAULT_COUNTRY: &str = "US";

/// Calling codes to the ISO 3166 country the sandbox names BSUIDs after.
/// Calling codes are prefix-free, so at most one entry matches a number. `1`
/// is the whole North American plan, named `US` as in Meta's examples.
/// Anything not listed is [`DEFAULT_COUNTRY`].
const COUNTRIES: &[(&str, &str)] = &[
    ("1", "US"),
    ("7", "RU"),
    ("20", "EG"),
    ("27", "ZA"),
    ("31", "NL"),
    ("32", "BE"),
    ("33", "FR"),
    ("34", "ES"),
    ("39", "IT"),
    ("41", "CH"),
    ("43", "AT"),
    ("44", "GB"),
    ("45", "DK"),
    ("46", "SE"),
    ("47", "NO"),
    ("48", "PL"),
    ("49", "DE"),
    ("52", "MX"),
    ("54", "AR"),
    ("55", "BR"),
    ("57", "CO"),
    ("61", "AU"),
    ("62", "ID"),
    ("63", "PH"),
    ("81", "JP"),
    ("82", "KR"),
    ("86", "CN"),
    ("90", "TR"),
    ("91", "IN"),
    ("234", "NG"),
    ("254", "KE"),
    ("351", "PT"),
    ("353", "IE"),
    ("966", "SA"),
    ("971", "AE"),
    ("972", "IL"),
];

/// The calling code and country of `phone` (digits), when it is listed.
pub fn calling_code(phone: &str) -> Option<(&'static str, &'static str)> {
    COUNTRIES.iter().copied().find(|(code, _)| phone.starts_with(code))
}

/// The ISO 3166 alpha-2 country a BSUID of `phone` starts with.
pub fn country_of(phone: &str) -> &'static str {
    calling_code(phone).map_or(DEFAULT_COUNTRY, |(_, country)| country)
}

/// The BSUID of the user with `phone` in business portfolio `portfolio`.
pub fn user_id(portfolio: &str, phone: &str) -> String {
    format!("{}.{}", country_of(phone), derived_digits("user", portfolio, phone))
}

/// The parent BSUID of the user with `phone` in `portfolio`.
pub fn parent_user_id(portfolio: &str, phone: &str) -> String {
    format!("{}.ENT.{}", country_of(phone), derived_digits("parent", portfolio, phone))
}

/// Twenty decimal digits from a SHA-256 of what the id depends on; `kind`
/// keeps a user's id and parent id apart.
fn derived_digits(kind: &str, portfolio: &str, phone: &str) -> String {
    let digest = Sha256::digest(format!("{kind}\0{portfolio}\0{phone}").as_bytes());
    let mut head = [0u8; 16];
    head.copy_from_slice(&digest[..16]);
    let n = u128::from_be_bytes(head) % 10u128.pow(DERIVED_DIGITS);
    format!("{n:020}")
}

/// What a string that looks like a business-scoped id is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A BSUID (`US.1349…`).
    User,
    /// A parent BSUID (`US.ENT.1181…`).
    Parent,
}

/// Whether `s` has the syntax of a BSUID or parent BSUID, and which.
pub fn parse_id(s: &str) -> Option<IdKind> {
    let (country, rest) = s.split_once('.')?;
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let (kind, id) = match rest.strip_prefix("ENT.") {
        Some(id) => (IdKind::Parent, id),
        None => (IdKind::User, rest),
    };
    let valid = !id.is_empty() && id.len() <= ID_MAX && id.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then_some(kind)
}

/// Checks a username: 3 to 35 characters of `a-z`, `0-9`, `.` and `_`.
pub fn check_username(username: &str) -> Result<(), String> {
    let length = username.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&length) {
        return Err(format!(
            "username {username:?} must be {USERNAME_MIN} to {USERNAME_MAX} characters long, not {length}"
        ));
    }
    if let Some(bad) = username.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '_')) {
        return Err(format!("username {username:?} may hold only a-z, 0-9, '.' and '_', not {bad:?}"));
    }
    Ok(())
}

/// Checks a user's phone number as the control API takes it: the wa_id,
/// 7 to 15 digits with the country code, no `+`, no leading zero.
pub fn check_phone(phone: &str) -> Result<(), String> {
    let valid = (PHONE_MIN..=PHONE_MAX).contains(&phone.len())
        && phone.bytes().all(|b| b.is_ascii_digit())
        && !phone.starts_with('0');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "phone {phone:?} must be a wa_id: {PHONE_MIN} to {PHONE_MAX} digits with the country code, no '+', no leading 0"
        ))
    }
}

/// The phone as a user's own contact card writes it: `+1 650-555-1234` for
/// North American numbers, `+<calling code> <rest>` for listed countries,
/// `+<digits>` otherwise.
pub fn display_phone(phone: &str) -> String {
    if let Some(national) = phone.strip_prefix('1')
        && national.len() == 10
    {
        return format!("+1 {}-{}-{}", &national[..3], &national[3..6], &national[6..]);
    }
    match calling_code(phone) {
        Some((code, _)) => format!("+{code} {}", &phone[code.len()..]),
        None => format!("+{phone}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_scoped() {
        let id = user_id("200000000000001", "16505551234");
        assert_eq!(id, user_id("200000000000001", "16505551234"), "the same inputs, the same id");
        assert_eq!(parse_id(&id), Some(IdKind::User));
        let (country, digits) = id.split_once('.').unwrap();
        assert_eq!(country, "US");
        assert_eq!(digits.len(), 20);
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(id, user_id("200000000000002", "16505551234"), "another portfolio, another id");
        assert_ne!(id, user_id("200000000000001", "16505559876"), "another phone, another id");

        let parent = parent_user_id("200000000000001", "16505551234");
        assert!(parent.starts_with("US.ENT."), "{parent}");
        assert_eq!(parse_id(&parent), Some(IdKind::Parent));
        assert_ne!(&parent[7..], digits, "parent and user ids differ");
    }

    #[test]
    fn countries_by_calling_code() {
        assert_eq!(country_of("16505551234"), "US");
        assert_eq!(country_of("442079460958"), "GB");
        assert_eq!(country_of("491701234567"), "DE");
        assert_eq!(country_of("972501234567"), "IL");
        assert_eq!(country_of("5215512345678"), "MX");
        assert_eq!(country_of("8801712345678"), DEFAULT_COUNTRY, "Bangladesh is not listed");
        assert!(user_id("1", "442079460958").starts_with("GB."));
    }

    #[test]
    fn id_syntax() {
        for ok in ["US.13491208655302741918", "GB.abc123", "US.ENT.11815799212886844830"] {
            assert!(parse_id(ok).is_some(), "{ok}");
        }
        let longest = format!("US.{}", "9".repeat(128));
        assert!(parse_id(&longest).is_some());
        for bad in [
            "16505551234",
            "US.",
            "us.123",
            "USA.123",
            "US.12-3",
            "US.ENT.",
            ".123",
            &format!("US.{}", "9".repeat(129)),
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn usernames() {
        for ok in ["abc", "sheena.n", "real_sheena_nelson", "a1.b2_c3", &"x".repeat(35)] {
            assert!(check_username(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "", "Sheena", "sheena-n", "sheena n", "émile", &"x".repeat(36)] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        for ok in ["15550001234", "4915112345678", "1234567", "123456789012345"] {
            assert!(check_phone(ok).is_ok(), "{ok}");
        }
        for bad in ["", "123456", "1234567890123456", "+15550001234", "05550001234", "1555-000-1234", "US.123"] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_as_cards_write_them() {
        assert_eq!(display_phone("16505551234"), "+1 650-555-1234");
        assert_eq!(display_phone("442079460958"), "+44 2079460958");
        assert_eq!(display_phone("8801712345678"), "+8801712345678");
    }
}

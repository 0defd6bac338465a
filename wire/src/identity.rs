//! Who a WhatsApp user is. The old client knew users only by phone number
//! (`wa_id`); since 2026 Cloud names every user by a business-scoped user ID
//! (BSUID, `US.13491208655302741918`) and withholds the phone of users with
//! a username unless this business exchanged messages with them in the last
//! 30 days or they are in its contact book.
//!
//! This module holds the pure parts of keeping legacy integrations working
//! through that:
//! - [`Bsuid`]: the syntax of a BSUID or parent BSUID;
//! - stand-in identifiers ([`standin`], [`standin_seq`]): digits only, under a
//!   country code the ITU keeps spare, so they can never be a real phone
//!   number yet fit the numeric columns and digit-only parsers integrations
//!   have;
//! - [`Recipient`]: what the business put in `to`;
//! - [`facts`]: what one Cloud webhook tells about users, for the registry.

use serde_json::Value;

/// A business-scoped user ID or parent BSUID: an ISO 3166 alpha-2 country
/// code, a period, optionally `ENT.` (a parent), then 1 to 128 ASCII letters
/// and digits. Kept exactly as Cloud wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bsuid(String);

/// The longest identifier part Cloud documents.
const BSUID_MAX_ID: usize = 128;

impl Bsuid {
    pub fn parse(s: &str) -> Option<Bsuid> {
        let (country, rest) = s.split_once('.')?;
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let id = rest.strip_prefix("ENT.").unwrap_or(rest);
        if id.is_empty() || id.len() > BSUID_MAX_ID || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        Some(Bsuid(s.to_owned()))
    }

    /// A parent BSUID (`US.ENT.…`), shared by the numbers of an enrolled
    /// business.
    pub fn is_parent(&self) -> bool {
        self.0[3..].starts_with("ENT.")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Bsuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The country code of stand-in identifiers. ITU-T E.164 keeps 280-289
/// spare, and country codes are prefix-free (no code is `2` or `28`), so no
/// real number starts with these digits while 280 stays unassigned.
pub const STANDIN_COUNTRY_CODE: &str = "280";

/// Stand-ins are as long as E.164 allows, 15 digits: the country code and
/// a 12-digit sequence number. The largest, 280999999999999, fits a signed
/// 64-bit column.
pub const STANDIN_LEN: usize = 15;

/// The largest sequence number a stand-in can carry.
pub const STANDIN_MAX_SEQ: u64 = 999_999_999_999;

/// The stand-in identifier for sequence number `seq` (1 and up), or `None`
/// past [`STANDIN_MAX_SEQ`].
pub fn standin(seq: u64) -> Option<String> {
    (1..=STANDIN_MAX_SEQ).contains(&seq).then(|| format!("{STANDIN_COUNTRY_CODE}{seq:012}"))
}

/// The sequence number of a stand-in identifier; `None` when `s` is not one
/// (not 15 digits under [`STANDIN_COUNTRY_CODE`], or the sequence 0).
pub fn standin_seq(s: &str) -> Option<u64> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.len() != STANDIN_LEN || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq: u64 = digits.strip_prefix(STANDIN_COUNTRY_CODE)?.parse().ok()?;
    (seq > 0).then_some(seq)
}

/// How a user without a shared phone number is named to the business
/// (the `identity.identifier` setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentifierMode {
    /// A stand-in identifier: digits only (the default).
    #[default]
    Digits,
    /// The raw BSUID, for integrations that accept it.
    Bsuid,
}

impl IdentifierMode {
    pub fn parse(s: &str) -> Option<IdentifierMode> {
        match s {
            "digits" => Some(IdentifierMode::Digits),
            "bsuid" => Some(IdentifierMode::Bsuid),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierMode::Digits => "digits",
            IdentifierMode::Bsuid => "bsuid",
        }
    }
}

/// What the business put in `to` (or in a contacts check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// A phone number, as the digits of its `wa_id`.
    Phone(String),
    /// A stand-in identifier we gave out, by its sequence number.
    Standin(u64),
    /// A BSUID, exactly as Cloud gave it.
    Bsuid(Bsuid),
}

impl Recipient {
    /// Reads `to`: a BSUID, a stand-in, or else a phone number written the
    /// ways the old client took (`+`, spaces, dashes, brackets, dots);
    /// `None` when it is none of these.
    pub fn parse(to: &str) -> Option<Recipient> {
        let to = to.trim();
        if let Some(b) = Bsuid::parse(to) {
            return Some(Recipient::Bsuid(b));
        }
        let digits: String = to.chars().filter(char::is_ascii_digit).collect();
        let allowed = to.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if !allowed || digits.is_empty() {
            return None;
        }
        Some(match standin_seq(&digits) {
            Some(seq) => Recipient::Standin(seq),
            None => Recipient::Phone(digits),
        })
    }
}

/// What a webhook says about one user. Every field is what Cloud sent, or
/// `None` when it said nothing of it (a withheld phone is `None`, never an
/// empty string).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserFacts {
    pub bsuid: Option<Bsuid>,
    pub parent_bsuid: Option<Bsuid>,
    /// The phone number (`wa_id`), digits only.
    pub phone: Option<String>,
    pub username: Option<String>,
    pub profile_name: Option<String>,
    /// The user's BSUID before a change Cloud reports (a system message).
    pub previous_bsuid: Option<Bsuid>,
    /// The user's phone before a number change Cloud reports.
    pub previous_phone: Option<String>,
}

impl UserFacts {
    fn is_empty(&self) -> bool {
        self == &UserFacts::default()
    }

    /// Adds what `other` knows and `self` does not.
    fn merge(&mut self, other: UserFacts) {
        fn keep<T>(mine: &mut Option<T>, theirs: Option<T>) {
            if mine.is_none() {
                *mine = theirs;
            }
        }
        keep(&mut self.bsuid, other.bsuid);
        keep(&mut self.parent_bsuid, other.parent_bsuid);
        keep(&mut self.phone, other.phone);
        keep(&mut self.username, other.username);
        keep(&mut self.profile_name, other.profile_name);
        keep(&mut self.previous_bsuid, other.previous_bsuid);
        keep(&mut self.previous_phone, other.previous_phone);
    }

    /// Whether the two describe the same user: the same BSUID, or, where
    /// either lacks one, the same phone.
    fn same_user(&self, other: &UserFacts) -> bool {
        match (&self.bsuid, &other.bsuid) {
            (Some(a), Some(b)) => a == b,
            _ => self.phone.is_some() && self.phone == other.phone,
        }
    }
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn bsuid(v: &Value, pointer: &str) -> Option<Bsuid> {
    v.pointer(pointer).and_then(Value::as_str).and_then(Bsuid::parse)
}

fn phone(v: &Value, pointer: &str) -> Option<String> {
    let digits: String = text(v, pointer)?.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// A `contacts[]` entry of a message or status webhook.
fn contact_facts(c: &Value) -> UserFacts {
    UserFacts {
        bsuid: bsuid(c, "/user_id"),
        parent_bsuid: bsuid(c, "/parent_user_id"),
        phone: phone(c, "/wa_id"),
        username: text(c, "/profile/username"),
        profile_name: text(c, "/profile/name"),
        ..UserFacts::default()
    }
}

/// Everything the `value` of one `messages` change says about users, one
/// entry per user, in the order they first appear:
/// - `contacts[]` (`user_id`, `parent_user_id`, `wa_id`, `profile.username`,
///   `profile.name`), joined with the message they introduce;
/// - a message's sender (`from_user_id`, `from_parent_user_id`, `from`);
/// - a status's recipient (`recipient_user_id`, `recipient_parent_user_id`,
///   `recipient_id`) and its own `contacts[]`;
/// - system messages: `previous_user_id` (a new BSUID) and a number change
///   (`wa_id`/`new_wa_id` is the new phone, `from` the old one), and the
///   older `user_id_update` shape (`user_id: {previous, current}`);
/// - a contact share made at the business's request (`origin:
///   contact_request`): the sender's phone is the shared `phones[].wa_id`.
pub fn facts(value: &Value) -> Vec<UserFacts> {
    let mut out: Vec<UserFacts> = Vec::new();
    let mut add = |f: UserFacts| {
        if f.is_empty() || (f.bsuid.is_none() && f.phone.is_none()) {
            return;
        }
        match out.iter_mut().find(|known| known.same_user(&f)) {
            Some(known) => known.merge(f),
            None => out.push(f),
        }
    };
    let contacts: Vec<UserFacts> =
        value.get("contacts").and_then(Value::as_array).into_iter().flatten().map(contact_facts).collect();
    let mut used = vec![false; contacts.len()];

    for m in value.get("messages").and_then(Value::as_array).into_iter().flatten() {
        let mut sender = UserFacts {
            bsuid: bsuid(m, "/from_user_id"),
            parent_bsuid: bsuid(m, "/from_parent_user_id"),
            phone: phone(m, "/from"),
            ..UserFacts::default()
        };
        if m.get("type").and_then(Value::as_str) == Some("system") {
            sender.previous_bsuid = bsuid(m, "/system/previous_user_id");
            if let Some(new) = phone(m, "/system/wa_id").or_else(|| phone(m, "/system/new_wa_id")) {
                // `from` is the number the user had; the new one is theirs now.
                sender.previous_phone = sender.phone.take().filter(|old| *old != new);
                sender.phone = Some(new);
            }
        }
        if m.get("type").and_then(Value::as_str) == Some("contacts") {
            let shared = m
                .get("contacts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|c| c.get("origin").and_then(Value::as_str) == Some("contact_request"))
                .find_map(|c| c.get("phones").and_then(Value::as_array)?.iter().find_map(|p| phone(p, "/wa_id")));
            if sender.phone.is_none() {
                sender.phone = shared;
            }
        }
        // The contact this message's sender is: by BSUID, else by phone,
        // else the only one.
        let lone = contacts.len() == 1 && sender.bsuid.is_none();
        let contact = contacts.iter().position(|c| c.same_user(&sender)).or_else(|| {
            // Older shapes: a number change's contact is the user under
            // their old number.
            let old = sender.previous_phone.as_ref();
            contacts.iter().position(|c| old.is_some() && c.phone.as_ref() == old)
        });
        let contact = contact.or(if lone && sender.phone.is_none() { Some(0) } else { None });
        if let Some(i) = contact {
            used[i] = true;
            // Such a contact describes the user before the change; the
            // message itself knows better.
            let mut c = contacts[i].clone();
            if sender.previous_phone.is_some() {
                c.phone = None;
            }
            sender.merge(c);
        }
        add(sender);
    }

    for s in value.get("statuses").and_then(Value::as_array).into_iter().flatten() {
        let mut recipient = UserFacts {
            bsuid: bsuid(s, "/recipient_user_id"),
            parent_bsuid: bsuid(s, "/recipient_parent_user_id"),
            phone: phone(s, "/recipient_id"),
            ..UserFacts::default()
        };
        // A status's contacts describe its recipient.
        for c in s.get("contacts").and_then(Value::as_array).into_iter().flatten() {
            recipient.merge(contact_facts(c));
        }
        add(recipient);
    }

    if let Some(update) = value.get("user_id") {
        add(UserFacts {
            bsuid: bsuid(update, "/current"),
            previous_bsuid: bsuid(update, "/previous"),
            phone: phone(value, "/wa_id"),
            ..UserFacts::default()
        });
    }

    // Contacts no message claimed (those of statuses, for instance).
    for (c, used) in contacts.into_iter().zip(used) {
        if !used {
            add(c);
        }
    }
    out
}

/// The entry of `users` (what [`facts`] found in the same change) that is
/// the sender of `message`: by `from_user_id`, else by `from` (for a number
/// change, `from` is the old phone).
pub fn sender_of<'a>(users: &'a [UserFacts], message: &Value) -> Option<&'a UserFacts> {
    if let Some(b) = bsuid(message, "/from_user_id") {
        return users.iter().find(|u| u.bsuid.as_ref() == Some(&b));
    }
    let from = phone(message, "/from")?;
    users.iter().find(|u| u.phone.as_ref() == Some(&from) || u.previous_phone.as_ref() == Some(&from))
}

/// The entry of `users` that is the recipient of `status`: by
/// `recipient_user_id`, else by `recipient_id`.
pub fn recipient_of<'a>(users: &'a [UserFacts], status: &Value) -> Option<&'a UserFacts> {
    if let Some(b) = bsuid(status, "/recipient_user_id") {
        return users.iter().find(|u| u.bsuid.as_ref() == Some(&b));
    }
    let to = phone(status, "/recipient_id")?;
    users.iter().find(|u| u.phone.as_ref() == Some(&to))
}

#[cfg(test)]
mod tests;

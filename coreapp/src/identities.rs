//! The identity registry: who each WhatsApp user is to the business.
//!
//! Legacy integrations know users by phone number. Cloud names every user by
//! a business-scoped user ID (BSUID) and, for users with a username, shares
//! the phone only sometimes. The registry (`whatsapp_users`) keeps, per
//! BSUID, the phone once it was ever shared, and gives the business one
//! identifier per user:
//! - the phone number, once known (it stays, even when Cloud stops
//!   repeating it: Cloud still takes sends to it);
//! - otherwise, per the `identity.identifier` setting, a stand-in of digits
//!   (`280` and the row's 12-digit sequence number, which no phone number
//!   can be) or the raw BSUID.
//!
//! When the identifier of a user the business already knew changes (their
//! phone became known, or Cloud reports a new BSUID or number), the business
//! gets the old client's `user_changed_number` event from the one to the
//! other. Each change is recorded by a conditional update, so of several
//! coreapps seeing it, exactly one tells the business.

use std::collections::HashMap;

use wire::identity::{self, IdentifierMode, Recipient, UserFacts};

use crate::error::CoreError;
use crate::store::db::AnyConnection;
use crate::store::whatsapp_users::{self as rows, WhatsappUser};

/// How many BSUID replacements a send follows to the user's latest BSUID.
const MAX_HOPS: usize = 16;

/// The identifier the business sees for a user.
pub fn identifier(row: &WhatsappUser, mode: IdentifierMode) -> String {
    if let Some(phone) = &row.phone {
        return phone.clone();
    }
    match mode {
        IdentifierMode::Bsuid => row.bsuid.clone(),
        IdentifierMode::Digits => {
            let seq = u64::try_from(row.seq).unwrap_or_default();
            // Past 10^12 users the sequence no longer fits a stand-in;
            // the BSUID is the only name left.
            identity::standin(seq).unwrap_or_else(|| row.bsuid.clone())
        }
    }
}

/// What the business is told about a user Cloud mentioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub identifier: String,
    pub bsuid: Option<String>,
    pub username: Option<String>,
    pub profile_name: Option<String>,
    /// The user was known by another identifier until now.
    pub change: Option<Change>,
}

/// A user's identifier changed from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub from: String,
    pub to: String,
}

/// The users of one batch of webhooks, read at once.
pub struct Registry {
    rows: HashMap<String, WhatsappUser>,
    mode: IdentifierMode,
}

impl Registry {
    /// Reads every user the facts name (their BSUIDs and previous BSUIDs) in
    /// one statement.
    pub fn load<'a>(
        conn: &mut AnyConnection,
        facts: impl Iterator<Item = &'a UserFacts>,
        mode: IdentifierMode,
    ) -> Result<Registry, CoreError> {
        let mut bsuids: Vec<String> = facts
            .flat_map(|f| [f.bsuid.as_ref(), f.previous_bsuid.as_ref()])
            .flatten()
            .map(|b| b.to_string())
            .collect();
        bsuids.sort_unstable();
        bsuids.dedup();
        let rows = rows::find_by_bsuids(conn, &bsuids)?.into_iter().map(|r| (r.bsuid.clone(), r)).collect();
        Ok(Registry { rows, mode })
    }

    /// Records what Cloud said about a user and answers how the business
    /// knows them; `None` when Cloud named no one (no BSUID, no phone).
    pub fn observe(&mut self, conn: &mut AnyConnection, f: &UserFacts, now: i64) -> Result<Option<Seen>, CoreError> {
        let Some(bsuid) = f.bsuid.as_ref().map(|b| b.to_string()) else {
            // Cloud's older shapes: the phone is the identifier.
            return Ok(f.phone.as_ref().map(|phone| Seen {
                identifier: phone.clone(),
                bsuid: None,
                username: f.username.clone(),
                profile_name: f.profile_name.clone(),
                change: None,
            }));
        };
        let previous = f.previous_bsuid.as_ref().and_then(|b| self.rows.get(b.as_str())).cloned();
        let mode = self.mode;

        let (mut row, created) = match self.rows.get(&bsuid) {
            Some(row) => (row.clone(), false),
            None => {
                // A new BSUID after a number change keeps what is still
                // true of the user: their username and name.
                let keep = |mine: &Option<String>, old: Option<&String>| mine.clone().or_else(|| old.cloned());
                let fresh = WhatsappUser {
                    seq: 0,
                    bsuid: bsuid.clone(),
                    parent_bsuid: f.parent_bsuid.as_ref().map(|b| b.to_string()),
                    phone: f.phone.clone(),
                    username: keep(&f.username, previous.as_ref().and_then(|p| p.username.as_ref())),
                    profile_name: keep(&f.profile_name, previous.as_ref().and_then(|p| p.profile_name.as_ref())),
                    replaced_by: None,
                    created_at: now,
                    updated_at: now,
                };
                let stored = rows::insert(conn, &fresh)?;
                // Another coreapp may have inserted it first, with less.
                let raced = stored.created_at != now || stored.phone != fresh.phone;
                (stored, !raced)
            }
        };

        let mut change = None;
        if let Some(mut old) = previous.filter(|p| p.seq != row.seq) {
            // Cloud gave the user a new BSUID: the business hears it once,
            // from the identifier it had to the new one.
            if let Some(phone) = f.phone.as_deref().filter(|_| row.phone.is_none())
                && rows::set_phone_if_unknown(conn, row.seq, phone, now)?
            {
                row.phone = Some(phone.to_owned());
            }
            if rows::set_replaced_if_unset(conn, old.seq, row.seq, now)? {
                old.replaced_by = Some(row.seq);
                change = Some(Change { from: identifier(&old, mode), to: identifier(&row, mode) });
            }
            self.rows.insert(old.bsuid.clone(), old);
        } else if created && f.previous_bsuid.is_some() {
            // A new BSUID for a user never seen under the old one: the
            // business knew them by their old phone, if by anything.
            if let Some(old_phone) = &f.previous_phone {
                change = Some(Change { from: old_phone.clone(), to: identifier(&row, mode) });
            }
        } else if !created && let Some(phone) = f.phone.as_deref().filter(|_| row.phone.is_none()) {
            // The phone of a user known by a stand-in or BSUID: from now on
            // it is their identifier.
            let before = identifier(&row, mode);
            if rows::set_phone_if_unknown(conn, row.seq, phone, now)? {
                row.phone = Some(phone.to_owned());
                change = Some(Change { from: before, to: identifier(&row, mode) });
            } else {
                // Another coreapp recorded it (and told the business).
                row.phone = rows::find_by_seq(conn, row.seq)?.and_then(|r| r.phone);
            }
        }

        // Details that do not change who the user is.
        let mut details = row.clone();
        let set = |mine: &mut Option<String>, theirs: Option<String>| {
            if theirs.is_some() && *mine != theirs {
                *mine = theirs;
            }
        };
        set(&mut details.username, f.username.clone());
        set(&mut details.profile_name, f.profile_name.clone());
        set(&mut details.parent_bsuid, f.parent_bsuid.as_ref().map(|b| b.to_string()));
        if details != row {
            details.updated_at = now;
            rows::set_details(conn, &details)?;
            row = details;
        }

        let seen = Seen {
            identifier: identifier(&row, mode),
            bsuid: Some(row.bsuid.clone()),
            username: row.username.clone(),
            profile_name: row.profile_name.clone(),
            change: change.filter(|c| c.from != c.to),
        };
        self.rows.insert(bsuid, row);
        Ok(Some(seen))
    }
}

/// Records whom Cloud said a send reached (its answer's `contacts`): a user
/// not yet known is added with what Cloud said. Known users are left to the
/// webhooks, which announce what changes.
pub fn record_addressee(conn: &mut AnyConnection, f: &UserFacts, now: i64) -> Result<(), CoreError> {
    if let Some(bsuid) = &f.bsuid {
        rows::insert_if_new(conn, bsuid.as_str(), f.phone.as_deref(), now)?;
    }
    Ok(())
}

/// Where a send goes: a phone number (digits) or a BSUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Phone(String),
    Bsuid(String),
}

impl Target {
    /// What `wire::messages::to_cloud` takes.
    pub fn as_str(&self) -> &str {
        match self {
            Target::Phone(s) | Target::Bsuid(s) => s,
        }
    }
}

/// The target of a message to a phone number, which needs no lookup: what
/// [`target`] answers for it without a database. `None` for a stand-in or
/// a BSUID.
pub fn phone_target(to: &str) -> Option<Target> {
    match Recipient::parse(to) {
        None | Some(Recipient::Phone(_)) => Some(Target::Phone(to.to_owned())),
        Some(Recipient::Standin(_) | Recipient::Bsuid(_)) => None,
    }
}

/// Where a message to `to` (what the business wrote, as stored) goes: the
/// user's phone when known (Meta recommends it, and it keeps the phone
/// arriving in webhooks), else their latest BSUID. `None` for a stand-in we
/// never gave out.
pub fn target(conn: &mut AnyConnection, to: &str) -> Result<Option<Target>, CoreError> {
    let row = match Recipient::parse(to) {
        None | Some(Recipient::Phone(_)) => return Ok(Some(Target::Phone(to.to_owned()))),
        Some(Recipient::Standin(seq)) => match i64::try_from(seq).ok() {
            Some(seq) => rows::find_by_seq(conn, seq)?,
            None => None,
        },
        Some(Recipient::Bsuid(b)) => match rows::find_by_bsuid(conn, b.as_str())? {
            Some(row) => Some(row),
            // A BSUID we never saw: Cloud knows it, or says it does not.
            None => return Ok(Some(Target::Bsuid(b.to_string()))),
        },
    };
    let Some(mut row) = row else { return Ok(None) };
    for _ in 0..MAX_HOPS {
        if row.phone.is_some() {
            break;
        }
        match row.replaced_by {
            Some(next) => match rows::find_by_seq(conn, next)? {
                Some(r) => row = r,
                None => break,
            },
            None => break,
        }
    }
    Ok(Some(match row.phone {
        Some(phone) => Target::Phone(phone),
        None => Target::Bsuid(row.bsuid),
    }))
}

/// How the business knows the user it named `input` (a stand-in or a
/// BSUID), for `POST /v1/contacts`; `None` when we do not know them.
pub fn known(conn: &mut AnyConnection, input: &str, mode: IdentifierMode) -> Result<Option<String>, CoreError> {
    let row = match Recipient::parse(input) {
        Some(Recipient::Standin(seq)) => match i64::try_from(seq).ok() {
            Some(seq) => rows::find_by_seq(conn, seq)?,
            None => None,
        },
        Some(Recipient::Bsuid(b)) => rows::find_by_bsuid(conn, b.as_str())?,
        None | Some(Recipient::Phone(_)) => None,
    };
    Ok(row.map(|r| identifier(&r, mode)))
}

#[cfg(test)]
mod tests;

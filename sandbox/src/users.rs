//! The simulated WhatsApp users, and what each business number may learn
//! about them.
//!
//! Since 2026 Cloud names every user by a business-scoped user ID (BSUID,
//! `user_id`) and lets users adopt a username. The phone number of a user
//! with a username reaches a business number only when it is *shareable*:
//! the user is in the portfolio's contact book, or within the last 30 days
//! this business number and the user exchanged a message by phone. Users
//! without a username always show their phone.
//!
//! The sandbox keeps one record per user:
//! - the phone (digits), a BSUID and parent BSUID derived from (portfolio,
//!   phone) (see [`ids`]), an optional username and a profile name;
//! - whether the user is in the portfolio's contact book (one portfolio: the
//!   sandbox's business account);
//! - per hosted business number, the last interaction *by phone* on the
//!   sandbox clock: a send the business addressed to the phone (`to`), or a
//!   message the user sent while their phone was already shareable. A
//!   message from a user whose phone is withheld does not count, or a
//!   business that only knows a username would learn the phone just by
//!   being written to.
//!
//! Users are created by the control API (`POST /_sandbox/users`), or
//! implicitly, without a username, the first time the sandbox sees their
//! phone (an inbound message, a send to the phone).

pub mod ids;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How long an interaction by phone keeps the phone shareable: 30 days.
pub const SHARE_WINDOW_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// The profile name of users nobody named.
pub const DEFAULT_NAME: &str = "Sandbox User";

/// Past this many users, the plain ones (no username, not in the contact
/// book) are dropped: they come back identical when next seen, since their
/// ids derive from their phone and their phone is always shown. A
/// benchmark sending to millions of numbers thus does not grow the sandbox
/// without bound.
const PRUNE_AT: usize = 100_000;

/// One WhatsApp user.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct User {
    /// The wa_id, digits.
    pub phone: String,
    /// The BSUID in the sandbox's portfolio.
    pub user_id: String,
    /// The parent BSUID, shown only while the `parent_user_ids` setting is on.
    pub parent_user_id: String,
    pub username: Option<String>,
    /// The WhatsApp profile name (`contacts[].profile.name`).
    pub name: String,
    /// In the portfolio's contact book.
    pub contact_book: bool,
    /// Hosted number index → the last interaction by phone, unix ms on the
    /// sandbox clock.
    by_phone: HashMap<usize, i64>,
}

/// How a user appears in one webhook: the phone only when shareable, the
/// parent BSUID only when the setting is on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shown {
    pub phone: Option<String>,
    pub user_id: String,
    pub parent_user_id: Option<String>,
    pub username: Option<String>,
    pub name: String,
}

/// A change to a user through `POST /_sandbox/users`; `None` leaves a field
/// as it is.
#[derive(Debug, Clone, Default)]
pub(crate) struct Update {
    /// `Some(None)` removes the username.
    pub username: Option<Option<String>>,
    pub name: Option<String>,
    pub contact_book: Option<bool>,
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UserError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
}

// === impl User ===

impl User {
    fn new(portfolio: &str, phone: &str) -> Self {
        User {
            phone: phone.to_owned(),
            user_id: ids::user_id(portfolio, phone),
            parent_user_id: ids::parent_user_id(portfolio, phone),
            username: None,
            name: DEFAULT_NAME.to_owned(),
            contact_book: false,
            by_phone: HashMap::new(),
        }
    }

    /// Whether webhooks to hosted number `index` may carry the phone at `now_ms`.
    pub fn phone_shared(&self, index: usize, now_ms: i64) -> bool {
        self.username.is_none()
            || self.contact_book
            || self.by_phone.get(&index).is_some_and(|at| now_ms - at < SHARE_WINDOW_MS)
    }

    /// The user as a webhook shows them.
    pub fn shown(&self, phone_shared: bool, parents: bool) -> Shown {
        Shown {
            phone: phone_shared.then(|| self.phone.clone()),
            user_id: self.user_id.clone(),
            parent_user_id: parents.then(|| self.parent_user_id.clone()),
            username: self.username.clone(),
            name: self.name.clone(),
        }
    }

    /// Neither a username nor a place in the contact book: nothing that
    /// could not be derived again from the phone.
    fn is_plain(&self) -> bool {
        self.username.is_none() && !self.contact_book
    }
}

// === Users ===

/// Every user the sandbox knows, behind one mutex never held across an await.
pub(crate) struct Users {
    /// The business portfolio BSUIDs are scoped to (the business account id).
    portfolio: String,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_phone: HashMap<String, User>,
    /// BSUIDs and parent BSUIDs → phone.
    by_id: HashMap<String, String>,
    /// Usernames in use → phone (a username belongs to one user).
    by_username: HashMap<String, String>,
}

impl Inner {
    fn insert(&mut self, user: User) {
        self.by_id.insert(user.user_id.clone(), user.phone.clone());
        self.by_id.insert(user.parent_user_id.clone(), user.phone.clone());
        if let Some(username) = &user.username {
            self.by_username.insert(username.clone(), user.phone.clone());
        }
        self.by_phone.insert(user.phone.clone(), user);
    }

    fn remove(&mut self, phone: &str) -> Option<User> {
        let user = self.by_phone.remove(phone)?;
        self.by_id.remove(&user.user_id);
        self.by_id.remove(&user.parent_user_id);
        if let Some(username) = &user.username {
            self.by_username.remove(username);
        }
        Some(user)
    }

    fn phone_of(&self, key: &str) -> Option<String> {
        let digits = key.strip_prefix('+').unwrap_or(key);
        if self.by_phone.contains_key(digits) {
            return Some(digits.to_owned());
        }
        self.by_id.get(key).cloned()
    }

    fn prune(&mut self) {
        if self.by_phone.len() < PRUNE_AT {
            return;
        }
        let plain: Vec<String> = self.by_phone.values().filter(|u| u.is_plain()).map(|u| u.phone.clone()).collect();
        for phone in plain {
            self.remove(&phone);
        }
    }
}

fn lock(mutex: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // Every change keeps the maps consistent before it returns; a panic
    // cannot leave them half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Users {
    pub(crate) fn new(portfolio: &str) -> Self {
        Users { portfolio: portfolio.to_owned(), inner: Mutex::new(Inner::default()) }
    }

    /// The user with `phone`, created (without a username) when first seen.
    pub(crate) fn get_or_create(&self, phone: &str) -> User {
        let mut inner = lock(&self.inner);
        if let Some(user) = inner.by_phone.get(phone) {
            return user.clone();
        }
        inner.prune();
        let user = User::new(&self.portfolio, phone);
        inner.insert(user.clone());
        user
    }

    /// The user named by `key`: a phone (digits, with or without `+`), a
    /// BSUID or a parent BSUID.
    pub(crate) fn find(&self, key: &str) -> Option<User> {
        let inner = lock(&self.inner);
        let phone = inner.phone_of(key)?;
        inner.by_phone.get(&phone).cloned()
    }

    /// The user with this BSUID or parent BSUID.
    pub(crate) fn find_by_id(&self, id: &str) -> Option<User> {
        let inner = lock(&self.inner);
        inner.by_id.get(id).and_then(|phone| inner.by_phone.get(phone)).cloned()
    }

    /// Creates the user with `phone` or changes it (`POST /_sandbox/users`).
    /// A username someone else has is a conflict.
    pub(crate) fn upsert(&self, phone: &str, update: Update) -> Result<User, UserError> {
        let mut inner = lock(&self.inner);
        if let Some(Some(username)) = &update.username
            && let Some(owner) = inner.by_username.get(username)
            && owner != phone
        {
            return Err(UserError::Conflict(format!("username {username:?} belongs to the user with phone {owner}")));
        }
        let mut user = match inner.remove(phone) {
            Some(user) => user,
            None => {
                inner.prune();
                User::new(&self.portfolio, phone)
            }
        };
        if let Some(username) = update.username {
            user.username = username;
        }
        if let Some(name) = update.name {
            user.name = name;
        }
        if let Some(contact_book) = update.contact_book {
            user.contact_book = contact_book;
        }
        inner.insert(user.clone());
        Ok(user)
    }

    /// The user's profile name is now `name` (they renamed themselves).
    pub(crate) fn set_name(&self, phone: &str, name: &str) {
        if let Some(user) = lock(&self.inner).by_phone.get_mut(phone) {
            user.name = name.to_owned();
        }
    }

    /// Number `index` and the user with `phone` just exchanged a message by phone.
    pub(crate) fn record_by_phone(&self, phone: &str, index: usize, now_ms: i64) {
        if let Some(user) = lock(&self.inner).by_phone.get_mut(phone) {
            user.by_phone.insert(index, now_ms);
        }
    }

    /// Puts the user with `phone` in the portfolio's contact book.
    pub(crate) fn add_to_contact_book(&self, phone: &str) {
        if let Some(user) = lock(&self.inner).by_phone.get_mut(phone) {
            user.contact_book = true;
        }
    }

    /// Removes the user with BSUID (or parent BSUID) `id` from the contact
    /// book; the number of entries removed, 0 or 1.
    pub(crate) fn remove_from_contact_book(&self, id: &str) -> usize {
        let mut inner = lock(&self.inner);
        let Some(phone) = inner.by_id.get(id).cloned() else {
            return 0;
        };
        match inner.by_phone.get_mut(&phone) {
            Some(user) if user.contact_book => {
                user.contact_book = false;
                1
            }
            _ => 0,
        }
    }

    /// The user `key` now has the phone `new_phone`, and with it new ids;
    /// username, name, contact book and interactions stay (the same person).
    /// Returns the user after and before the change.
    pub(crate) fn change_number(&self, key: &str, new_phone: &str) -> Result<(User, User), UserError> {
        let mut inner = lock(&self.inner);
        let phone = inner.phone_of(key).ok_or_else(|| UserError::NotFound(format!("no user {key}")))?;
        if phone == new_phone {
            return Err(UserError::Invalid(format!("the user already has the phone {new_phone}")));
        }
        if inner.by_phone.contains_key(new_phone) {
            return Err(UserError::Conflict(format!("another user has the phone {new_phone}")));
        }
        let before = inner.remove(&phone).ok_or_else(|| UserError::NotFound(format!("no user {key}")))?;
        let fresh = User::new(&self.portfolio, new_phone);
        let after =
            User { phone: fresh.phone, user_id: fresh.user_id, parent_user_id: fresh.parent_user_id, ..before.clone() };
        inner.insert(after.clone());
        Ok((after, before))
    }

    /// Forgets every user.
    pub(crate) fn reset(&self) {
        *lock(&self.inner) = Inner::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTFOLIO: &str = "200000000000001";
    const NOW: i64 = 1_800_000_000_000;

    fn named(username: &str) -> Update {
        Update { username: Some(Some(username.to_owned())), ..Update::default() }
    }

    #[test]
    fn users_appear_when_first_seen_and_are_found_by_any_id() {
        let users = Users::new(PORTFOLIO);
        let user = users.get_or_create("16505551234");
        assert_eq!(user.user_id, ids::user_id(PORTFOLIO, "16505551234"));
        assert_eq!((user.username.as_deref(), user.name.as_str(), user.contact_book), (None, DEFAULT_NAME, false));
        assert_eq!(users.get_or_create("16505551234"), user, "the second sighting is the same user");
        for key in ["16505551234", "+16505551234", user.user_id.as_str(), user.parent_user_id.as_str()] {
            assert_eq!(users.find(key).as_ref(), Some(&user), "{key}");
        }
        assert_eq!(users.find_by_id(&user.user_id).as_ref(), Some(&user));
        assert_eq!(users.find_by_id("16505551234"), None, "find_by_id takes ids only");
        assert_eq!(users.find("16505550000"), None);
    }

    #[test]
    fn the_phone_of_a_username_user_is_shared_for_30_days_after_an_interaction_by_phone() {
        let users = Users::new(PORTFOLIO);
        let plain = users.get_or_create("16505550001");
        assert!(plain.phone_shared(0, NOW), "users without a username always show their phone");

        let user = users.upsert("16505551234", named("sheena.n")).unwrap();
        assert!(!user.phone_shared(0, NOW));
        users.record_by_phone("16505551234", 0, NOW);
        let user = users.find("16505551234").unwrap();
        assert!(user.phone_shared(0, NOW + SHARE_WINDOW_MS - 1));
        assert!(!user.phone_shared(0, NOW + SHARE_WINDOW_MS), "30 days later it is withheld again");
        assert!(!user.phone_shared(1, NOW), "interactions are per business number");

        users.add_to_contact_book("16505551234");
        assert!(users.find("16505551234").unwrap().phone_shared(1, NOW + 10 * SHARE_WINDOW_MS));
        assert_eq!(users.remove_from_contact_book(&user.user_id), 1);
        assert_eq!(users.remove_from_contact_book(&user.user_id), 0, "already out");
        assert_eq!(users.remove_from_contact_book("US.1"), 0, "unknown id");
        assert!(!users.find("16505551234").unwrap().phone_shared(1, NOW));
    }

    #[test]
    fn updates_keep_what_they_do_not_name_and_usernames_are_unique() {
        let users = Users::new(PORTFOLIO);
        users
            .upsert(
                "16505551234",
                Update { name: Some("Sheena Nelson".into()), contact_book: Some(true), ..named("sheena.n") },
            )
            .unwrap();
        let user = users.upsert("16505551234", Update::default()).unwrap();
        assert_eq!(
            (user.username.as_deref(), user.name.as_str(), user.contact_book),
            (Some("sheena.n"), "Sheena Nelson", true)
        );
        assert!(matches!(users.upsert("16505559999", named("sheena.n")), Err(UserError::Conflict(_))));
        let user = users.upsert("16505551234", Update { username: Some(None), ..Update::default() }).unwrap();
        assert_eq!(user.username, None);
        assert!(users.upsert("16505559999", named("sheena.n")).is_ok(), "a dropped username is free again");
    }

    #[test]
    fn a_number_change_gives_new_ids_and_keeps_the_person() {
        let users = Users::new(PORTFOLIO);
        users.upsert("16505551234", Update { contact_book: Some(true), ..named("sheena.n") }).unwrap();
        users.record_by_phone("16505551234", 0, NOW);
        let old = users.find("16505551234").unwrap();

        let (after, before) = users.change_number(&old.user_id, "16505559876").unwrap();
        assert_eq!(before, old);
        assert_eq!(after.phone, "16505559876");
        assert_eq!(after.user_id, ids::user_id(PORTFOLIO, "16505559876"));
        assert_ne!(after.parent_user_id, old.parent_user_id);
        assert_eq!((after.username.as_deref(), after.contact_book), (Some("sheena.n"), true));
        assert_eq!(after.by_phone, old.by_phone, "the interactions carry over");
        assert_eq!(users.find("16505551234"), None, "the old phone is free");
        assert_eq!(users.find_by_id(&old.user_id), None, "the old BSUID names nobody");
        assert_eq!(users.find_by_id(&after.user_id).unwrap().phone, "16505559876");

        users.get_or_create("16505550001");
        assert!(matches!(users.change_number("16505559876", "16505550001"), Err(UserError::Conflict(_))));
        assert!(matches!(users.change_number("16505559876", "16505559876"), Err(UserError::Invalid(_))));
        assert!(matches!(users.change_number("16505550404", "16505550405"), Err(UserError::NotFound(_))));
    }

    #[test]
    fn pruning_keeps_the_users_that_cannot_be_derived_again() {
        let users = Users::new(PORTFOLIO);
        users.upsert("16505551234", named("sheena.n")).unwrap();
        for n in 0..PRUNE_AT - 1 {
            users.get_or_create(&format!("1{n:010}"));
        }
        assert_eq!(lock(&users.inner).by_phone.len(), PRUNE_AT, "nothing pruned below the mark");
        // The next new user prunes every plain one first.
        users.get_or_create("16505550001");
        let inner = lock(&users.inner);
        assert_eq!(inner.by_phone.len(), 2);
        assert!(inner.by_phone.contains_key("16505551234") && inner.by_phone.contains_key("16505550001"));
        assert_eq!(inner.by_id.len(), 4, "the id index follows");
    }
}

//! Per-number account state: registration, the two-step PIN, the business
//! profile and the business compliance information.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use super::compliance::Compliance;
use super::picture::Picture;

/// Register plus deregister calls allowed per number in a moving window (133016).
pub const REGISTRATION_CALLS: usize = 10;
/// The window: 72 hours.
pub const REGISTRATION_WINDOW_MS: i64 = 72 * 3_600_000;

/// One hosted number's account.
#[derive(Debug, Clone)]
pub struct Account {
    /// Registered numbers can send; deregistered ones get 133010.
    pub registered: bool,
    /// The two-step verification PIN, once set.
    pub pin: Option<String>,
    /// Times (sandbox clock, ms) of recent register/deregister calls.
    pub registration_calls: VecDeque<i64>,
    pub profile: Profile,
    /// India's business compliance information, once set.
    pub compliance: Option<Compliance>,
}

/// `whatsapp_business_profile` (`docs/cloud-api.md` §4.4), in Graph's field order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub about: String,
    pub address: String,
    pub description: String,
    pub email: String,
    /// Empty until a picture is set, then the URL `picture` is served at.
    pub profile_picture_url: String,
    pub websites: Vec<String>,
    pub vertical: String,
    /// The bytes behind `profile_picture_url`.
    #[serde(skip)]
    pub picture: Option<Picture>,
}

impl Default for Account {
    fn default() -> Self {
        Account {
            registered: true,
            pin: None,
            registration_calls: VecDeque::new(),
            profile: Profile {
                about: "Simulated by the wa-onprem sandbox".into(),
                address: "1 Sandbox Way, Testville".into(),
                description: "A WhatsApp Business account that exists only in the local Cloud API simulator.".into(),
                email: "sandbox@example.com".into(),
                profile_picture_url: String::new(),
                websites: vec!["https://example.com/".into()],
                vertical: "OTHER".into(),
                picture: None,
            },
            compliance: None,
        }
    }
}

impl Account {
    /// Records a register/deregister call at `now_ms`; false when the number
    /// already used its calls in the window.
    pub fn registration_call(&mut self, now_ms: i64) -> bool {
        while self.registration_calls.front().is_some_and(|at| now_ms - at >= REGISTRATION_WINDOW_MS) {
            self.registration_calls.pop_front();
        }
        if self.registration_calls.len() >= REGISTRATION_CALLS {
            return false;
        }
        self.registration_calls.push_back(now_ms);
        true
    }
}

/// The accounts of every hosted number.
pub(crate) struct Accounts {
    numbers: Vec<Mutex<Account>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Accounts {
    pub(crate) fn new(numbers: usize) -> Self {
        Accounts { numbers: (0..numbers).map(|_| Mutex::new(Account::default())).collect() }
    }

    /// Runs `f` on number `index`'s account.
    pub(crate) fn with<R>(&self, index: usize, f: impl FnOnce(&mut Account) -> R) -> R {
        f(&mut lock(&self.numbers[index]))
    }

    pub(crate) fn is_registered(&self, index: usize) -> bool {
        lock(&self.numbers[index]).registered
    }

    /// The current profile picture called `name`, of whichever number has it.
    pub(crate) fn picture(&self, name: &str) -> Option<Picture> {
        self.numbers
            .iter()
            .find_map(|account| lock(account).profile.picture.as_ref().filter(|p| p.name == name).cloned())
    }

    pub(crate) fn reset(&self) {
        for account in &self.numbers {
            *lock(account) = Account::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_registration_calls_per_72_hours() {
        let mut account = Account::default();
        for n in 0..10 {
            assert!(account.registration_call(n), "call {n}");
        }
        assert!(!account.registration_call(100));
        assert!(!account.registration_call(REGISTRATION_WINDOW_MS - 1));
        assert!(account.registration_call(REGISTRATION_WINDOW_MS), "the first call left the window");
    }
}

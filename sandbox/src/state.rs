//! What every handler shares: the config, the clock, the settings, the
//! records, the webhook client, the task spawner, behind one `Arc`.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::Clock;
use crate::config::Config;
use crate::console::Console;
use crate::faults::Faults;
use crate::media::store::MediaStore;
use crate::phone_numbers::account::Accounts;
use crate::rules::Limits;
use crate::settings::{Settings, SettingsCell};
use crate::stats::Stats;
use crate::store::Store;
use crate::tasks::Tasks;
use crate::templates::store::Templates;
use crate::uploads::store::Uploads;
use crate::users::Users;
use crate::webhooks::Webhooks;
use crate::webhooks::payload::display_phone_number;

/// Cheap to clone (one reference count); handed to every axum handler.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    pub config: Config,
    pub clock: Clock,
    pub settings: Arc<SettingsCell>,
    pub stats: Arc<Stats>,
    pub store: Store,
    pub media: MediaStore,
    /// Resumable Upload API sessions.
    pub uploads: Uploads,
    pub templates: Templates,
    pub accounts: Accounts,
    pub limits: Limits,
    /// The simulated WhatsApp users, their ids and what each number may see.
    pub users: Users,
    pub faults: Faults,
    pub webhooks: Webhooks,
    pub tasks: Tasks,
    /// What the console shows (`GET /_sandbox/ui`).
    pub console: Arc<Console>,
    /// Display numbers of the hosted numbers, same order as the ids.
    pub display_numbers: Vec<String>,
    /// Bumped by reset, so status lifecycles started before it stop.
    epoch: AtomicU64,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

// === impl AppState ===

impl AppState {
    pub(crate) fn new(
        config: Config,
        clock: Clock,
        settings: Arc<SettingsCell>,
        stats: Arc<Stats>,
        webhooks: Webhooks,
        tasks: Tasks,
        console: Arc<Console>,
    ) -> Self {
        let numbers = config.phone_number_ids.len();
        let display_numbers = config.phone_number_ids.iter().map(|id| display_phone_number(id)).collect();
        AppState(Arc::new(Shared {
            clock,
            settings,
            stats,
            store: Store::default(),
            media: MediaStore::default(),
            uploads: Uploads::default(),
            templates: Templates::preloaded(),
            accounts: Accounts::new(numbers),
            limits: Limits::new(numbers),
            users: Users::new(&config.waba_id),
            faults: Faults::default(),
            webhooks,
            tasks,
            console,
            display_numbers,
            epoch: AtomicU64::new(0),
            config,
        }))
    }

    /// Position of a hosted number in `Config::phone_number_ids`.
    pub(crate) fn number_index(&self, phone_number_id: &str) -> Option<usize> {
        self.config.phone_number_ids.iter().position(|id| id == phone_number_id)
    }

    /// Whether `phone_number_id` is one of the numbers this sandbox hosts.
    pub(crate) fn hosts(&self, phone_number_id: &str) -> bool {
        self.number_index(phone_number_id).is_some()
    }

    /// Whether `id` is the business account.
    pub(crate) fn is_waba(&self, id: &str) -> bool {
        self.config.waba_id == id
    }

    /// Whether `id` is the app (the node of the Resumable Upload API).
    pub(crate) fn is_app(&self, id: &str) -> bool {
        self.config.app_id == id
    }

    /// Whether a fresh node id would collide with a fixed one.
    pub(crate) fn is_fixed_id(&self, id: &str) -> bool {
        self.hosts(id) || self.is_waba(id) || self.is_app(id)
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Back to the state at start: records, media, uploads, templates, accounts,
    /// users, counters, faults, settings, the webhook subscription (with no
    /// alternate callback) and the clock. Pending status webhooks of earlier
    /// messages are abandoned.
    pub(crate) fn reset(&self) {
        self.epoch.fetch_add(1, Ordering::Relaxed);
        self.clock.reset();
        self.settings.replace(Settings::from_config(&self.config));
        self.store.reset();
        self.media.reset();
        self.uploads.reset();
        self.templates.reset();
        self.accounts.reset();
        self.limits.reset();
        self.users.reset();
        self.faults.clear();
        self.stats.reset();
        self.webhooks.set_subscribed(true);
        self.webhooks.set_override_url(None);
        self.console.reset();
    }
}

//! What every handler shares: the config, the records, the webhook client, the task spawner.

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;
use crate::tasks::Tasks;
use crate::webhooks::Webhooks;

/// Cheap to clone; handed to every axum handler.
#[derive(Clone)]
pub(crate) struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub webhooks: Webhooks,
    pub tasks: Tasks,
}

impl AppState {
    pub(crate) fn new(config: Config, webhooks: Webhooks, tasks: Tasks) -> Self {
        AppState { config: Arc::new(config), store: Arc::new(Store::default()), webhooks, tasks }
    }

    /// Whether `phone_number_id` is one of the numbers this sandbox hosts.
    pub(crate) fn hosts(&self, phone_number_id: &str) -> bool {
        self.config.phone_number_ids.iter().any(|id| id == phone_number_id)
    }
}

//! Gateway health: is the database reachable, and does Cloud accept our
//! token? The Cloud probe runs in the background every few seconds, so a
//! health request never waits on Cloud and never multiplies Cloud calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::cloud::{CloudClient, ProbeError};

#[derive(Debug, Clone, PartialEq)]
pub enum CloudHealth {
    /// No probe has finished yet.
    Unknown,
    Ok {
        display_phone_number: String,
    },
    Failed(ProbeError),
}

#[derive(Clone)]
pub struct HealthState {
    cloud: Arc<Mutex<CloudHealth>>,
}

impl HealthState {
    pub fn new() -> Self {
        HealthState { cloud: Arc::new(Mutex::new(CloudHealth::Unknown)) }
    }

    pub fn cloud(&self) -> CloudHealth {
        self.cloud.lock().expect("health lock").clone()
    }

    fn set(&self, h: CloudHealth) {
        *self.cloud.lock().expect("health lock") = h;
    }

    /// The business number as digits, once Cloud told us.
    pub fn wa_id(&self) -> Option<String> {
        match self.cloud() {
            CloudHealth::Ok { display_phone_number } if !display_phone_number.is_empty() => Some(display_phone_number),
            _ => None,
        }
    }
}

impl Default for HealthState {
    fn default() -> Self {
        Self::new()
    }
}

/// Probes Cloud every `interval` until shutdown.
pub async fn probe_loop(
    state: HealthState,
    client: CloudClient,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let result = client.probe().await;
        let next = match result {
            Ok(display_phone_number) => CloudHealth::Ok { display_phone_number },
            Err(e) => {
                if state.cloud() != CloudHealth::Failed(e.clone()) {
                    tracing::warn!(problem = ?e, "Cloud API health probe failed");
                }
                CloudHealth::Failed(e)
            }
        };
        state.set(next);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

//! A value read from the database at most once per interval: settings are
//! needed by every message and every worker step, and change rarely.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Cached<T> {
    ttl: Duration,
    slot: Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Cached { ttl, slot: Mutex::new(None) }
    }

    /// The cached value, or a fresh one from `load` when it is too old.
    pub async fn get<E, F, Fut>(&self, load: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some((at, v)) = self.slot.lock().expect("cache lock").as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(v.clone());
        }
        let fresh = load().await?;
        *self.slot.lock().expect("cache lock") = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    /// Forgets the value (this node just changed it).
    pub fn invalidate(&self) {
        *self.slot.lock().expect("cache lock") = None;
    }
}

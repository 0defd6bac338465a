//! Background work (status lifecycles, webhook deliveries) that shutdown can cancel.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;
use tracing::{Instrument as _, Span, debug};

/// Spawns background tasks that end when the sandbox shuts down.
#[derive(Clone)]
pub(crate) struct Tasks {
    stop: watch::Receiver<bool>,
    pending: Arc<AtomicUsize>,
}

/// Held by `run`; stopping (or dropping) it cancels every task at its next await.
pub(crate) struct Stopper {
    stop: watch::Sender<bool>,
    pending: Arc<AtomicUsize>,
}

struct PendingGuard(Arc<AtomicUsize>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

// === impl Tasks ===

impl Tasks {
    pub(crate) fn new() -> (Tasks, Stopper) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let pending = Arc::new(AtomicUsize::new(0));
        (Tasks { stop: stop_rx, pending: pending.clone() }, Stopper { stop: stop_tx, pending })
    }

    /// Runs `work` in the background, in the current tracing span, until it
    /// finishes or the sandbox stops.
    pub(crate) fn spawn(&self, what: &'static str, work: impl Future<Output = ()> + Send + 'static) {
        let mut stop = self.stop.clone();
        self.pending.fetch_add(1, Ordering::SeqCst);
        let guard = PendingGuard(self.pending.clone());
        tokio::spawn(
            async move {
                let _guard = guard;
                tokio::select! {
                    () = work => {}
                    // Also fires when the Stopper is dropped.
                    _ = stop.wait_for(|stopped| *stopped) => debug!(what, "cancelled by shutdown"),
                }
            }
            .instrument(Span::current()),
        );
    }
}

impl Tasks {
    /// Tasks still running (status lifecycles, webhook deliveries).
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Like [`Tasks::spawn`] for work that runs as long as the sandbox (the
    /// webhook batcher): not counted as pending work at shutdown.
    pub(crate) fn spawn_service(&self, what: &'static str, work: impl Future<Output = ()> + Send + 'static) {
        let mut stop = self.stop.clone();
        tokio::spawn(
            async move {
                tokio::select! {
                    () = work => {}
                    _ = stop.wait_for(|stopped| *stopped) => debug!(what, "stopped by shutdown"),
                }
            }
            .instrument(Span::current()),
        );
    }
}

// === impl Stopper ===

impl Stopper {
    /// Cancels every task; returns how many were still running.
    pub(crate) fn stop(self) -> usize {
        let pending = self.pending.load(Ordering::SeqCst);
        let _ = self.stop.send(true);
        pending
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stop_cancels_pending_work() {
        let (tasks, stopper) = Tasks::new();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<&str>();
        let quick = done_tx.clone();
        tasks.spawn("quick", async move {
            let _ = quick.send("quick");
        });
        tasks.spawn("slow", async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            let _ = done_tx.send("slow");
        });
        assert_eq!(done_rx.recv().await, Some("quick"));
        tokio::task::yield_now().await;
        assert_eq!(stopper.stop(), 1);
        // The slow task is cancelled, dropping its sender: the channel closes
        // without "slow" ever arriving.
        assert_eq!(done_rx.recv().await, None);
        assert_eq!(tasks.pending.load(Ordering::SeqCst), 0);
    }
}

//! Group commit: one task writes what many callers hand it, each write
//! taking everything that queued while the previous one ran, so under load
//! many callers share one statement and one commit. Each caller gets its
//! own item's outcome once the write holding it is done.
//!
//! Used for every write that is on the path of an answer and comes one item
//! per request: accepted messages (`accept`), Cloud webhooks (`engine::receive`),
//! and the record of sends Cloud accepted (`sent`).

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::error::CoreError;

/// A write of fewer items than `below` waits up to `wait` for more, when
/// nobody is held up much by the wait.
#[derive(Debug, Clone, Copy)]
pub struct Linger {
    pub below: usize,
    pub wait: Duration,
    /// Wait only after a write that held more than one item: callers are
    /// coming at once. A lone caller that waits for each answer before it
    /// hands in the next item would only be slowed by the wait.
    pub when_shared: bool,
}

impl Linger {
    /// Write at once whatever is there.
    pub const NONE: Linger = Linger { below: 0, wait: Duration::ZERO, when_shared: false };
}

type Item<T, R> = (T, oneshot::Sender<R>);

/// Hands items to the writer task; cheap to clone. The task ends when
/// every handle is gone.
pub struct GroupWriter<T, R> {
    name: &'static str,
    tx: mpsc::Sender<Item<T, R>>,
}

impl<T, R> Clone for GroupWriter<T, R> {
    fn clone(&self) -> Self {
        GroupWriter { name: self.name, tx: self.tx.clone() }
    }
}

impl<T: Send + 'static, R: Send + 'static> GroupWriter<T, R> {
    /// Starts the writer task. `write` gets at most `max_batch` items and
    /// returns one outcome per item, in order.
    pub fn start<W, Fut>(name: &'static str, max_batch: usize, linger: Linger, mut write: W) -> Self
    where
        W: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Item<T, R>>(4 * max_batch);
        tokio::spawn(async move {
            let mut last_write = 0;
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let linger_until = tokio::time::Instant::now() + linger.wait;
                let lone = linger.when_shared && last_write < 2;
                while batch.len() < max_batch {
                    match rx.try_recv() {
                        Ok(item) => batch.push(item),
                        Err(_) if batch.len() >= linger.below || lone => break,
                        Err(_) => match tokio::time::timeout_at(linger_until, rx.recv()).await {
                            Ok(Some(item)) => batch.push(item),
                            _ => break,
                        },
                    }
                }
                let (items, waiters): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
                let expected = items.len();
                last_write = expected;
                let outcomes = write(items).await;
                if outcomes.len() != expected {
                    // A bug in `write`: its callers get an error, not a hang.
                    tracing::error!(
                        writer = name,
                        expected,
                        got = outcomes.len(),
                        "a group write lost track of its items"
                    );
                }
                for (waiter, outcome) in waiters.into_iter().zip(outcomes) {
                    let _ = waiter.send(outcome);
                }
            }
        });
        GroupWriter { name, tx }
    }

    /// Hands `item` to the writer; returns its outcome once written.
    pub async fn submit(&self, item: T) -> Result<R, CoreError> {
        let stopped = || CoreError::Internal(anyhow::anyhow!("the {} writer has stopped", self.name));
        let (done, wait) = oneshot::channel();
        self.tx.send((item, done)).await.map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn callers_share_writes_and_each_gets_its_own_outcome() {
        let writes = Arc::new(AtomicUsize::new(0));
        let counted = writes.clone();
        let writer = GroupWriter::start(
            "test",
            8,
            Linger { below: 4, wait: Duration::from_millis(50), when_shared: false },
            move |items: Vec<u32>| {
                counted.fetch_add(1, Ordering::Relaxed);
                async move { items.into_iter().map(|i| i * 10).collect::<Vec<_>>() }
            },
        );
        let calls: Vec<_> = (0..20u32)
            .map(|i| {
                let w = writer.clone();
                tokio::spawn(async move { w.submit(i).await.unwrap() })
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap(), i as u32 * 10);
        }
        let n = writes.load(Ordering::Relaxed);
        assert!((3..20).contains(&n), "{n} writes for 20 items of at most 8");
    }

    /// Virtual time: how long `n` items handed in one after another, each
    /// once the last was written, take with a 100 ms linger.
    async fn one_at_a_time(when_shared: bool, n: u32) -> Duration {
        let linger = Linger { below: 8, wait: Duration::from_millis(100), when_shared };
        let writer = GroupWriter::start("test", 8, linger, |items: Vec<u32>| async move { items });
        let started = tokio::time::Instant::now();
        for i in 0..n {
            assert_eq!(writer.submit(i).await.unwrap(), i);
        }
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_caller_is_not_made_to_linger_when_lingering_is_for_shared_writes() {
        assert_eq!(one_at_a_time(true, 5).await, Duration::ZERO);
        assert_eq!(one_at_a_time(false, 5).await, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn callers_coming_at_once_linger_when_lingering_is_for_shared_writes() {
        let writes = Arc::new(AtomicUsize::new(0));
        let counted = writes.clone();
        let linger = Linger { below: 8, wait: Duration::from_millis(100), when_shared: true };
        let writer = GroupWriter::start("test", 64, linger, move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::Relaxed);
            async move { items }
        });
        // Two rounds of callers 10 ms apart: the first write holds the two
        // that were there together; after it, the write lingers and takes
        // the rest of the callers as they come.
        let mut calls = Vec::new();
        for i in 0..10u32 {
            let w = writer.clone();
            calls.push(tokio::spawn(async move { w.submit(i).await.unwrap() }));
            if i % 2 == 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        for call in calls {
            call.await.unwrap();
        }
        assert!(writes.load(Ordering::Relaxed) <= 3, "{} writes", writes.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn a_write_that_loses_items_fails_their_callers_instead_of_hanging() {
        let writer = GroupWriter::start("test", 8, Linger::NONE, |_items: Vec<u32>| async { Vec::<u32>::new() });
        assert!(writer.submit(1).await.is_err());
    }
}

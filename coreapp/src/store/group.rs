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
}

impl Linger {
    /// Write at once whatever is there.
    pub const NONE: Linger = Linger { below: 0, wait: Duration::ZERO };
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
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let linger_until = tokio::time::Instant::now() + linger.wait;
                while batch.len() < max_batch {
                    match rx.try_recv() {
                        Ok(item) => batch.push(item),
                        Err(_) if batch.len() >= linger.below => break,
                        Err(_) => match tokio::time::timeout_at(linger_until, rx.recv()).await {
                            Ok(Some(item)) => batch.push(item),
                            _ => break,
                        },
                    }
                }
                let (items, waiters): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
                let expected = items.len();
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
            Linger { below: 4, wait: Duration::from_millis(50) },
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

    #[tokio::test]
    async fn a_write_that_loses_items_fails_their_callers_instead_of_hanging() {
        let writer = GroupWriter::start("test", 8, Linger::NONE, |_items: Vec<u32>| async { Vec::<u32>::new() });
        assert!(writer.submit(1).await.is_err());
    }
}

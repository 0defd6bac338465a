//! Time limits on request bodies: the [`Pace`] of `body_timeout` and
//! `body_min_rate`. A stalled body hits the first; a body trickled in (a
//! byte a second) the second, once its grace period is over.
//!
//! Only the time the handler spends waiting for bytes counts: an upload
//! whose handler waits on its coreapp does not use up the client's time.
//!
//! A body over its time ends in an error. Handlers answer it as any body
//! that cannot be read (400/1009, where the client still listens), and
//! since the body was not read to its end, the connection is closed after
//! that answer. Closing alone would leave a legacy client guessing; an
//! answer it may read says why.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::Limit;
use crate::config::EdgeLimits;
use crate::metrics::WebMetrics;

/// How long a body may keep its reader waiting: at most `stall` at a time,
/// and over the whole body `stall` (the grace period) plus one second for
/// every `min_rate` bytes received. Pure arithmetic, no clock.
#[derive(Debug, Clone)]
struct Pace {
    stall: Duration,
    min_rate: u64,
    waited: Duration,
    bytes: u64,
}

impl Pace {
    /// `min_rate` 0: no minimum rate.
    fn new(stall: Duration, min_rate: u64) -> Self {
        Pace { stall, min_rate, waited: Duration::ZERO, bytes: 0 }
    }

    /// The reader waited this long for bytes.
    fn waited(&mut self, d: Duration) {
        self.waited = self.waited.saturating_add(d);
    }

    fn received(&mut self, n: u64) {
        self.bytes = self.bytes.saturating_add(n);
    }

    /// How long the reader may wait for the next bytes from now, and the
    /// limit that ends the wait when they do not come.
    fn allowance(&self) -> (Duration, Limit) {
        if self.min_rate == 0 {
            return (self.stall, Limit::BodyStalled);
        }
        let by_rate = Duration::try_from_secs_f64(self.bytes as f64 / self.min_rate as f64).unwrap_or(Duration::MAX);
        let left = self.stall.saturating_add(by_rate).saturating_sub(self.waited);
        if left < self.stall { (left, Limit::BodySlow) } else { (self.stall, Limit::BodyStalled) }
    }
}

/// Why a body was cut off.
#[derive(Debug)]
pub struct TooSlow {
    limit: Limit,
    body_timeout: Duration,
    min_rate: u64,
}

impl fmt::Display for TooSlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.limit {
            Limit::BodySlow => write!(f, "the request body arrived slower than {} bytes per second", self.min_rate),
            _ => write!(f, "no bytes of the request body arrived for {} s", self.body_timeout.as_secs()),
        }
    }
}

impl std::error::Error for TooSlow {}

/// A request body under the time limits of [`Pace`].
pub struct Timed {
    inner: Body,
    pace: Pace,
    /// Since when the reader waits, and what ends the wait.
    waiting: Option<(Instant, Limit)>,
    /// The end of the current wait; kept to reuse its timer entry.
    timer: Option<Pin<Box<Sleep>>>,
    metrics: Arc<WebMetrics>,
    failed: bool,
}

impl Timed {
    pub fn new(inner: Body, limits: &EdgeLimits, metrics: Arc<WebMetrics>) -> Self {
        let pace = Pace::new(limits.body_timeout, limits.body_min_rate);
        Timed { inner, pace, waiting: None, timer: None, metrics, failed: false }
    }

    fn stop_waiting(&mut self) {
        if let Some((since, _)) = self.waiting.take() {
            self.pace.waited(since.elapsed());
        }
    }

    fn too_slow(&mut self, limit: Limit) -> axum::Error {
        self.failed = true;
        self.metrics.limit_hit(limit);
        tracing::info!(limit = limit.as_str(), bytes = self.pace.bytes, "request body cut off");
        axum::Error::new(TooSlow { limit, body_timeout: self.pace.stall, min_rate: self.pace.min_rate })
    }
}

impl HttpBody for Timed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.stop_waiting();
                if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()).and_then(Frame::data_ref) {
                    this.pace.received(data.len() as u64);
                }
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let limit = match this.waiting {
                    Some((_, limit)) => limit,
                    None => {
                        let now = Instant::now();
                        let (left, limit) = this.pace.allowance();
                        let deadline = now.checked_add(left).unwrap_or_else(far_future);
                        match &mut this.timer {
                            Some(timer) => timer.as_mut().reset(deadline),
                            None => this.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
                        }
                        this.waiting = Some((now, limit));
                        limit
                    }
                };
                let timer = this.timer.as_mut().expect("a wait has its timer");
                if timer.as_mut().poll(cx).is_ready() {
                    this.stop_waiting();
                    return Poll::Ready(Some(Err(this.too_slow(limit))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A deadline that never comes in practice (about 30 years on).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use http_body_util::BodyExt;

    fn limits(body_timeout: u64, min_rate: u64) -> EdgeLimits {
        EdgeLimits { body_timeout: Duration::from_secs(body_timeout), body_min_rate: min_rate, ..Default::default() }
    }

    #[test]
    fn a_body_earns_waiting_time_by_its_bytes() {
        let secs = Duration::from_secs;
        let mut pace = Pace::new(secs(20), 1000);
        // At the start: the grace period, capped by the stall timeout.
        assert_eq!(pace.allowance(), (secs(20), Limit::BodyStalled));
        // A byte a second: after 19 s of waiting for 19 bytes, one second
        // and a little of the grace is left, and the rate is what ends it.
        pace.waited(secs(19));
        pace.received(19);
        assert_eq!(pace.allowance(), (Duration::from_millis(1019), Limit::BodySlow));
        // 4 MB at full speed earn far more than the stall timeout.
        let mut fast = Pace::new(secs(20), 1000);
        fast.waited(secs(1));
        fast.received(4 << 20);
        assert_eq!(fast.allowance(), (secs(20), Limit::BodyStalled));
        // Waiting beyond what was earned leaves nothing.
        pace.waited(secs(60));
        assert_eq!(pace.allowance(), (Duration::ZERO, Limit::BodySlow));
        // Without a minimum rate only the stall timeout applies.
        let mut off = Pace::new(secs(20), 0);
        off.waited(secs(3600));
        assert_eq!(off.allowance(), (secs(20), Limit::BodyStalled));
        // Nothing overflows.
        let mut huge = Pace::new(Duration::MAX, 1);
        huge.received(u64::MAX);
        assert_eq!(huge.allowance(), (Duration::MAX, Limit::BodyStalled));
    }

    /// A body fed by the test, under the limits.
    fn timed(body_timeout: u64, min_rate: u64) -> (tokio::sync::mpsc::Sender<&'static [u8]>, Timed) {
        let (tx, rx) = tokio::sync::mpsc::channel::<&'static [u8]>(8);
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(|b| Ok::<_, std::io::Error>(Bytes::from(b)));
        let body = Timed::new(Body::from_stream(stream), &limits(body_timeout, min_rate), Arc::default());
        (tx, body)
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_ends_in_an_error_after_the_timeout() {
        let (tx, body) = timed(5, 1000);
        tx.send(b"{\"partial\":").await.unwrap();
        let start = Instant::now();
        let err = body.collect().await.expect_err("the body is cut off");
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        assert!(err.to_string().contains("no bytes of the request body arrived for 5 s"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickled_body_ends_in_an_error_after_the_grace_period() {
        let (tx, body) = timed(5, 1000);
        let feeder = tokio::spawn(async move {
            while tx.send(b"x").await.is_ok() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let start = Instant::now();
        let err = body.collect().await.expect_err("the body is cut off");
        // 5 s of grace and a few milliseconds earned by the bytes.
        assert!(start.elapsed() >= Duration::from_secs(5) && start.elapsed() < Duration::from_secs(6));
        assert!(err.to_string().contains("slower than 1000 bytes per second"), "{err}");
        feeder.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_reader_spends_elsewhere_does_not_count() {
        let (tx, mut body) = timed(5, 1000);
        tx.send(b"first").await.unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        // The handler is busy for a minute; the next bytes are there when
        // it comes back.
        tokio::time::sleep(Duration::from_secs(60)).await;
        tx.send(b"second").await.unwrap();
        drop(tx);
        assert!(body.frame().await.unwrap().is_ok());
        assert!(body.frame().await.is_none());
    }
}

//! One budget of bytes for every request body read before its caller is
//! authenticated: Cloud webhooks (their signature covers the raw bytes, so
//! the whole body comes first) and logins. Without it, a few hundred
//! connections announcing large bodies would make the webapp buffer
//! gigabytes for nobody.
//!
//! A request takes what its `Content-Length` announces before a byte is
//! read, and a body without one takes its bytes as they come. When the
//! budget cannot cover a request, it is refused at once with 503/1016
//! ("System overloaded": Cloud retries a webhook later, a client its
//! login). What a request took is given back when its answer is ready.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use wire::{ApiError, ErrorCode};

use super::{Edge, Limit};
use crate::envelope::Failure;

/// Bytes that unauthenticated bodies may hold at once.
#[derive(Debug)]
pub struct Budget {
    capacity: u64,
    used: AtomicU64,
}

impl Budget {
    pub fn new(capacity: u64) -> Self {
        Budget { capacity, used: AtomicU64::new(0) }
    }

    /// Takes `n` bytes if they are all there.
    fn take(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|t| *t <= self.capacity)
            })
            .is_ok()
    }

    fn give_back(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes taken now.
    pub fn in_use(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }
}

/// What one request holds of the budget, given back when dropped.
#[derive(Debug)]
struct Reservation {
    budget: Arc<Budget>,
    held: AtomicU64,
    refused: AtomicBool,
}

impl Reservation {
    fn new(budget: Arc<Budget>) -> Self {
        Reservation { budget, held: AtomicU64::new(0), refused: AtomicBool::new(false) }
    }

    /// Makes sure `total` bytes are held, taking the difference.
    fn cover(&self, total: u64) -> bool {
        let held = self.held.load(Ordering::Acquire);
        if total <= held {
            return true;
        }
        if self.budget.take(total - held) {
            self.held.store(total, Ordering::Release);
            true
        } else {
            self.refused.store(true, Ordering::Release);
            false
        }
    }

    fn refused(&self) -> bool {
        self.refused.load(Ordering::Acquire)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(*self.held.get_mut());
    }
}

/// The body's bytes must be covered before they reach the handler.
#[derive(Debug, thiserror::Error)]
#[error("too many unauthenticated request bodies are being read")]
struct OverBudget;

struct Metered {
    inner: Body,
    reservation: Arc<Reservation>,
    received: u64,
}

impl HttpBody for Metered {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()).and_then(Frame::data_ref) {
            this.received += data.len() as u64;
            if !this.reservation.cover(this.received) {
                return Poll::Ready(Some(Err(axum::Error::new(OverBudget))));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

fn overloaded(edge: &Edge) -> Response {
    edge.metrics.limit_hit(Limit::UnauthenticatedBudget);
    tracing::warn!(in_use = edge.budget.in_use(), "unauthenticated request body refused: the budget is used up");
    Failure(ApiError::new(ErrorCode::SystemOverloaded, "Too many requests are being received; retry later"))
        .into_response()
}

/// Route middleware for a body read before authentication, of at most
/// `limit` bytes: refused before a byte is read when it announces more, or
/// when the budget cannot cover what it announces.
pub async fn unauthenticated_body(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let Some(edge) = request.extensions().get::<Edge>().cloned() else {
        // Only the full application (`crate::app`) serves routes, and it
        // always provides the edge.
        tracing::error!("no edge for an unauthenticated body; serving it unmetered");
        return next.run(request).await;
    };
    let announced = content_length(request.headers());
    if announced.is_some_and(|n| n > limit as u64) {
        // What the route's own body limit would answer, without reading.
        return (StatusCode::PAYLOAD_TOO_LARGE, "Failed to buffer the request body: length limit exceeded")
            .into_response();
    }
    let reservation = Arc::new(Reservation::new(edge.budget.clone()));
    if !reservation.cover(announced.unwrap_or(0)) {
        return overloaded(&edge);
    }
    let metered = reservation.clone();
    let request = request.map(|inner| Body::new(Metered { inner, reservation: metered, received: 0 }));
    let response = next.run(request).await;
    if reservation.refused() {
        return overloaded(&edge);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_take_and_give_back() {
        let budget = Arc::new(Budget::new(10));
        let a = Reservation::new(budget.clone());
        assert!(a.cover(4) && a.cover(3) && a.cover(6));
        assert_eq!(budget.in_use(), 6);
        let b = Reservation::new(budget.clone());
        assert!(b.cover(4));
        assert!(!b.cover(5), "only 10 bytes in all");
        assert!(b.refused());
        assert_eq!(budget.in_use(), 10);
        drop(a);
        assert_eq!(budget.in_use(), 4);
        drop(b);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn a_budget_never_overflows() {
        let budget = Budget::new(u64::MAX);
        assert!(budget.take(u64::MAX));
        assert!(!budget.take(1));
    }
}

//! The edge: what a client may hold of this webapp, in time, connections
//! and memory, whatever it sends. The limits themselves are
//! [`EdgeLimits`](crate::config::EdgeLimits); here is how they hold:
//!
//! - [`conn`]: a cap on open connections, and a watchdog per connection
//!   that closes it when a request head does not arrive in time, when no
//!   request is in flight for the idle time (HTTP/1.1 and HTTP/2), or when
//!   the client stops reading a response.
//! - [`body`]: every request body must keep coming: a body that stalls, or
//!   trickles in under a minimum rate, ends in an error the handler
//!   answers, and the connection is closed after that answer.
//! - [`budget`]: bodies read before their caller is authenticated (Cloud
//!   webhooks, logins) share one budget of bytes; when it is used up such
//!   requests are refused at once with 503/1016 instead of being buffered.
//!   Every other route authenticates (`Principal`) before it reads a body.
//! - [`requests`] also reads what is left of a body refused before it was
//!   read (over its limit, or its caller unknown), up to [`DRAIN_MAX`],
//!   before the answer goes: an HTTP/1.1 client that sends its whole body
//!   before it reads (no `Expect: 100-continue`) otherwise finds the
//!   connection reset under it and never reads why.

pub mod body;
pub mod budget;
pub mod conn;

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Version, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

use crate::config::EdgeLimits;
use crate::metrics::WebMetrics;

/// Which limit closed a connection or refused a request (the `limit`
/// label of `web_limit_hits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Connections,
    Header,
    Idle,
    Write,
    BodyStalled,
    BodySlow,
    UnauthenticatedBudget,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Connections => "connections",
            Limit::Header => "header_timeout",
            Limit::Idle => "idle_timeout",
            Limit::Write => "write_timeout",
            Limit::BodyStalled => "body_timeout",
            Limit::BodySlow => "body_min_rate",
            Limit::UnauthenticatedBudget => "unauthenticated_body_budget",
        }
    }
}

/// What the request middleware shares with every request.
#[derive(Clone)]
pub struct Edge {
    pub limits: Arc<EdgeLimits>,
    pub budget: Arc<budget::Budget>,
    pub metrics: Arc<WebMetrics>,
}

impl Edge {
    pub fn new(limits: EdgeLimits, metrics: Arc<WebMetrics>) -> Self {
        let budget = Arc::new(budget::Budget::new(limits.unauthenticated_body_budget));
        Edge { limits: Arc::new(limits), budget, metrics }
    }
}

/// The most of a refused request's body read (and dropped) so that its
/// client reads the answer; a longer body ends with the connection closed.
pub const DRAIN_MAX: usize = 8 * 1024 * 1024;

/// Middleware on every route: times the request body, and leaves the edge
/// to the routes that read a body before authentication
/// ([`budget::unauthenticated_body`]). A request refused (4xx) before its
/// body was all read has the rest read and dropped first, within the same
/// time limits, when its client sends a body before it reads (HTTP/1.x
/// without `Expect: 100-continue`).
pub async fn requests(State(edge): State<Edge>, mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(edge.clone());
    let sends_first = request.version() < Version::HTTP_2 && !request.headers().contains_key(header::EXPECT);
    let left = Arc::new(Mutex::new(None));
    let request = request.map(|inner| {
        let timed = Body::new(body::Timed::new(inner, &edge.limits, edge.metrics.clone()));
        Body::new(HandsBack { inner: Some(timed), left: left.clone() })
    });
    let response = next.run(request).await;
    let rest = left.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(rest) = rest
        && sends_first
        && response.status().is_client_error()
    {
        drain(rest).await;
    }
    response
}

/// Reads and drops the rest of a body, unless it says it is longer than
/// [`DRAIN_MAX`]; stops at that much, or at an error (a stalled or slow
/// body, a client gone).
async fn drain(mut rest: Body) {
    if http_body::Body::size_hint(&rest).lower() > DRAIN_MAX as u64 {
        return;
    }
    let mut read = 0;
    while let Some(Ok(frame)) = rest.frame().await {
        read += frame.data_ref().map_or(0, Bytes::len);
        if read > DRAIN_MAX {
            return;
        }
    }
}

/// A request body that, dropped before its end, hands what is left back to
/// [`requests`].
struct HandsBack {
    inner: Option<Body>,
    left: Arc<Mutex<Option<Body>>>,
}

impl http_body::Body for HandsBack {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            // Read to its end, or failed: nothing to hand back.
            self.inner = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

impl Drop for HandsBack {
    fn drop(&mut self) {
        if let Some(rest) = self.inner.take().filter(|b| !http_body::Body::is_end_stream(b)) {
            *self.left.lock().unwrap_or_else(PoisonError::into_inner) = Some(rest);
        }
    }
}

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

pub mod body;
pub mod budget;
pub mod conn;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

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

/// Middleware on every route: times the request body, and leaves the edge
/// to the routes that read a body before authentication
/// ([`budget::unauthenticated_body`]).
pub async fn requests(State(edge): State<Edge>, mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(edge.clone());
    let request = request.map(|inner| Body::new(body::Timed::new(inner, &edge.limits, edge.metrics.clone())));
    next.run(request).await
}

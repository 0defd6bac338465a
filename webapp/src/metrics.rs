//! The webapp's own metrics (`/metrics`): uptime, requests handled and in
//! flight, and request latency by endpoint and result, under the old
//! client's names; open connections and the edge limits that were hit.
//!
//! Every label value comes from a fixed set (the route table, a fixed list
//! of methods, HTTP statuses, the edge limits), never from what a client
//! sends, so no client can make the series grow.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use wire::metrics::{Counter, CounterVec, Families, Gauge, HistogramVec};

use crate::edge::Limit;

pub struct WebMetrics {
    started: Instant,
    handled: Counter,
    in_flight: Gauge,
    durations: HistogramVec,
    connections: Gauge,
    limit_hits: CounterVec,
}

impl Default for WebMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl WebMetrics {
    pub fn new() -> Self {
        WebMetrics {
            started: Instant::now(),
            handled: Counter::new("web_handled_requests", "Requests answered since the webapp started"),
            in_flight: Gauge::new("web_pending_connections", "Requests being handled now"),
            durations: HistogramVec::new(
                "api_requests_duration_ms",
                "Time to answer a request, by endpoint and HTTP status",
                &["method", "result"],
            ),
            connections: Gauge::new("web_open_connections", "Client connections open now"),
            limit_hits: CounterVec::new(
                "web_limit_hits",
                "Connections closed and requests refused by the edge limits, by limit",
                &["limit"],
            ),
        }
    }

    pub fn connection_opened(&self) {
        self.connections.inc();
    }

    pub fn connection_closed(&self) {
        self.connections.dec();
    }

    pub fn limit_hit(&self, limit: Limit) {
        self.limit_hits.inc(&[limit.as_str()]);
    }

    pub fn families(&self) -> Families {
        let mut f = Families::new();
        f.gauge("web_uptime", "Seconds since the webapp started", self.started.elapsed().as_secs_f64().floor());
        f.push(self.handled.family());
        f.push(self.in_flight.family());
        f.push(self.durations.family());
        f.push(self.connections.family());
        f.push(self.limit_hits.family());
        f
    }
}

/// The methods the API knows; any other is labelled [`OTHER_METHOD`] and
/// refused (see `handlers::not_found`).
pub fn method_label(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => return None,
    })
}

/// The label of every method outside the known list.
pub const OTHER_METHOD: &str = "other";

/// The endpoint label of a request no route matched, whatever its path.
pub const UNMATCHED: &str = "unmatched";

/// The endpoint label of the old client: method and route with `_` for
/// `/` and parameter names bare, e.g. `POST_v1_messages`, `GET_v1_media_id`.
pub fn endpoint_label(method: &str, route: &str) -> String {
    let path: String = route.chars().filter(|c| *c != '{' && *c != '}').collect();
    let path = path.trim_matches('/').replace(['/', '-', '.'], "_");
    if path.is_empty() { method.to_string() } else { format!("{method}_{path}") }
}

/// Middleware: counts and times every request.
pub async fn track(State(metrics): State<Arc<WebMetrics>>, request: Request, next: Next) -> Response {
    let method = method_label(request.method()).unwrap_or(OTHER_METHOD);
    let endpoint = match request.extensions().get::<MatchedPath>() {
        Some(route) => endpoint_label(method, route.as_str()),
        None => UNMATCHED.to_string(),
    };
    let start = Instant::now();
    metrics.in_flight.inc();
    let response = next.run(request).await;
    metrics.in_flight.dec();
    metrics.handled.inc();
    metrics.durations.observe_duration(&[&endpoint, response.status().as_str()], start.elapsed());
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoint_labels() {
        assert_eq!(super::endpoint_label("POST", "/v1/messages"), "POST_v1_messages");
        assert_eq!(super::endpoint_label("GET", "/v1/media/{id}"), "GET_v1_media_id");
        assert_eq!(super::endpoint_label("POST", "/v1/settings/account/two-step"), "POST_v1_settings_account_two_step");
        assert_eq!(super::endpoint_label("GET", "/"), "GET");
    }

    #[test]
    fn method_labels_come_from_a_fixed_list() {
        use axum::http::Method;
        assert_eq!(super::method_label(&Method::GET), Some("GET"));
        assert_eq!(super::method_label(&Method::OPTIONS), Some("OPTIONS"));
        for made_up in ["X12345", "get", "TRACE", "CONNECT", &"Y".repeat(5000)] {
            assert_eq!(super::method_label(&Method::from_bytes(made_up.as_bytes()).unwrap()), None, "{made_up}");
        }
    }
}

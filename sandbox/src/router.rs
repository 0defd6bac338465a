//! The route table: the whole HTTP surface of the sandbox at a glance.

use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use http::StatusCode;
use tracing::{Instrument as _, debug, info_span};

use crate::graph::{self, GraphError};
use crate::state::AppState;
use crate::{control, messages, phone_numbers};

pub(crate) fn build(state: AppState) -> Router {
    // Graph API: `/{version}/…` with a Bearer token.
    let graph = Router::new()
        .route("/{version}/{node}", any(phone_numbers::node))
        .route("/{version}/{node}/messages", any(messages::edge))
        .route_layer(middleware::from_fn_with_state(state.clone(), graph::auth::guard));

    // Control API: no auth.
    let control = Router::new()
        .route("/_sandbox/health", get(control::health))
        .route("/_sandbox/inbound", post(control::inbound::post))
        .route("/_sandbox/sent", get(control::sent::list).delete(control::sent::clear))
        .route("/_sandbox/inbox", get(control::inbox::list).post(control::inbox::receive).delete(control::inbox::clear))
        .route("/_sandbox/inbox/{*rest}", post(control::inbox::receive))
        .route("/_sandbox/verify-webhook", post(control::verify::handshake));

    graph.merge(control).fallback(fallback).layer(middleware::from_fn(log_request)).with_state(state)
}

/// Unknown paths: a Graph error under a version prefix (after the token
/// check, as Graph does), a plain 404 elsewhere.
async fn fallback(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path();
    let version = graph::first_segment(path);
    if !graph::is_version(version) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Err(err) = graph::auth::check(&state.config.access_token, request.headers(), request.uri().query()) {
        return err.into_response();
    }
    let rest = &path[1 + version.len()..];
    GraphError::unknown_path(rest).into_response()
}

async fn log_request(request: Request, next: Next) -> Response {
    let span = info_span!("request", method = %request.method(), path = %request.uri().path());
    async move {
        let started = Instant::now();
        let response = next.run(request).await;
        debug!(status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request done");
        response
    }
    .instrument(span)
    .await
}

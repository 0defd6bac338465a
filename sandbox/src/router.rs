//! The route table: the whole HTTP surface of the sandbox at a glance.

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use http::StatusCode;
use tracing::{Instrument as _, debug, debug_span};

use crate::graph::{self, GraphError};
use crate::state::AppState;
use crate::{console, contact_book, control, media, messages, nodes, phone_numbers, templates, uploads, waba};

pub(crate) fn build(state: AppState) -> Router {
    // Graph API: `/{version}/…` with a Bearer token, then faults. Each edge
    // checks the kind of its node and answers Graph's error for the others.
    let graph = Router::new()
        // Upload sessions (`/upload:{id}`) take file chunks as large as media uploads.
        .route("/{version}/{node}", any(nodes::node).layer(DefaultBodyLimit::max(media::UPLOAD_BODY_LIMIT)))
        .route("/{version}/{node}/uploads", any(uploads::start))
        .route("/{version}/{node}/messages", any(messages::edge))
        .route("/{version}/{node}/contact_book", any(contact_book::edge))
        .route("/{version}/{node}/media", any(media::upload).layer(DefaultBodyLimit::max(media::UPLOAD_BODY_LIMIT)))
        .route("/{version}/{node}/whatsapp_business_profile", any(phone_numbers::profile))
        .route("/{version}/{node}/business_compliance_info", any(phone_numbers::compliance::edge))
        .route("/{version}/{node}/register", any(phone_numbers::register))
        .route("/{version}/{node}/deregister", any(phone_numbers::deregister))
        .route("/{version}/{node}/request_code", any(phone_numbers::request_code))
        .route("/{version}/{node}/verify_code", any(phone_numbers::verify_code))
        .route("/{version}/{node}/phone_numbers", any(waba::phone_numbers))
        .route("/{version}/{node}/message_templates", any(templates::edge))
        .route("/{version}/{node}/subscribed_apps", any(waba::subscribed_apps))
        .route_layer(middleware::from_fn_with_state(state.clone(), graph::auth::guard));

    // Media downloads: lookaside-style URLs, Bearer token required.
    let downloads = Router::new()
        .route(media::DOWNLOAD_PATH, get(media::download))
        .route(media::DOWNLOAD_PATH.trim_end_matches('/'), get(media::download))
        .route_layer(middleware::from_fn_with_state(state.clone(), graph::auth::download_guard));

    // Control API: no auth; nor do profile pictures need any, as on a CDN.
    let control = Router::new()
        .route("/_sandbox/health", get(control::health))
        .route(&format!("{}/{{name}}", phone_numbers::picture::PATH), get(phone_numbers::picture::serve))
        // A user's file rides in the body as base64 (4/3 of its size).
        .route(
            "/_sandbox/inbound",
            post(control::inbound::post).layer(DefaultBodyLimit::max(media::UPLOAD_BODY_LIMIT / 3 * 4 + 64 * 1024)),
        )
        .route("/_sandbox/users", post(control::users::upsert))
        .route("/_sandbox/users/{id}", get(control::users::get))
        .route("/_sandbox/users/{id}/change_number", post(control::users::change_number))
        .route("/_sandbox/users/{id}/share_contact", post(control::users::share_contact))
        .route("/_sandbox/sent", get(control::sent::list).delete(control::sent::clear))
        .route("/_sandbox/inbox", get(control::inbox::list).post(control::inbox::receive).delete(control::inbox::clear))
        .route("/_sandbox/inbox/{*rest}", post(control::inbox::receive))
        .route("/_sandbox/verify-webhook", post(control::verify::handshake))
        .route("/_sandbox/settings", get(control::settings::get).patch(control::settings::patch))
        .route("/_sandbox/faults", get(control::faults::list).post(control::faults::add).delete(control::faults::clear))
        .route("/_sandbox/faults/{id}", axum::routing::delete(control::faults::remove))
        .route("/_sandbox/clock", get(control::clock::get))
        .route("/_sandbox/clock/advance", post(control::clock::advance))
        .route("/_sandbox/status", post(control::events::status))
        .route("/_sandbox/webhook", post(control::events::webhook))
        .route("/_sandbox/templates/status", post(control::templates::set_status))
        .route("/_sandbox/stats", get(control::stats))
        .route("/_sandbox/reset", post(control::reset));

    // The console: a page, its feed and what it reads, for this sandbox's
    // own address only (see `console`).
    let ui = Router::new()
        .route("/_sandbox/ui", get(console::index))
        .route("/_sandbox/ui/", get(console::index))
        .route("/_sandbox/ui/app.js", get(console::script))
        .route("/_sandbox/ui/app.css", get(console::style))
        .route("/_sandbox/ui/events", get(console::events))
        .route("/_sandbox/ui/api/info", get(console::info))
        .route("/_sandbox/ui/api/conversations", get(console::conversations))
        .route("/_sandbox/ui/api/conversations/{phone_number_id}/{user}", get(console::conversation))
        .route("/_sandbox/ui/api/deliveries", get(console::deliveries))
        .route("/_sandbox/ui/api/templates", get(console::templates))
        .route("/_sandbox/ui/media/{id}", get(console::media))
        .route_layer(middleware::from_fn_with_state(state.clone(), console::guard));

    graph
        .merge(downloads)
        .merge(control)
        .merge(ui)
        .fallback(fallback)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Unknown paths: a Graph error under a version prefix (after the token
/// check, as Graph does), a plain 404 elsewhere.
async fn fallback(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path();
    let version = graph::first_segment(path);
    if !graph::is_version(version) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Err(err) = graph::auth::authorize(&state, request.headers(), request.uri().query()) {
        return err.into_response();
    }
    let rest = &path[1 + version.len()..];
    GraphError::unknown_path(rest).into_response()
}

/// A debug-level span per request: at the default `info` level it costs
/// next to nothing, which matters at thousands of sends a second.
async fn log_request(request: Request, next: Next) -> Response {
    let span = debug_span!("request", method = %request.method(), path = %request.uri().path());
    async move {
        let started = Instant::now();
        let response = next.run(request).await;
        debug!(status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request done");
        response
    }
    .instrument(span)
    .await
}

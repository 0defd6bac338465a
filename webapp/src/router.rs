//! The whole REST surface at a glance.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};

use crate::AppState;
use crate::handlers::{certificates, cloud, contacts, health, media, messages, not_found, root, settings, users};

/// Cloud allows webhook payloads of up to 3 MB.
const CLOUD_WEBHOOK_LIMIT: usize = 4 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/v1/users/login", post(users::login))
        .route("/v1/users/logout", post(users::logout))
        .route("/v1/users", post(users::create))
        .route("/v1/users/{name}", get(users::get).put(users::update).delete(users::delete))
        .route("/v1/settings/application", get(settings::get).patch(settings::patch).delete(settings::reset))
        .route("/v1/health", get(health::get))
        .route(
            "/v1/certificates/webhooks/ca",
            get(certificates::get_webhook_ca)
                .post(certificates::set_webhook_ca)
                .delete(certificates::delete_webhook_ca),
        )
        .route("/v1/messages", post(messages::send))
        .route("/v1/messages/{id}", put(messages::update))
        // Uploads stream their raw body (up to 100 MB); no body limit applies.
        .route("/v1/media", post(media::upload))
        .route("/v1/media/{id}", get(media::download).delete(media::delete))
        .route("/v1/contacts", post(contacts::check))
        .route("/v1/contacts/{wa_id}/identity", get(contacts::identity).put(contacts::acknowledge))
        .route(
            "/cloud/webhooks",
            get(cloud::verify).post(cloud::receive).layer(DefaultBodyLimit::max(CLOUD_WEBHOOK_LIMIT)),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
}

//! The whole REST surface at a glance. Every route goes through [`Api`],
//! which also records it, so the OpenAPI document can be checked against
//! exactly what is served (`webapp/tests/openapi.rs`).
//!
//! Handlers of authenticated routes take `Principal` before their body, so
//! a caller without valid credentials is refused before a byte of its body
//! is read. The two routes that must read a body first (the Cloud webhook
//! intake and login) are marked [`unauthenticated_body`]: their bodies
//! share one budget (`edge::budget`).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};
use http::Method;

use crate::handlers::{
    JSON_LIMIT, account, certificates, cloud, contacts, health, media, messages, metrics, not_found, openapi, profile,
    retired, root, services, settings, support, users,
};
use crate::{AppState, edge};

/// Cloud sends webhook payloads of up to 3 MB (usually a few KB: one or a
/// batch of statuses or messages, media by id, never bytes); the limit
/// leaves room over that. Such a body is read before anything is known of
/// its sender (its signature covers the raw bytes), so it also counts
/// against the unauthenticated body budget (`edge::budget`).
const CLOUD_WEBHOOK_LIMIT: usize = 4 * 1024 * 1024;

/// A route whose body is read before its caller is authenticated: its
/// body counts against the shared budget, up to `limit` bytes.
fn unauthenticated_body(route: MethodRouter<AppState>, limit: usize) -> MethodRouter<AppState> {
    route.layer(axum::middleware::from_fn_with_state(limit, edge::budget::unauthenticated_body))
}

/// A router that remembers its routes.
struct Api {
    router: Router<AppState>,
    table: Vec<(Method, &'static str)>,
}

impl Api {
    fn new() -> Self {
        Api { router: Router::new(), table: Vec::new() }
    }

    fn add<H, T>(self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let route = on(filter(&method), handler);
        self.add_with(method, path, route)
    }

    fn add_with(mut self, method: Method, path: &'static str, route: MethodRouter<AppState>) -> Self {
        self.table.push((method, path));
        // Routes on one path with different methods merge.
        self.router = self.router.route(path, route);
        self
    }

    fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::GET, path, h)
    }
    fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::POST, path, h)
    }
    fn put<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::PUT, path, h)
    }
    fn patch<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::PATCH, path, h)
    }
    fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add(Method::DELETE, path, h)
    }

    /// A feature the old client had and WhatsApp retired: every method it
    /// had answers the documented error instead of 404.
    fn retired(mut self, methods: &[Method], path: &'static str) -> Self {
        for m in methods {
            self = self.add(m.clone(), path, retired::answer);
        }
        self
    }
}

fn filter(method: &Method) -> MethodFilter {
    match *method {
        Method::GET => MethodFilter::GET,
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        ref other => panic!("no route uses {other}"),
    }
}

fn api() -> Api {
    use Method as M;
    Api::new()
        .get("/", root)
        .get("/v1/openapi.json", openapi::document)
        // Users (`docs/onprem-api.md` §3).
        .add_with(M::POST, "/v1/users/login", unauthenticated_body(axum::routing::post(users::login), JSON_LIMIT))
        .post("/v1/users/logout", users::logout)
        .post("/v1/users", users::create)
        .get("/v1/users/{name}", users::get)
        .put("/v1/users/{name}", users::update)
        .delete("/v1/users/{name}", users::delete)
        // Messages, media, contacts.
        .post("/v1/messages", messages::send)
        .delete("/v1/messages", messages::purge)
        .get("/v1/messages/{id}", messages::get)
        .put("/v1/messages/{id}", messages::update)
        .delete("/v1/messages/{id}", messages::delete)
        // Uploads stream their raw body (up to 100 MB); no body limit applies.
        .post("/v1/media", media::upload)
        .get("/v1/media/{id}", media::download)
        .delete("/v1/media/{id}", media::delete)
        .post("/v1/contacts", contacts::check)
        .get("/v1/contacts/{wa_id}/identity", contacts::identity)
        .put("/v1/contacts/{wa_id}/identity", contacts::acknowledge)
        // Settings.
        .get("/v1/settings/application", settings::get)
        .patch("/v1/settings/application", settings::patch)
        .delete("/v1/settings/application", settings::reset)
        .get("/v1/settings/application/media/providers", settings::providers)
        .post("/v1/settings/application/media/providers", settings::add_provider)
        .delete("/v1/settings/application/media/providers/{name}", settings::delete_provider)
        .get("/v1/settings/profile/about", profile::about)
        .patch("/v1/settings/profile/about", profile::set_about)
        .get("/v1/settings/profile/photo", profile::photo)
        .post("/v1/settings/profile/photo", profile::set_photo)
        .delete("/v1/settings/profile/photo", profile::delete_photo)
        .get("/v1/settings/business/profile", profile::business)
        .post("/v1/settings/business/profile", profile::set_business)
        .get("/v1/settings/business/compliance_info", profile::compliance)
        .post("/v1/settings/business/compliance_info", profile::set_compliance)
        .post("/v1/settings/account/two-step", account::set_pin)
        .delete("/v1/settings/account/two-step", account::disable_pin)
        .post("/v1/settings/backup", settings::backup)
        .post("/v1/settings/restore", settings::restore)
        // Account and registration: the number lives on Cloud.
        .get("/v1/account", account::get)
        .post("/v1/account", account::register)
        .post("/v1/account/verify", account::verify)
        .get("/v1/account/shards", account::shards)
        .post("/v1/account/shards", account::set_shards)
        // Certificates.
        .post("/v1/certificates/external", certificates::set_external)
        .get("/v1/certificates/external/ca", certificates::external_ca)
        .get("/v1/certificates/webhooks/ca", certificates::get_webhook_ca)
        .post("/v1/certificates/webhooks/ca", certificates::set_webhook_ca)
        .delete("/v1/certificates/webhooks/ca", certificates::delete_webhook_ca)
        // Monitoring.
        .get("/v1/health", health::get)
        .get("/metrics", metrics::metrics)
        .get("/v1/metrics", metrics::metrics)
        .get("/v1/stats/app", metrics::app)
        .get("/v1/stats/app/internal", metrics::app)
        .get("/v1/stats/db", metrics::db)
        .get("/v1/stats/db/internal", metrics::db)
        .get("/v1/support", support::get)
        .put("/v1/services/message/gc", services::message_gc)
        .put("/v1/services/media/gc", services::media_gc)
        // Retired by WhatsApp: a documented error, never a 404.
        .retired(&[M::GET, M::POST], "/v1/groups")
        .retired(&[M::GET, M::PUT], "/v1/groups/{id}")
        .retired(&[M::POST], "/v1/groups/{id}/leave")
        .retired(&[M::GET, M::DELETE], "/v1/groups/{id}/invite")
        .retired(&[M::GET, M::POST, M::DELETE], "/v1/groups/{id}/icon")
        .retired(&[M::PATCH, M::DELETE], "/v1/groups/{id}/admins")
        .retired(&[M::DELETE], "/v1/groups/{id}/participants")
        .retired(&[M::GET, M::POST], "/v1/stickerpacks")
        .retired(&[M::GET, M::PATCH, M::DELETE], "/v1/stickerpacks/{id}")
        .retired(&[M::GET, M::POST], "/v1/stickerpacks/{id}/stickers")
        .retired(&[M::GET, M::PATCH, M::DELETE], "/v1/stickerpacks/{id}/stickers/{index}")
        .retired(&[M::POST], "/v1/admin/database/migrate")
        // Cloud API webhooks (not part of the on-prem surface).
        .add_with(
            M::GET,
            "/cloud/webhooks",
            axum::routing::get(cloud::verify).layer(DefaultBodyLimit::max(CLOUD_WEBHOOK_LIMIT)),
        )
        .add_with(
            M::POST,
            "/cloud/webhooks",
            unauthenticated_body(
                axum::routing::post(cloud::receive).layer(DefaultBodyLimit::max(CLOUD_WEBHOOK_LIMIT)),
                CLOUD_WEBHOOK_LIMIT,
            ),
        )
}

pub fn routes() -> Router<AppState> {
    api().router.fallback(not_found).method_not_allowed_fallback(not_found)
}

/// Every (method, path) the router serves, paths in axum's (and OpenAPI's)
/// `{param}` syntax.
pub fn table() -> Vec<(Method, &'static str)> {
    api().table
}

#[cfg(test)]
mod tests {
    use crate::config::EdgeLimits;

    #[test]
    fn the_smallest_budget_takes_the_largest_unauthenticated_body() {
        let largest = super::CLOUD_WEBHOOK_LIMIT.max(super::JSON_LIMIT) as u64;
        assert!(largest <= EdgeLimits::MIN_BUDGET_MB * 1024 * 1024);
    }
}

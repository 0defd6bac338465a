//! Features the old client had that WhatsApp retired and the Cloud API
//! does not offer (groups, sticker packs, the database migration call).
//! Each answers 403/1005 with what to do instead, never a 404 that would
//! suggest a typo in the client.

use axum::extract::OriginalUri;
use wire::ApiError;

use crate::auth::Principal;
use crate::envelope::Failure;

/// What a retired path is, and what replaces it.
fn explain(path: &str) -> &'static str {
    if path.starts_with("/v1/groups") {
        "Groups were retired by WhatsApp and the Cloud API has no groups API; this endpoint is kept only to answer clearly"
    } else if path.starts_with("/v1/stickerpacks") {
        "Sticker packs were retired with the On-Premises API; send stickers as media messages of type 'sticker'"
    } else {
        "Database migrations run with 'coreapp migrate' (or the compose 'migrate' service), not through the API"
    }
}

/// Any credentials (a user's token or the API key) get the reason; none get
/// 401 first, as everywhere.
pub async fn answer(_who: Principal, OriginalUri(uri): OriginalUri) -> Failure {
    ApiError::forbidden(explain(uri.path())).into()
}

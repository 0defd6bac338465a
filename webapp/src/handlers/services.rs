//! `PUT /v1/services/message/gc` and `PUT /v1/services/media/gc` (admin):
//! the old client's "collect garbage now". A coreapp runs the collector
//! with the rules of its periodic runs (messages and webhook events
//! finished more than 7 days ago; media past the retention, their files,
//! and what crashes left), whether or not the periodic one is switched on.

use axum::extract::State;
use proto::core::{Collector, GarbageRequest};
use serde_json::json;
use wire::users::Role;

use crate::AppState;
use crate::auth::Principal;
use crate::envelope::{OnPrem, Reply};

/// Starts the collector and answers at once, as the old client did: its
/// result reaches the business as a `services` webhook.
async fn collect(state: &AppState, collector: Collector, name: &str) -> Reply {
    let request = GarbageRequest { collector: collector.into() };
    state.cores.any().collect_garbage(request).await?;
    Ok(OnPrem::ok(json!({"services": {name: {"gc": {"status": "processing"}}}})))
}

pub async fn message_gc(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    collect(&state, Collector::Messages, "message").await
}

pub async fn media_gc(State(state): State<AppState>, who: Principal) -> Reply {
    who.require(Role::Admin)?;
    collect(&state, Collector::Media, "media").await
}

//! Accepting messages and Cloud webhooks: one durable write each, then a
//! nudge to the worker that will carry them on.

use serde_json::Value;
use wire::ApiError;
use wire::settings::ApplicationSettings;

use crate::db::{AnyConnection, Db, now_ms};
use crate::error::CoreError;
use crate::store::{inbound, outbound, settings};

/// Stores a validated on-prem message in the send queue; returns its id.
/// Once this returns the message is committed and will reach a final status.
pub async fn accept(db: &Db, recipient: String, payload_json: String) -> Result<String, CoreError> {
    let payload: Value = serde_json::from_str(&payload_json)
        .map_err(|e| ApiError::invalid(format!("message payload is not JSON: {e}")))?;
    // The webapp validated it; validating again keeps a coreapp safe from
    // any other gRPC client.
    let checked = wire::messages::validate(&payload)?;
    if checked.recipient != recipient {
        return Err(ApiError::invalid("recipient does not match the payload's 'to'").into());
    }
    let id = wire::ids::message_id();
    let stored = serde_json::to_string(&checked.payload).map_err(anyhow::Error::from)?;
    let row_id = id.clone();
    db.run(move |conn| Ok(outbound::insert(conn, &row_id, &recipient, &stored, now_ms())?)).await?;
    Ok(id)
}

/// Stores a verified Cloud webhook body before Cloud gets its 200.
pub async fn ingest(db: &Db, body: Vec<u8>) -> Result<String, CoreError> {
    if body.is_empty() {
        return Err(ApiError::invalid("empty webhook body").into());
    }
    db.run(move |conn| Ok(inbound::insert_event(conn, &body, now_ms())?)).await
}

/// The application settings as stored (defaults when never set).
pub fn load_settings(conn: &mut AnyConnection) -> Result<ApplicationSettings, CoreError> {
    match settings::get(conn, settings::APPLICATION)? {
        None => Ok(ApplicationSettings::default()),
        Some(text) => ApplicationSettings::from_stored(&text)
            .map_err(|e| CoreError::Internal(anyhow::anyhow!("stored application settings are unreadable: {e}"))),
    }
}

pub async fn get_settings(db: &Db) -> Result<ApplicationSettings, CoreError> {
    db.run(load_settings).await
}

pub async fn patch_settings(db: &Db, patch: Value) -> Result<ApplicationSettings, CoreError> {
    db.run(move |conn| {
        crate::db::transaction(conn, |conn| {
            let mut current = load_settings(conn)?;
            current.apply_patch(&patch)?;
            settings::put(conn, settings::APPLICATION, &current.to_stored(), now_ms())?;
            Ok(current)
        })
    })
    .await
}

pub async fn reset_settings(db: &Db) -> Result<ApplicationSettings, CoreError> {
    db.run(|conn| {
        let defaults = ApplicationSettings::default();
        settings::put(conn, settings::APPLICATION, &defaults.to_stored(), now_ms())?;
        Ok(defaults)
    })
    .await
}

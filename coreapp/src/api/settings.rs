//! The application settings (`/v1/settings/application`), shared by every
//! coreapp through the `settings` table, and the private CA the webhook
//! client trusts (`/v1/certificates/webhooks/ca`).

use wire::ApiError;
use wire::settings::{ApplicationSettings, SettingsPatch};

use crate::Core;
use crate::error::CoreError;
use crate::store::db::{AnyConnection, Db, now_ms};
use crate::store::settings;

/// The application settings as stored (defaults when never set).
pub fn load_settings(conn: &mut AnyConnection) -> Result<ApplicationSettings, CoreError> {
    match settings::get(conn, settings::APPLICATION)? {
        None => Ok(ApplicationSettings::default()),
        Some(text) => ApplicationSettings::from_stored(&text)
            .map_err(|e| CoreError::Internal(anyhow::anyhow!("stored application settings are unreadable: {e}"))),
    }
}

/// The settings as stored now (not the cached copy).
pub async fn get_settings(core: &Core) -> Result<ApplicationSettings, CoreError> {
    read(&core.db).await
}

/// Reads the stored settings; what [`Core::settings`] caches.
pub(crate) async fn read(db: &Db) -> Result<ApplicationSettings, CoreError> {
    db.run(load_settings).await
}

/// Applies a settings patch (checked again here, whoever sent it) and
/// stores the result; this node sees it at once, the others within their
/// cache's lifetime. A new webhook URL gets the delivery worker going.
pub async fn patch_settings(core: &Core, patch: SettingsPatch) -> Result<ApplicationSettings, CoreError> {
    patch.check()?;
    let stored = core
        .db
        .run(move |conn| {
            crate::store::db::transaction(conn, |conn| {
                let mut current = load_settings(conn)?;
                current.apply(&patch)?;
                settings::put(conn, settings::APPLICATION, &current.to_stored(), now_ms())?;
                Ok(current)
            })
        })
        .await?;
    core.settings_changed();
    core.wake.delivery.notify_one();
    Ok(stored)
}

/// Puts every setting back to its default.
pub async fn reset_settings(core: &Core) -> Result<ApplicationSettings, CoreError> {
    let defaults = core
        .db
        .run(|conn| {
            let defaults = ApplicationSettings::default();
            settings::put(conn, settings::APPLICATION, &defaults.to_stored(), now_ms())?;
            Ok(defaults)
        })
        .await?;
    core.settings_changed();
    Ok(defaults)
}

/// `POST /v1/certificates/webhooks/ca`: a PEM bundle the webhook client
/// will trust, on every coreapp.
pub async fn set_webhook_ca(core: &Core, pem: String) -> Result<(), CoreError> {
    crate::clients::webhooks::check_ca(&pem).map_err(ApiError::invalid)?;
    core.db.run(move |conn| Ok(settings::put(conn, settings::WEBHOOK_CA, &pem, now_ms())?)).await?;
    core.settings_changed();
    Ok(())
}

pub async fn webhook_ca(core: &Core) -> Result<String, CoreError> {
    core.settings_changed();
    core.webhook_ca().await?.ok_or_else(|| ApiError::not_found("No webhook CA certificate is stored").into())
}

pub async fn delete_webhook_ca(core: &Core) -> Result<(), CoreError> {
    let removed = core.db.run(|conn| Ok(settings::delete(conn, settings::WEBHOOK_CA)?)).await?;
    core.settings_changed();
    if removed == 0 {
        return Err(ApiError::not_found("No webhook CA certificate is stored").into());
    }
    Ok(())
}

//! Media sent by `link` from a host that needs credentials: the message
//! names a media provider (`/v1/settings/application/media/providers`),
//! Cloud cannot authenticate to that host, so the coreapp downloads the
//! file with the provider's credentials onto the volume and the message
//! goes to Cloud as an upload, like media sent by id.
//!
//! The link is the user's, the credentials the admin's: they go only to a
//! host the provider allows, on an address that passed the checks of
//! [`crate::clients::outbound`]; anything else fails the message without a request.

use std::time::Duration;

use serde_json::{Value, json};
use wire::providers::{Provider, ProviderAuth};

use wire::messages::Message;

use crate::Core;
use crate::clients::cloud::SendOutcome;
use crate::error::CoreError;

/// Replaces a media message's provider link by a media id of ours,
/// downloading the file. `Err` is the send's outcome: failed for good (no
/// such provider, the host refused) or to be retried (the host is down).
pub async fn resolve(core: &Core, message: &mut Message) -> Result<bool, SendOutcome> {
    let Some((name, link)) = message.provider_link().map(|(n, l)| (n.to_string(), l.to_string())) else {
        return Ok(false);
    };
    let providers =
        crate::api::admin::providers(core).await.map_err(|e| retry(format!("cannot read providers: {e}")))?;
    let Some(provider) = providers.iter().find(|p| p.name == name) else {
        return Err(failed(format!("media provider '{name}' is not configured")));
    };
    let id = fetch(core, provider, &link).await?;
    if let Some(media) = message.media_mut() {
        media.link = None;
        media.provider = None;
        media.id = Some(id.clone());
    }
    tracing::debug!(provider = %name, media_id = %id, "provider link fetched to the volume");
    Ok(true)
}

/// Downloads `link` with the provider's credentials into the media store.
async fn fetch(core: &Core, provider: &Provider, link: &str) -> Result<String, SendOutcome> {
    let shown = wire::redact::url(link);
    let checked = match crate::clients::outbound::provider_link(&core.config.links, provider, link).await {
        Ok(checked) => checked,
        Err(e) if e.is_retriable() => return Err(retry(format!("media link {shown}: {e}"))),
        Err(e) => {
            tracing::warn!(provider = %provider.name, link = %shown, reason = %e, "media link refused");
            return Err(failed(format!("media link {shown} refused: {e}")));
        }
    };
    let request = checked.client.get(checked.url).timeout(Duration::from_secs(300));
    let request = match &provider.auth {
        ProviderAuth::Basic { username, password } => request.basic_auth(username, Some(password)),
        ProviderAuth::Bearer(token) => request.bearer_auth(token),
    };
    let response = request
        .send()
        .await
        .map_err(|e| retry(format!("media link download failed: {}", crate::clients::outbound::error_text(e))))?;
    let status = response.status();
    if status.as_u16() == 429 || status.is_server_error() {
        return Err(retry(format!("media link {shown} answered HTTP {status}")));
    }
    if !status.is_success() {
        return Err(failed(format!("the host of {shown} answered HTTP {status}")));
    }
    let mime_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_string())
        .unwrap_or_default();
    let (tx, rx) = tokio::sync::mpsc::channel(crate::media_files::CHUNKS_IN_FLIGHT);
    let mut response = response;
    let pump = async move {
        loop {
            let item = match response.chunk().await {
                Ok(Some(chunk)) => Ok(chunk),
                Ok(None) => return,
                Err(e) => Err(std::io::Error::other(crate::clients::outbound::error_text(e))),
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                return;
            }
        }
    };
    let (_, stored) = tokio::join!(pump, crate::media_files::upload(core, mime_type, rx));
    stored.map_err(|e| match e {
        CoreError::Api(api) => failed(format!("the file at {shown} cannot be sent: {}", api.details)),
        other => retry(format!("storing the file at {shown} failed: {other}")),
    })
}

fn failed(details: String) -> SendOutcome {
    SendOutcome::Failed {
        error: json!({"code": 131053, "title": "Media upload error", "error_data": {"details": details}}),
    }
}

fn retry(reason: String) -> SendOutcome {
    SendOutcome::Retry { reason, after: None, error: Value::Null }
}

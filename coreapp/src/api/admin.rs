//! The administrative surface: business profile and photo, two-step PIN,
//! the account Cloud hosts, shards, media providers, the webapp
//! certificate, and the purge of stored messages. Cloud is the truth for
//! what Cloud has; the rest lives in the `settings` table, shared by every
//! coreapp.

use serde_json::{Value, json};
use wire::providers::Provider;
use wire::{ApiError, ErrorCode};

use crate::Core;
use crate::clients::cloud::CallError;
use crate::error::CoreError;
use crate::store::db::{now_ms, transaction};
use crate::store::schema::{inbound_events, inbound_messages, message_statuses, outbound_messages, webhook_outbox};
use crate::store::{certs, settings};

/// Settings keys of this module.
pub const SHARDS: &str = "account.shards";
pub const MEDIA_PROVIDERS: &str = "media.providers";
/// The CA of the webapp certificate (`GET /v1/certificates/external/ca`).
pub const WEBAPP_CA: &str = "webapp.ca_pem";

/// A failed Cloud call as the client sees it: Cloud's refusal of a value
/// is the client's 400 (with Cloud's words); anything else is ours, 500.
pub fn cloud_error(what: &str, e: CallError) -> CoreError {
    match e {
        CallError::Refused(error) => {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("refused");
            let code = error.get("code").and_then(Value::as_i64).unwrap_or_default();
            tracing::warn!(%code, %message, "Cloud refused {what}");
            if code == 100 || (131000..140000).contains(&code) {
                ApiError::invalid(format!("Cloud API refused {what}: {message}")).into()
            } else {
                ApiError::new(ErrorCode::GenericError, format!("Cloud API refused {what}: {message} (code {code})"))
                    .into()
            }
        }
        CallError::Retry(why) => {
            tracing::warn!(%why, "Cloud API call for {what} failed");
            ApiError::new(ErrorCode::ServiceNotReady, format!("Cloud API unavailable for {what}; try again")).into()
        }
    }
}

// === profile ===

/// The profile in on-prem names: `about`, `address`, `description`,
/// `email`, `vertical`, `websites`, `photo_url`.
pub async fn profile(core: &Core) -> Result<Value, CoreError> {
    let cloud = core.cloud.profile().await.map_err(|e| cloud_error("the profile read", e))?;
    let mut out = wire::profile::business_from_cloud(&cloud);
    out["about"] = cloud.get("about").cloned().unwrap_or_else(|| json!(""));
    out["photo_url"] = cloud.get("profile_picture_url").cloned().unwrap_or_else(|| json!(""));
    Ok(out)
}

/// Posts already validated Cloud fields (`about`, or the business ones).
pub async fn update_profile(core: &Core, fields: Value) -> Result<(), CoreError> {
    let Value::Object(fields) = fields else {
        return Err(ApiError::invalid("The profile must be a JSON object").into());
    };
    core.cloud.update_profile(fields).await.map_err(|e| cloud_error("the profile update", e))
}

/// `settings.business.compliance_info`, in the old client's shape.
pub async fn compliance_info(core: &Core) -> Result<Value, CoreError> {
    let cloud = core.cloud.compliance_info().await.map_err(|e| cloud_error("the compliance information read", e))?;
    Ok(wire::compliance::from_cloud(&cloud))
}

/// Checks the old client's body and posts it to Cloud.
pub async fn set_compliance_info(core: &Core, body: Value) -> Result<(), CoreError> {
    let fields = wire::compliance::update(&body)?;
    core.cloud.set_compliance_info(fields).await.map_err(|e| cloud_error("the compliance information", e))
}

/// Uploads a photo through the Resumable Upload API and makes it the
/// profile picture.
pub async fn set_photo(core: &Core, mime_type: String, data: bytes::Bytes) -> Result<(), CoreError> {
    if data.is_empty() {
        return Err(ApiError::missing("photo").into());
    }
    if data.len() >= wire::profile::PHOTO_MAX {
        return Err(ApiError::invalid("The photo must be smaller than 5 MB").into());
    }
    if !wire::profile::PHOTO_TYPES.contains(&mime_type.as_str()) {
        return Err(ApiError::invalid_value("Content-Type", mime_type).into());
    }
    let extension = if mime_type == "image/png" { "png" } else { "jpg" };
    let handle = core
        .cloud
        .upload_handle(data, &mime_type, &format!("profile.{extension}"))
        .await
        .map_err(|e| cloud_error("the photo upload", e))?;
    let mut fields = serde_json::Map::new();
    fields.insert("profile_picture_handle".into(), json!(handle));
    core.cloud.update_profile(fields).await.map_err(|e| cloud_error("the profile photo", e))
}

/// The picture's link and, when asked, its bytes.
pub async fn photo(core: &Core, with_bytes: bool) -> Result<(String, String, bytes::Bytes), CoreError> {
    let cloud = core.cloud.profile().await.map_err(|e| cloud_error("the profile read", e))?;
    let link = cloud.get("profile_picture_url").and_then(Value::as_str).unwrap_or_default().to_string();
    if link.is_empty() {
        return Err(ApiError::not_found("No profile photo is set").into());
    }
    if !with_bytes {
        return Ok((link, String::new(), bytes::Bytes::new()));
    }
    let (mime_type, data) = core
        .cloud
        .fetch_public(&link, 2 * wire::profile::PHOTO_MAX)
        .await
        .map_err(|e| cloud_error("the profile photo download", e))?;
    Ok((link, mime_type, data))
}

// === two-step, account, shards ===

pub async fn set_pin(core: &Core, pin: String) -> Result<(), CoreError> {
    wire::profile::pin(&json!({ "pin": pin }))?;
    core.cloud.set_pin(&pin).await.map_err(|e| cloud_error("the two-step PIN", e))
}

/// What Cloud says about our number, in the old client's account terms.
pub async fn account(core: &Core) -> Result<Value, CoreError> {
    let number = core.cloud.phone_number().await.map_err(|e| cloud_error("the phone number read", e))?;
    let display = number.get("display_phone_number").and_then(Value::as_str).unwrap_or_default();
    let wa_id: String = display.chars().filter(char::is_ascii_digit).collect();
    let status = match number.get("status").and_then(Value::as_str) {
        Some("CONNECTED") | None => "registered",
        Some(_) => "unregistered",
    };
    Ok(json!({
        "wa_id": wa_id,
        "vname": number.get("verified_name").cloned().unwrap_or_else(|| json!("")),
        "status": status,
        "phone_number_id": core.config.cloud.phone_number_id,
    }))
}

pub async fn shards(core: &Core) -> Result<u32, CoreError> {
    let stored = core.db.run(|conn| Ok(settings::get(conn, SHARDS)?)).await?;
    Ok(stored.and_then(|s| s.parse().ok()).unwrap_or(1))
}

pub async fn set_shards(core: &Core, shards: u32) -> Result<(), CoreError> {
    if ![1, 2, 4, 8, 16, 32].contains(&shards) {
        return Err(ApiError::invalid_value("shards", shards).into());
    }
    core.db.run(move |conn| Ok(settings::put(conn, SHARDS, &shards.to_string(), now_ms())?)).await
}

// === media providers ===

/// Every configured provider, with secrets.
pub async fn providers(core: &Core) -> Result<Vec<Provider>, CoreError> {
    let stored = core.db.run(|conn| Ok(settings::get(conn, MEDIA_PROVIDERS)?)).await?;
    Ok(parse_providers(stored.as_deref()))
}

fn parse_providers(stored: Option<&str>) -> Vec<Provider> {
    stored.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default()
}

/// Adds a provider (checked again here, whoever sent it), or replaces the
/// one of the same name.
pub async fn put_provider(core: &Core, provider: Provider) -> Result<(), CoreError> {
    provider.check()?;
    core.db
        .run(move |conn| {
            transaction(conn, |conn| {
                let mut all = parse_providers(settings::get(conn, MEDIA_PROVIDERS)?.as_deref());
                all.retain(|p| p.name != provider.name);
                all.push(provider);
                let json = serde_json::to_string(&all).map_err(anyhow::Error::from)?;
                Ok(settings::put(conn, MEDIA_PROVIDERS, &json, now_ms())?)
            })
        })
        .await
}

pub async fn delete_provider(core: &Core, name: String) -> Result<(), CoreError> {
    core.db
        .run(move |conn| {
            transaction(conn, |conn| {
                let mut all = parse_providers(settings::get(conn, MEDIA_PROVIDERS)?.as_deref());
                let before = all.len();
                all.retain(|p| p.name != name);
                if all.len() == before {
                    return Err(ApiError::not_found(format!("Media provider '{name}' does not exist")).into());
                }
                let json = serde_json::to_string(&all).map_err(anyhow::Error::from)?;
                Ok(settings::put(conn, MEDIA_PROVIDERS, &json, now_ms())?)
            })
        })
        .await
}

// === the webapp certificate ===

/// A PEM bundle split into its parts: the private key, the server
/// certificate (the first certificate) and the rest (its CA chain).
#[derive(Debug, PartialEq)]
pub struct Bundle {
    pub key_pem: String,
    pub cert_pem: String,
    pub ca_pem: String,
}

/// Checks `POST /v1/certificates/external`: a private key, the server
/// certificate and at least one CA certificate, the key matching the
/// certificate.
pub fn split_bundle(pem: &str) -> Result<Bundle, ApiError> {
    let sections: Vec<(String, String)> = pem_sections(pem);
    if sections.len() < 3 {
        return Err(ApiError::invalid(
            "The bundle needs a private key, the server certificate and at least one CA certificate (PEM)",
        ));
    }
    let keys: Vec<&String> =
        sections.iter().filter(|(label, _)| label.ends_with("PRIVATE KEY")).map(|(_, s)| s).collect();
    let certs: Vec<&String> = sections.iter().filter(|(label, _)| label == "CERTIFICATE").map(|(_, s)| s).collect();
    if keys.len() != 1 {
        return Err(ApiError::invalid("The bundle must hold exactly one private key"));
    }
    if certs.len() < 2 {
        return Err(ApiError::invalid("The bundle must hold the server certificate and at least one CA certificate"));
    }
    let bundle = Bundle {
        key_pem: keys[0].clone(),
        cert_pem: certs[0].clone(),
        ca_pem: certs[1..].iter().map(|s| s.as_str()).collect(),
    };
    check_key_matches(&bundle)?;
    Ok(bundle)
}

/// `(label, whole section text)` of each PEM block.
fn pem_sections(pem: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in pem.lines() {
        let line = line.trim_end();
        if let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) {
            current = Some((label.to_string(), format!("{line}\n")));
        } else if let Some((label, mut text)) = current.take() {
            text.push_str(line);
            text.push('\n');
            if line.starts_with("-----END ") {
                out.push((label, text));
            } else {
                current = Some((label, text));
            }
        }
    }
    out
}

fn check_key_matches(bundle: &Bundle) -> Result<(), ApiError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str| ApiError::invalid(format!("The bundle's {what} cannot be read"));
    let key = PrivateKeyDer::from_pem_slice(bundle.key_pem.as_bytes()).map_err(|_| bad("private key"))?;
    let cert = CertificateDer::from_pem_slice(bundle.cert_pem.as_bytes()).map_err(|_| bad("certificate"))?;
    for ca in CertificateDer::pem_slice_iter(bundle.ca_pem.as_bytes()) {
        ca.map_err(|_| bad("CA certificate"))?;
    }
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider.key_provider.load_private_key(key).map_err(|_| bad("private key"))?;
    let certified = rustls::sign::CertifiedKey::new(vec![cert], signing);
    certified.keys_match().map_err(|_| ApiError::invalid("The private key does not match the server certificate"))
}

/// Stores a new webapp certificate; the webapps reload it within seconds.
pub async fn set_web_certificate(
    core: &Core,
    cert_pem: String,
    key_pem: String,
    ca_pem: String,
) -> Result<(), CoreError> {
    core.db
        .run(move |conn| {
            transaction(conn, |conn| {
                let now = now_ms();
                certs::put(conn, certs::WEBAPP, &cert_pem, &key_pem, now)?;
                settings::put(conn, WEBAPP_CA, &ca_pem, now)?;
                Ok(())
            })
        })
        .await
}

/// The webapp certificate and its CA (the certificate itself when it was
/// generated, being self-signed).
pub async fn web_certificate(core: &Core) -> Result<Option<(String, String, String)>, CoreError> {
    core.db
        .run(|conn| {
            let Some((cert, key)) = certs::get(conn, certs::WEBAPP)? else {
                return Ok(None);
            };
            let ca = settings::get(conn, WEBAPP_CA)?.unwrap_or_else(|| cert.clone());
            Ok(Some((cert, key, ca)))
        })
        .await
}

// === DELETE /v1/messages ===

/// Removes messages stored before `before_ms` whose work is finished:
/// outbound messages with a final state and their statuses, inbound
/// messages, and delivered or abandoned webhook events. Nothing still
/// queued is touched.
pub async fn purge_messages(core: &Core, before_ms: i64) -> Result<u64, CoreError> {
    use crate::store::queue::State;
    use diesel::prelude::*;
    core.db
        .run(move |conn| {
            transaction(conn, |conn| {
                let old_outbound: Vec<String> = outbound_messages::table
                    .filter(outbound_messages::created_at.lt(before_ms))
                    .filter(outbound_messages::state.ne(State::Pending.as_str()))
                    .select(outbound_messages::id)
                    .load(conn)?;
                let mut deleted = 0;
                for ids in old_outbound.chunks(500) {
                    deleted += diesel::delete(message_statuses::table)
                        .filter(message_statuses::message_id.eq_any(ids))
                        .execute(conn)?;
                    deleted += diesel::delete(outbound_messages::table)
                        .filter(outbound_messages::id.eq_any(ids))
                        .execute(conn)?;
                }
                deleted += diesel::delete(inbound_messages::table.filter(inbound_messages::received_at.lt(before_ms)))
                    .execute(conn)?;
                deleted += diesel::delete(
                    inbound_events::table
                        .filter(inbound_events::received_at.lt(before_ms))
                        .filter(inbound_events::state.ne(State::Pending.as_str())),
                )
                .execute(conn)?;
                deleted += diesel::delete(
                    webhook_outbox::table
                        .filter(webhook_outbox::created_at.lt(before_ms))
                        .filter(webhook_outbox::state.ne(State::Pending.as_str())),
                )
                .execute(conn)?;
                Ok(deleted as u64)
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> (String, String, String) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["wa.example".to_string()]).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (key.serialize_pem(), cert.pem(), ca.pem())
    }

    #[test]
    fn bundles_are_split_and_checked() {
        let (key, cert, ca) = bundle();
        let parsed = split_bundle(&format!("{key}{cert}{ca}")).unwrap();
        assert_eq!(parsed.cert_pem.trim(), cert.trim());
        assert_eq!(parsed.ca_pem.trim(), ca.trim());
        // Order does not matter for the key.
        assert!(split_bundle(&format!("{cert}{ca}{key}")).is_ok());
        // Too few sections, no key, a key of another certificate.
        assert!(split_bundle(&format!("{key}{cert}")).is_err());
        assert!(split_bundle(&format!("{cert}{ca}{cert}")).is_err());
        let (other_key, _, _) = bundle();
        let err = split_bundle(&format!("{other_key}{cert}{ca}")).unwrap_err();
        assert!(err.details.contains("does not match"), "{}", err.details);
        assert!(split_bundle("not pem at all").is_err());
    }
}

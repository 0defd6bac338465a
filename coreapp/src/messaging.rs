//! Accepting messages and Cloud webhooks (one durable write each, then a
//! nudge to the worker that carries them on), mark-as-read, contacts and
//! the application settings.

use serde_json::{Value, json};
use wire::settings::ApplicationSettings;
use wire::{ApiError, ErrorCode};

use crate::Core;
use crate::cloud::SendOutcome;
use crate::db::{AnyConnection, Db, now_ms};
use crate::error::CoreError;
use crate::store::{contacts, inbound, outbound, settings};
use crate::workers::sender;

/// How long `POST /v1/contacts` results are kept, as the old client.
const CONTACT_CACHE_MS: i64 = 7 * 24 * 3600 * 1000;

/// Stores a validated on-prem message in the send queue and returns its id.
/// Once stored, the message is committed and will reach a final status.
///
/// With `sync_send` on (and for templates to users known only by BSUID),
/// the message is sent before this returns: accepted
/// gives the id; a refusal (or Cloud being unreachable) marks it failed,
/// sends no webhook, and returns Cloud's error as the on-prem one, so the
/// client may safely retry.
pub async fn send(core: &Core, recipient: String, payload_json: String) -> Result<String, CoreError> {
    let payload: Value = serde_json::from_str(&payload_json)
        .map_err(|e| ApiError::invalid(format!("message payload is not JSON: {e}")))?;
    // The webapp validated it; validating again keeps a coreapp safe from
    // any other gRPC client.
    let checked = wire::messages::validate(&payload)?;
    let backlog = core.outbox_depth.load(std::sync::atomic::Ordering::Relaxed);
    if backlog > core.config.workers.max_callback_backlog {
        return Err(ApiError::new(
            ErrorCode::SystemOverloaded,
            format!("{backlog} webhook events wait for the webhook server; sending resumes when it catches up"),
        )
        .into());
    }
    if checked.recipient != recipient {
        return Err(ApiError::invalid("recipient does not match the payload's 'to'").into());
    }
    if let Some(unknown) = crate::media_files::unknown_ids(core, &checked.payload).await?.first() {
        return Err(ApiError::not_found(format!("Media with id {unknown} not found")).into());
    }
    // A stand-in we never gave out names no one.
    let to = recipient.clone();
    let target = core.db.run(move |conn| crate::identities::target(conn, &to)).await?;
    let Some(target) = target else {
        return Err(ApiError::not_found(format!("Recipient {recipient} is not a known user")).into());
    };
    // Cloud refuses some templates (authentication) to users it knows only
    // by BSUID (131062); which ones depends on the template's category,
    // which Cloud knows. So a template to such a user is sent before this
    // returns, and a refusal is the answer.
    let kind = checked.payload.get("type").and_then(Value::as_str).unwrap_or_default();
    let refusable = matches!(target, crate::identities::Target::Bsuid(_)) && matches!(kind, "template" | "hsm");
    let id = wire::ids::message_id();
    let stored = serde_json::to_string(&checked.payload).map_err(anyhow::Error::from)?;
    let lease_ms = core.config.workers.lease.as_millis() as i64;
    let sync = core.settings().await?.sync_send || refusable;
    let now = now_ms();
    let claim = sync.then(|| (core.owner.clone(), now + lease_ms));
    core.acceptor.store(outbound::NewOutbound::new(id.clone(), recipient, stored, now, claim)).await?;
    if !sync {
        core.wake.sender.notify_one();
        return Ok(id);
    }

    let row = core
        .db
        .run({
            let id = id.clone();
            move |conn| {
                outbound::load(conn, &[id])?.pop().ok_or_else(|| CoreError::Internal(anyhow::anyhow!("row vanished")))
            }
        })
        .await?;
    let outcome = sender::attempt(core, &row).await?;
    let owner = core.owner.clone();
    match outcome {
        SendOutcome::Accepted { wamid, user } => {
            let rid = row.id.clone();
            core.db
                .run(move |c| {
                    if let Some(user) = &user {
                        crate::identities::record_addressee(c, user, now_ms())?;
                    }
                    Ok(outbound::mark_sent(c, &rid, &owner, &wamid, 1, now_ms())?)
                })
                .await?;
            Ok(id)
        }
        SendOutcome::Failed { error } | SendOutcome::Retry { error, .. } if error.is_object() => {
            sender::fail(core, &row, 1, None).await?;
            Err(wire::cloud::onprem_api_error(&error).into())
        }
        SendOutcome::Failed { .. } | SendOutcome::Retry { .. } => {
            sender::fail(core, &row, 1, None).await?;
            Err(ApiError::new(ErrorCode::InternalError, "Cloud API did not answer; the message was not sent").into())
        }
    }
}

/// Stores a verified Cloud webhook body before Cloud gets its 200.
pub async fn ingest(db: &Db, body: Vec<u8>) -> Result<String, CoreError> {
    if body.is_empty() {
        return Err(ApiError::invalid("empty webhook body").into());
    }
    db.run(move |conn| Ok(inbound::insert_event(conn, &body, now_ms())?)).await
}

/// `PUT /v1/messages/{id}` `{"status":"read"}`: marks a user's message read
/// on Cloud.
pub async fn mark_read(core: &Core, message_id: String) -> Result<(), CoreError> {
    let id = message_id.clone();
    let wamid = core.db.run(move |conn| Ok(inbound::wamid_of(conn, &id)?)).await?;
    let Some(wamid) = wamid else {
        return Err(ApiError::not_found(format!("Message with id {message_id} not found")).into());
    };
    match core.cloud.mark_read(&wamid).await {
        Ok(()) => Ok(()),
        Err(Some(error)) => Err(wire::cloud::onprem_api_error(&error).into()),
        Err(None) => Err(ApiError::new(ErrorCode::InternalError, "Cloud API did not answer").into()),
    }
}

/// Contacts checked per database round: one read, one delete and one
/// multi-row insert, each round on a connection of its own, so a large
/// request never holds one for long.
const CONTACTS_PER_ROUND: usize = 500;

/// `POST /v1/contacts`: every number written correctly is `valid` with its
/// digits as `wa_id` (as the old client answered from v2.43 on); a stand-in
/// identifier or BSUID is `valid` when it names a user we know, with the
/// identifier the business knows them by as `wa_id`; anything else
/// `invalid`. Results are kept 7 days; `force_check` looks again. At
/// most [`wire::messages::MAX_CONTACTS`] per request, and at most
/// [`Core::contact_checks`] requests at a time per coreapp, so checks can
/// never take the pool from sends.
pub async fn check_contacts(core: &Core, inputs: Vec<String>, force_check: bool) -> Result<Vec<Value>, CoreError> {
    if inputs.len() > wire::messages::MAX_CONTACTS {
        return Err(wire::messages::too_many_contacts(inputs.len()).into());
    }
    let _turn = core
        .contact_checks
        .acquire()
        .await
        .map_err(|e| CoreError::Internal(anyhow::anyhow!("contact checks stopped: {e}")))?;
    let mode = core.settings().await?.identity.identifier;
    // Results are kept under the first 64 characters of the input.
    let key = |input: &str| -> String { input.chars().take(64).collect() };
    let mut unique: Vec<String> = inputs.iter().map(|i| key(i)).collect();
    unique.sort_unstable();
    unique.dedup();
    let mut results: std::collections::HashMap<String, contacts::Checked> =
        std::collections::HashMap::with_capacity(unique.len());
    for round in unique.chunks(CONTACTS_PER_ROUND) {
        let round = round.to_vec();
        let rows = core
            .db
            .run(move |conn| {
                crate::db::transaction(conn, |conn| {
                    let now = now_ms();
                    let mut known = if force_check { Vec::new() } else { contacts::find_many(conn, &round)? };
                    known.retain(|c| now - c.checked_at < CONTACT_CACHE_MS);
                    // Stand-ins and BSUIDs are answered from the registry
                    // as it is now, never from the kept results.
                    let (users, phones): (Vec<&String>, Vec<&String>) =
                        round.iter().partition(|input| names_a_user(input));
                    let mut answered = Vec::with_capacity(users.len());
                    for input in users {
                        let wa_id = crate::identities::known(conn, input, mode)?;
                        let status = if wa_id.is_some() { "valid" } else { "invalid" };
                        answered.push(contacts::Checked {
                            input: input.clone(),
                            status: status.into(),
                            wa_id,
                            checked_at: now,
                        });
                    }
                    let fresh: Vec<contacts::Checked> = phones
                        .into_iter()
                        .filter(|input| !known.iter().any(|c| &c.input == *input))
                        .map(|input| {
                            let wa_id = wire::messages::normalise_phone(input);
                            let status = if wa_id.is_some() { "valid" } else { "invalid" };
                            contacts::Checked { input: input.clone(), status: status.into(), wa_id, checked_at: now }
                        })
                        .collect();
                    contacts::replace_many(conn, &fresh)?;
                    known.retain(|c| !names_a_user(&c.input));
                    known.extend(fresh);
                    known.extend(answered);
                    Ok(known)
                })
            })
            .await?;
        results.extend(rows.into_iter().map(|row| (row.input.clone(), row)));
    }
    Ok(inputs
        .into_iter()
        .map(|input| {
            let row = results.get(&key(&input));
            let mut item = json!({"input": input, "status": row.map_or("invalid", |r| r.status.as_str())});
            if let Some(w) = row.and_then(|r| r.wa_id.as_ref()) {
                item["wa_id"] = json!(w);
            }
            item
        })
        .collect())
}

/// Whether a contacts input is one of the identifiers of users without a
/// known phone: a stand-in or a BSUID.
fn names_a_user(input: &str) -> bool {
    matches!(
        wire::identity::Recipient::parse(input),
        Some(wire::identity::Recipient::Standin(_) | wire::identity::Recipient::Bsuid(_))
    )
}

/// `GET /v1/contacts/{wa_id}/identity`.
pub async fn identity(db: &Db, wa_id: String) -> Result<Value, CoreError> {
    db.run(move |conn| {
        let Some(i) = contacts::identity(conn, &wa_id)? else {
            return Err(ApiError::not_found(format!("No identity is known for {wa_id}")).into());
        };
        Ok(json!({"hash": i.hash, "created_timestamp": i.created_timestamp, "acknowledged": i.acknowledged != 0}))
    })
    .await
}

/// `PUT /v1/contacts/{wa_id}/identity` `{"hash"}`: acknowledges a changed key.
pub async fn acknowledge_identity(db: &Db, wa_id: String, hash: String) -> Result<(), CoreError> {
    db.run(move |conn| {
        if contacts::identity(conn, &wa_id)?.is_none() {
            return Err(ApiError::not_found(format!("No identity is known for {wa_id}")).into());
        }
        match contacts::acknowledge(conn, &wa_id, &hash)? {
            0 => Err(ApiError::invalid_value("hash", &hash).into()),
            _ => Ok(()),
        }
    })
    .await
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

/// `POST /v1/certificates/webhooks/ca`: a PEM bundle the webhook client
/// will trust, on every coreapp.
pub async fn set_webhook_ca(core: &Core, pem: String) -> Result<(), CoreError> {
    crate::webhook_client::check_ca(&pem).map_err(ApiError::invalid)?;
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

//! Accepting messages and Cloud webhooks (one durable write each, then a
//! nudge to the worker that carries them on) and mark-as-read.

use wire::messages::Content;
use wire::{ApiError, ErrorCode};

use crate::Core;
use crate::engine::sender;
use crate::error::CoreError;
use crate::store::accept::Stored;
use crate::store::db::now_ms;
use crate::store::{inbound, outbound};

/// Stores a validated on-prem message in the send queue and returns its id.
/// Once stored, the message is committed and will reach a final status.
///
/// With `sync_send` on (and for templates to users known only by BSUID),
/// the message is sent before this returns: accepted
/// gives the id; a refusal (or Cloud being unreachable) marks it failed,
/// sends no webhook, and returns Cloud's error as the on-prem one, so the
/// client may safely retry.
///
/// `id` is the caller's (empty: one is chosen here). A send made again with
/// the same id and message, after its answer was lost, answers the same id
/// and stores nothing more.
pub async fn send(
    core: &Core,
    id: String,
    recipient: String,
    message: Option<proto::core::OutboundMessage>,
) -> Result<String, CoreError> {
    // The webapp validated the body; the invariants the engine relies on
    // are checked again on the typed message, whoever sent it.
    let message = proto::messages::from_proto(message.ok_or_else(|| ApiError::missing("message"))?)?;
    message.check()?;
    let backlog = core.outbox_depth.load(std::sync::atomic::Ordering::Relaxed);
    if backlog > core.config.workers.max_callback_backlog {
        return Err(ApiError::new(
            ErrorCode::SystemOverloaded,
            format!("{backlog} webhook events wait for the webhook server; sending resumes when it catches up"),
        )
        .into());
    }
    let recipient = wire::identity::Bsuid::parse(&recipient)
        .map(|b| b.to_string())
        .or_else(|| wire::messages::normalise_phone(&recipient).filter(|digits| *digits == recipient))
        .ok_or_else(|| ApiError::invalid_value("to", &recipient))?;
    if let Some(unknown) = crate::media_files::unknown_ids(core, &message).await?.first() {
        return Err(ApiError::not_found(format!("Media with id {unknown} not found")).into());
    }
    // A stand-in we never gave out names no one. A phone number needs no
    // lookup (most sends): no trip to the database.
    let target = match crate::identities::phone_target(&recipient) {
        Some(phone) => Some(phone),
        None => {
            let to = recipient.clone();
            core.db.run(move |conn| crate::identities::target(conn, &to)).await?
        }
    };
    let Some(target) = target else {
        return Err(ApiError::not_found(format!("Recipient {recipient} is not a known user")).into());
    };
    // Cloud refuses some templates (authentication) to users it knows only
    // by BSUID (131062); which ones depends on the template's category,
    // which Cloud knows. So a template to such a user is sent before this
    // returns, and a refusal is the answer.
    let template = matches!(message.content, Content::Template { .. } | Content::Hsm { .. });
    let refusable = matches!(target, crate::identities::Target::Bsuid(_)) && template;
    let id = match id {
        id if id.is_empty() => wire::ids::message_id(),
        id if wire::ids::is_message_id(&id) => id,
        other => return Err(ApiError::invalid_value("message_id", other).into()),
    };
    let stored = outbound::payload_of(&message);
    let lease_ms = core.config.workers.lease.as_millis() as i64;
    let sync = core.settings().await?.sync_send || refusable;
    let now = now_ms();
    let claim = sync.then(|| (core.owner.clone(), now + lease_ms));
    let stored = core.acceptor.store(outbound::NewOutbound::new(id.clone(), recipient, stored, now, claim)).await?;
    // A send made again is answered as the first was; its work is in hand.
    if !sync || stored == Stored::Replayed {
        core.wake.sender.notify_one();
        return Ok(id);
    }

    // Sent here and now: the claim taken above keeps the workers off it.
    sender::send_now(core, &id).await?;
    Ok(id)
}

/// Handles (or stores) a verified Cloud webhook body before Cloud gets its
/// 200.
pub async fn ingest(core: &Core, body: Vec<u8>) -> Result<(), CoreError> {
    if body.is_empty() {
        return Err(ApiError::invalid("empty webhook body").into());
    }
    core.receipts.store(body).await
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

//! Intake: turns Cloud webhooks into on-prem events for the business.
//!
//! Most notifications are handled as they arrive, in the transaction that
//! answers Cloud (`engine::receive`); the intake's queue holds the rest:
//! statuses waiting for the sender to record their wamid, notifications
//! whose handling failed at arrival, unreadable ones (set aside).
//!
//! A batch of notifications is handled in one transaction,
//! with a handful of statements whatever its size: the messages its
//! statuses name are read at once, the statuses they already reached at
//! once, the user messages already seen at once; then every event is worked
//! out in memory, in Cloud's order, and the results are written with one
//! multi-row statement per table. The rules:
//! - statuses map from wamid to our message id, are recorded once, and
//!   never go backwards (`read` after `delivered` is fine, `delivered`
//!   after `read` is dropped);
//! - user messages get our id and are deduplicated by wamid;
//! - a status that arrives before our sender recorded its wamid (Cloud can
//!   be that fast) waits and is retried, for up to 10 minutes;
//! - a user's media gets our media id; a type named in
//!   `media.auto_download` is queued for download, and its webhook waits
//!   (holding back the contact's later ones) until the file is on the
//!   volume;
//! - a message whose uploaded media Cloud rejected after accepting the
//!   send (131053: the upload expired or was removed there) is sent again
//!   once, with the file uploaded anew, instead of failing;
//! - every user an event names goes through the identity registry
//!   (`crate::identities`): users are named as the business knows them, and
//!   a user whose identifier changes is announced with the old client's
//!   `user_changed_number` event.
//!
//! If the batch fails (another node recorded a status meanwhile, a lease
//! lapsed), it is undone and its notifications go one by one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};
use wire::cloud::{
    CloudEvent, InboundIds, Presented, onprem_error, onprem_inbound, onprem_status, parse_notification, present_sender,
};
use wire::settings::ApplicationSettings;
use wire::status::MessageStatus;

use crate::Core;
use crate::error::CoreError;
use crate::identities::{Change, Registry, Seen};
use crate::store::db::{AnyConnection, now_ms, transaction};
use crate::store::downloads::NewDownload;
use crate::store::outbox::{EventKind, NewEvent};
use crate::store::queue::{self, Queue, Settle, State};
use crate::store::{contacts, downloads, inbound, media, outbound, outbox};

/// How long a status for an unknown wamid waits for the sender to record it
/// before it is dropped as not ours.
const UNKNOWN_WAMID_PATIENCE_MS: i64 = 10 * 60 * 1000;
const BATCH: i64 = 128;

/// Cloud's code for media it cannot fetch or does not have.
const MEDIA_UPLOAD_ERROR: i64 = 131053;

pub async fn step(core: &Arc<Core>) -> anyhow::Result<usize> {
    let owner = core.owner.clone();
    let lease = core.config.workers.lease.as_millis() as i64;
    let pnid = core.config.cloud.phone_number_id.clone();
    let settings = core.settings().await?;
    let (handled, follow_up) = core
        .db
        .run(move |conn| {
            let ids = queue::claim(conn, Queue::Inbound, &owner, now_ms(), lease, BATCH)?;
            if ids.is_empty() {
                return Ok((0, FollowUp::default()));
            }
            let events = inbound::load_events(conn, &ids)?;
            let ctx = Context { owner: &owner, pnid: &pnid, settings: &settings };
            let follow_up = match transaction(conn, |conn| handle_batch(conn, &events, &ctx)) {
                Ok(f) => f,
                // The database went away: nothing was written, and one by
                // one would fail the same way.
                Err(e) if e.is_unavailable() => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "a webhook batch failed; handling its notifications one by one");
                    let mut all = FollowUp::default();
                    for event in &events {
                        match transaction(conn, |conn| handle_batch(conn, std::slice::from_ref(event), &ctx)) {
                            Ok(f) => all.add(f),
                            Err(e) => {
                                tracing::error!(event_id = %event.id, error = %e, "webhook failed; retried when its claim lapses")
                            }
                        }
                    }
                    all
                }
            };
            Ok((events.len(), follow_up))
        })
        .await?;
    follow_up.wake(&core.wake);
    Ok(handled)
}

/// What handling needs to know: who claims, our number, the settings.
pub(crate) struct Context<'a> {
    pub owner: &'a str,
    pub pnid: &'a str,
    pub settings: &'a ApplicationSettings,
}

/// Work a batch handed to other workers.
#[derive(Default)]
pub(crate) struct FollowUp {
    /// Messages to send again.
    pub resends: usize,
    /// Media to download.
    pub downloads: usize,
    /// Notifications stored for the intake (statuses waiting for their
    /// wamid, unreadable bodies).
    pub stored: usize,
    /// On-prem events queued for the business.
    pub events: usize,
}

impl FollowUp {
    pub fn add(&mut self, other: FollowUp) {
        self.resends += other.resends;
        self.downloads += other.downloads;
        self.stored += other.stored;
        self.events += other.events;
    }

    /// Nudges the workers with work to do.
    pub fn wake(&self, wake: &crate::Wake) {
        if self.events > 0 {
            wake.delivery.notify_one();
        }
        if self.resends > 0 {
            wake.sender.notify_one();
        }
        if self.downloads > 0 {
            wake.downloader.notify_one();
        }
        if self.stored > 0 {
            wake.intake.notify_one();
        }
    }
}

/// A message to send again: its id, the wamid Cloud gave the failed send,
/// the media ids whose Cloud uploads are to be forgotten.
struct Resend {
    message_id: String,
    wamid: String,
    media: Vec<String>,
}

/// What a batch writes, gathered in memory first.
#[derive(Default)]
struct Writes {
    statuses: Vec<outbound::NewStatus>,
    messages: Vec<inbound::NewMessage>,
    media: Vec<media::Media>,
    downloads: Vec<NewDownload>,
    resends: Vec<Resend>,
    identities: Vec<contacts::Identity>,
    outbox: Vec<NewEvent>,
}

fn wamid_of(v: &Value) -> Option<&str> {
    v.get("id").and_then(Value::as_str)
}

/// Notifications as parsed, each with the events of our number, and those
/// that could not be read, each with why.
type Parsed<'e> = (Vec<(&'e inbound::Event, Vec<CloudEvent>)>, Vec<(&'e inbound::Event, String)>);

fn parse_all<'e>(events: &'e [inbound::Event], ctx: &Context<'_>) -> Parsed<'e> {
    let (mut parsed, mut unreadable) = (Vec::with_capacity(events.len()), Vec::new());
    // Events of other numbers (a Cloud app subscribed for several) are
    // dropped with one warning per batch, not one line each.
    let mut foreign: Option<(String, usize)> = None;
    for event in events {
        match parse_notification(&event.body) {
            Ok(list) => {
                let (ours, others): (Vec<CloudEvent>, Vec<CloudEvent>) =
                    list.into_iter().partition(|e| ctx.pnid.is_empty() || e.phone_number_id() == ctx.pnid);
                if let Some(first) = others.first() {
                    let (_, n) = foreign.get_or_insert_with(|| (first.phone_number_id().to_string(), 0));
                    *n += others.len();
                }
                parsed.push((event, ours));
            }
            Err(e) => unreadable.push((event, e.to_string())),
        }
    }
    if let Some((phone_number_id, dropped)) = foreign {
        tracing::warn!(%phone_number_id, dropped, "webhook events for a number that is not ours dropped (the first one's named)");
    }
    (parsed, unreadable)
}

/// Handles claimed stored notifications and removes them from the queue
/// (the caller holds a transaction).
fn handle_batch(conn: &mut AnyConnection, events: &[inbound::Event], ctx: &Context<'_>) -> Result<FollowUp, CoreError> {
    let now = now_ms();
    let (parsed, unreadable) = parse_all(events, ctx);
    for (event, error) in unreadable {
        tracing::warn!(event_id = %event.id, %error, "stored Cloud webhook is unreadable; set aside");
        let s = Settle {
            state: State::Failed,
            attempts: event.attempts + 1,
            next_attempt_at: now,
            last_error: Some(error),
        };
        queue::settle(conn, Queue::Inbound, &event.id, ctx.owner, &s)?;
    }
    let follow_up = handle(conn, &parsed, ctx)?;
    let finished: Vec<String> = parsed.iter().map(|(event, _)| event.id.clone()).collect();
    let removed = queue::finish_many(conn, Queue::Inbound, &finished, ctx.owner)?;
    if removed != finished.len() {
        // Some claims lapsed and another node owns those events: undo.
        return Err(CoreError::Internal(anyhow::anyhow!("{} claims lapsed", finished.len() - removed)));
    }
    Ok(follow_up)
}

/// Handles notifications as Cloud delivers them, never stored as they
/// came (the caller holds a transaction): an unreadable one is stored for
/// the intake to set aside, where it can be looked at.
pub(crate) fn handle_received(
    conn: &mut AnyConnection,
    events: &[inbound::Event],
    ctx: &Context<'_>,
) -> Result<FollowUp, CoreError> {
    let (parsed, unreadable) = parse_all(events, ctx);
    let raw: Vec<Vec<u8>> = unreadable.into_iter().map(|(event, _)| event.body.clone()).collect();
    inbound::insert_events(conn, &raw, now_ms())?;
    let mut follow_up = handle(conn, &parsed, ctx)?;
    follow_up.stored += raw.len();
    Ok(follow_up)
}

/// Works out the on-prem events of parsed notifications and writes them
/// (the caller holds a transaction).
fn handle(
    conn: &mut AnyConnection,
    parsed: &[(&inbound::Event, Vec<CloudEvent>)],
    ctx: &Context<'_>,
) -> Result<FollowUp, CoreError> {
    let now = now_ms();

    // One read each: our messages named by wamid (statuses, replies,
    // reactions), the statuses they reached, the user messages seen.
    let mut wamids = Vec::new();
    let mut inbound_wamids = Vec::new();
    for (_, list) in parsed {
        for e in list {
            match e {
                CloudEvent::Status { status, .. } => wamids.extend(wamid_of(status).map(String::from)),
                CloudEvent::Message { message, .. } => {
                    inbound_wamids.extend(wamid_of(message).map(String::from));
                    for p in ["/context/id", "/reaction/message_id"] {
                        wamids.extend(message.pointer(p).and_then(Value::as_str).map(String::from));
                    }
                }
                CloudEvent::Error { .. } | CloudEvent::UserChange { .. } => {}
            }
        }
    }
    let users = parsed.iter().flat_map(|(_, list)| list).filter_map(|e| match e {
        CloudEvent::Status { user, .. } | CloudEvent::Message { user, .. } => user.as_ref(),
        CloudEvent::UserChange { user, .. } => Some(user),
        CloudEvent::Error { .. } => None,
    });
    // Our messages first, then their users: the sender records a send's
    // user in the transaction that records its wamid, so every user of a
    // send read here is read below too (the other way round, a send
    // recorded by another node in between would look like a new user).
    let known: HashMap<String, outbound::Outbound> =
        outbound::find_by_wamids(conn, &wamids)?.into_iter().filter_map(|m| m.wamid.clone().map(|w| (w, m))).collect();
    let mut registry = Registry::load(conn, users, ctx.settings.identity.identifier)?;
    let message_ids: Vec<String> = known.values().map(|m| m.id.clone()).collect();
    let mut reached: HashMap<String, Option<MessageStatus>> = HashMap::new();
    for (id, status) in outbound::statuses_of(conn, &message_ids)? {
        let r = reached.entry(id).or_default();
        *r = (*r).max(Some(status));
    }
    let mut seen: HashSet<String> = inbound::known_wamids(conn, &inbound_wamids)?.into_iter().collect();

    let mut w = Writes::default();
    let mut deferred = 0;
    for (event, list) in parsed {
        // Statuses that raced ahead of our sender (their wamid is not
        // recorded yet) wait in a notification of their own; the rest of
        // this one goes on now, so they hold back nothing batched with them.
        let young = now - event.received_at < UNKNOWN_WAMID_PATIENCE_MS;
        let (waiting, ready): (Vec<&CloudEvent>, Vec<&CloudEvent>) = list.iter().partition(|e| match e {
            CloudEvent::Status { status, .. } => young && wamid_of(status).is_some_and(|w| !known.contains_key(w)),
            _ => false,
        });
        if let Some(first) = waiting.first() {
            let statuses: Vec<Value> = waiting
                .iter()
                .filter_map(|e| match e {
                    CloudEvent::Status { status, .. } => Some(status.clone()),
                    _ => None,
                })
                .collect();
            let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "", "changes": [{"field": "messages",
                "value": {"metadata": {"phone_number_id": first.phone_number_id()}, "statuses": statuses}}]}]});
            let backoff = 250 * i64::from(event.attempts + 1).min(40);
            inbound::insert_deferred(
                conn,
                body.to_string().as_bytes(),
                event.received_at,
                event.attempts + 1,
                now + backoff,
            )?;
            deferred += 1;
            tracing::debug!(event_id = %event.id, waiting = statuses.len(), "statuses for wamids not recorded yet wait");
        }
        for e in ready {
            match e {
                CloudEvent::Status { status, user, .. } => {
                    let seen = match user {
                        Some(user) => registry.observe(conn, user, now)?,
                        None => None,
                    };
                    announce(seen.as_ref(), timestamp_of(status, now), ctx.settings, now, &mut w);
                    let order = seen.as_ref().and_then(|s| s.bsuid.as_deref());
                    status_event(status, order, &known, &mut reached, ctx.settings, now, &mut w)
                }
                CloudEvent::Message { contact, message, user, .. } => {
                    let Some(wamid) = wamid_of(message) else { continue };
                    if !seen.insert(wamid.to_string()) {
                        tracing::debug!(%wamid, "duplicate inbound message dropped");
                        continue;
                    }
                    let sender = match user {
                        Some(user) => registry.observe(conn, user, now)?,
                        None => None,
                    };
                    let inbound = Inbound { contact: contact.as_ref(), message, wamid, sender: sender.as_ref() };
                    message_event(&inbound, &known, ctx.settings, now, &mut w);
                }
                CloudEvent::UserChange { user, .. } => {
                    let seen = registry.observe(conn, user, now)?;
                    announce(seen.as_ref(), (now / 1000).to_string(), ctx.settings, now, &mut w);
                }
                CloudEvent::Error { error, .. } => {
                    let body = json!({"errors": [onprem_error(error)]});
                    w.outbox.push(NewEvent::new("", EventKind::Error, body.to_string(), now));
                }
            }
        }
    }

    outbound::insert_statuses(conn, &w.statuses)?;
    inbound::insert_messages(conn, &w.messages)?;
    media::insert_many(conn, &w.media)?;
    downloads::insert_many(conn, &w.downloads)?;
    let mut resends = 0;
    for r in &w.resends {
        if outbound::resend(conn, &r.message_id, &r.wamid, now)? {
            media::forget_uploads(conn, &r.media)?;
            resends += 1;
        }
    }
    for identity in &w.identities {
        contacts::put_identity(conn, identity)?;
    }
    outbox::insert_many(conn, &w.outbox)?;
    Ok(FollowUp { resends, downloads: w.downloads.len(), stored: deferred, events: w.outbox.len() })
}

/// `order`: the key the user's webhooks go out in order under (their BSUID,
/// when Cloud named it; else the recipient as the business wrote it).
#[allow(clippy::too_many_arguments)]
fn status_event(
    status: &Value,
    order: Option<&str>,
    known: &HashMap<String, outbound::Outbound>,
    reached: &mut HashMap<String, Option<MessageStatus>>,
    settings: &ApplicationSettings,
    now: i64,
    w: &mut Writes,
) {
    let wamid = wamid_of(status).unwrap_or_default();
    let name = status.get("status").and_then(Value::as_str).unwrap_or_default();
    let Some(msg) = known.get(wamid) else {
        tracing::warn!(%wamid, status = name, "status for a message we did not send dropped");
        return;
    };
    if let Some(resend) = media_resend(status, name, msg) {
        tracing::info!(message_id = %msg.id, "Cloud rejected the message's uploaded media; uploading again and re-sending");
        w.resends.push(resend);
        return;
    }
    let current = reached.entry(msg.id.clone()).or_default();
    let Some(progress) = MessageStatus::parse(name).filter(|s| Some(*s) > *current) else {
        tracing::debug!(message_id = %msg.id, status = name, "duplicate, out-of-order or unknown status dropped");
        return;
    };
    *current = Some(progress);
    let cloud_timestamp = status.get("timestamp").and_then(Value::as_str).unwrap_or_default().to_string();
    w.statuses.push(outbound::NewStatus::new(msg.id.clone(), progress, cloud_timestamp, now));
    if settings.status_webhook_enabled(progress) {
        let body = json!({"statuses": [onprem_status(status, &msg.id, Some(&msg.recipient))]});
        w.outbox.push(NewEvent::new(order.unwrap_or(&msg.recipient), EventKind::Status, body.to_string(), now));
    }
}

/// A `failed` status with 131053 for a message that sent media of ours
/// through Cloud ids we uploaded, not re-sent before: Cloud dropped the
/// upload (expired, or removed), so the file is uploaded again and the
/// message re-sent.
fn media_resend(status: &Value, name: &str, msg: &outbound::Outbound) -> Option<Resend> {
    let code = status.pointer("/errors/0/code").and_then(Value::as_i64);
    if name != "failed" || code != Some(MEDIA_UPLOAD_ERROR) || msg.media_resends > 0 {
        return None;
    }
    let message = msg.message().ok()?;
    let media: Vec<String> =
        message.media_ids().into_iter().filter(|id| wire::messages::is_our_media_id(id)).map(String::from).collect();
    if media.is_empty() {
        return None;
    }
    Some(Resend { message_id: msg.id.clone(), wamid: msg.wamid.clone()?, media })
}

/// Our ids for what a user's message refers to: messages we sent (known
/// from the batch read) and new media rows; the media to download before
/// the webhook goes out.
struct BatchIds<'a> {
    known: &'a HashMap<String, outbound::Outbound>,
    media: &'a mut Vec<media::Media>,
    settings: &'a ApplicationSettings,
    download: Vec<String>,
    now: i64,
}

impl InboundIds for BatchIds<'_> {
    fn message(&mut self, wamid: &str) -> Option<String> {
        self.known.get(wamid).map(|m| m.id.clone())
    }

    fn media(&mut self, kind: &str, object: &Value) -> String {
        let text = |k: &str| object.get(k).and_then(Value::as_str).map(String::from);
        let mime_type = text("mime_type").unwrap_or_else(|| "application/octet-stream".into());
        let mut row = media::Media::inbound(uuid::Uuid::new_v4().to_string(), mime_type, text("id"), self.now);
        row.cloud_sha256 = text("sha256");
        row.filename = text("filename");
        row.cloud_url = text("url");
        let id = row.id.clone();
        if row.cloud_id.is_some() && self.settings.auto_downloads(kind) {
            self.download.push(id.clone());
        }
        self.media.push(row);
        id
    }
}

/// A user's message as parsed, with how the business knows its sender.
struct Inbound<'a> {
    contact: Option<&'a Value>,
    message: &'a Value,
    wamid: &'a str,
    sender: Option<&'a Seen>,
}

fn message_event(
    inbound: &Inbound<'_>,
    known: &HashMap<String, outbound::Outbound>,
    settings: &ApplicationSettings,
    now: i64,
    w: &mut Writes,
) {
    let Inbound { contact, message, wamid, sender } = *inbound;
    let text = |p: &str| message.pointer(p).and_then(Value::as_str);
    let kind = text("/type").unwrap_or_default();
    let system = if kind == "system" { text("/system/type").unwrap_or_default() } else { "" };
    let timestamp = timestamp_of(message, now);
    let change = sender.and_then(|s| s.change.as_ref());
    // Users of BSUIDs are named by the registry; Cloud's older shapes by
    // `from` (a number change's `from` is the number the user had).
    let identifier = match sender {
        Some(s) if s.bsuid.is_some() => s.identifier.clone(),
        _ => text("/from").map(str::to_owned).or_else(|| sender.map(|s| s.identifier.clone())).unwrap_or_default(),
    };
    let id = wire::ids::message_id();
    w.messages.push(inbound::NewMessage {
        id: id.clone(),
        wamid: wamid.to_string(),
        from_wa_id: identifier.clone(),
        received_at: now,
    });

    if matches!(system, "user_changed_number" | "user_changed_user_id") {
        if sender.is_some_and(|s| s.bsuid.is_some()) {
            // Cloud's report of a new BSUID or number: the registry worked
            // out what the business is to hear, once.
            announce(sender, timestamp, settings, now, w);
            return;
        }
        if !settings.notify_user_change_number {
            return;
        }
    }
    // A user who shared their number on request: the share comes from the
    // identifier the business had, the change after it. Otherwise the
    // change comes first, so the message is from a user the business knows.
    let shared = kind == "contacts" && change.is_some();
    if !shared {
        announce(sender, timestamp.clone(), settings, now, w);
    }
    let from = match change {
        Some(c) if shared => c.from.clone(),
        _ => identifier,
    };

    if let Some(identity) = identity_of(message, &from) {
        w.identities.push(identity);
    }
    let mut ids = BatchIds { known, media: &mut w.media, settings, download: Vec::new(), now };
    let mut body = onprem_inbound(contact, message, &id, &mut ids);
    if !from.is_empty() {
        let fields = settings.identity.user_fields;
        let who = Presented {
            identifier: &from,
            user_id: sender.and_then(|s| s.bsuid.as_deref()).filter(|_| fields),
            username: sender.and_then(|s| s.username.as_deref()).filter(|_| fields),
        };
        present_sender(&mut body, &who);
    }
    let order = sender.and_then(|s| s.bsuid.as_deref()).unwrap_or(&from);
    let mut event = NewEvent::new(order, EventKind::Message, body.to_string(), now);
    if !ids.download.is_empty() {
        // Goes out once the download is done (or gave up).
        event.next_attempt_at = outbox::HELD;
        w.downloads.extend(ids.download.iter().map(|media_id| NewDownload::new(media_id, &event.id, now)));
    }
    w.outbox.push(event);
    if shared {
        announce(sender, timestamp, settings, now, w);
    }
}

/// Queues the old client's `user_changed_number` event when the registry
/// found that a user's identifier changed (unless the business turned
/// `notify_user_change_number` off). A user's webhooks go out in order
/// under their BSUID whatever identifier they carry, so the event stays
/// between what came before and after it.
fn announce(seen: Option<&Seen>, timestamp: String, settings: &ApplicationSettings, now: i64, w: &mut Writes) {
    let Some(Seen { change: Some(Change { from, to }), profile_name, bsuid, .. }) = seen else { return };
    tracing::info!(%from, %to, "a user's identifier changed");
    if !settings.notify_user_change_number {
        return;
    }
    let id = wire::ids::message_id();
    let body = wire::cloud::user_changed_number(&id, from, to, profile_name.as_deref(), &timestamp);
    w.outbox.push(NewEvent::new(bsuid.as_deref().unwrap_or(to), EventKind::Message, body.to_string(), now));
}

/// An event's own time (Cloud's `timestamp`, unix seconds as text), or now.
fn timestamp_of(v: &Value, now: i64) -> String {
    v.get("timestamp").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| (now / 1000).to_string())
}

/// A user's identity key, when the message carries one (kept for
/// `/v1/contacts/{wa_id}/identity`, under the identifier the business sees).
fn identity_of(message: &Value, from: &str) -> Option<contacts::Identity> {
    if from.is_empty() {
        return None;
    }
    let identity = message.get("identity")?;
    let hash = identity.get("hash").and_then(Value::as_str)?;
    let created = identity
        .get("created_timestamp")
        .and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .unwrap_or_default();
    Some(contacts::Identity {
        wa_id: from.to_string(),
        hash: hash.to_string(),
        created_timestamp: created,
        acknowledged: i32::from(identity.get("acknowledged").and_then(Value::as_bool).unwrap_or(false)),
    })
}

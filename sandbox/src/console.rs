//! The console (`GET /_sandbox/ui`): a page that shows each conversation
//! as WhatsApp would and lets a developer answer as the user.
//!
//! This side keeps what the page shows, bounded: each conversation's
//! messages (the business's as sent, the user's as their webhook carried
//! them) with the statuses emitted for them, and the webhook deliveries to
//! the business. Changes go to the open pages as server-sent events. The
//! page itself (`sandbox/console/`) is embedded in the binary; what the
//! user does goes through the control API (`POST /_sandbox/inbound`, ...),
//! so it makes the same inbound messages.
//!
//! The page needs no login, as the rest of `/_sandbox/`: it answers only
//! requests addressed to this sandbox by address or as `localhost` (or by
//! the host of `WA_SANDBOX_PUBLIC_URL`), so a web page elsewhere cannot
//! reach it through a name of its own (DNS rebinding), and it loads
//! nothing from anywhere else (its Content-Security-Policy).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Mutex;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use crate::state::AppState;

/// The page and its assets, embedded at compile time.
const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/app.js");
const STYLE: &str = include_str!("../console/app.css");

/// Messages kept per conversation, and in all (the least recently active
/// conversations go first).
const MAX_ITEMS_PER_CONVERSATION: usize = 300;
const MAX_ITEMS: usize = 20_000;
/// Statuses kept per message.
const MAX_STATUSES: usize = 16;
/// Webhook deliveries kept.
const MAX_DELIVERIES: usize = 500;
/// Events an open page may fall behind by before it is told to reload.
const EVENT_BACKLOG: usize = 1024;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
                   media-src 'self' blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; \
                   base-uri 'none'";

pub(crate) struct Console {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Event>,
    /// Set when the sandbox stops: open event streams end.
    closed: watch::Sender<bool>,
}

/// One server-sent event: its name and JSON data.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    name: &'static str,
    data: Value,
}

#[derive(Default)]
struct Inner {
    conversations: HashMap<Key, Conversation>,
    /// Which conversation holds a message, by wamid.
    by_wamid: HashMap<String, Key>,
    items: usize,
    /// Bumped by each change: the conversations' recency.
    tick: u64,
    deliveries: VecDeque<Value>,
}

/// A conversation: a user (phone, or BSUID when the phone is withheld) and
/// a business number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
struct Key {
    phone_number_id: String,
    user: String,
}

struct Conversation {
    name: Option<String>,
    items: VecDeque<Item>,
    active: u64,
}

#[derive(Clone, Debug, Serialize)]
struct Item {
    id: String,
    /// `business` or `user`.
    from: &'static str,
    at_ms: i64,
    #[serde(rename = "type")]
    kind: String,
    message: Value,
    statuses: Vec<Value>,
}

/// What a business message is.
pub(crate) struct BusinessMessage<'a> {
    pub phone_number_id: &'a str,
    pub user: &'a str,
    pub wamid: &'a str,
    pub kind: &'a str,
    pub payload: &'a Value,
    pub at_ms: i64,
}

impl Default for Console {
    fn default() -> Self {
        Console {
            inner: Mutex::default(),
            events: broadcast::channel(EVENT_BACKLOG).0,
            closed: watch::channel(false).0,
        }
    }
}

impl Console {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, name: &'static str, data: Value) {
        // No page open: nobody to tell.
        let _ = self.events.send(Event { name, data });
    }

    /// A message the business sent (accepted by the Graph API).
    pub(crate) fn business_message(&self, m: BusinessMessage<'_>) {
        let key = Key { phone_number_id: m.phone_number_id.to_owned(), user: m.user.to_owned() };
        let item = Item {
            id: m.wamid.to_owned(),
            from: "business",
            at_ms: m.at_ms,
            kind: m.kind.to_owned(),
            message: m.payload.clone(),
            statuses: Vec::new(),
        };
        self.push(key, None, item);
    }

    /// A message the user sent: `message` as its webhook carries it.
    pub(crate) fn user_message(&self, phone_number_id: &str, user: &str, name: Option<&str>, message: Value) {
        let key = Key { phone_number_id: phone_number_id.to_owned(), user: user.to_owned() };
        let item = Item {
            id: message.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
            from: "user",
            at_ms: message
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<i64>().ok())
                .map_or(0, |s| s * 1000),
            kind: message.get("type").and_then(Value::as_str).unwrap_or("unknown").to_owned(),
            message,
            statuses: Vec::new(),
        };
        self.push(key, name.map(str::to_owned), item);
    }

    fn push(&self, key: Key, name: Option<String>, item: Item) {
        let event = json!({ "conversation": key, "item": item });
        {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            let conversation = inner.conversations.entry(key.clone()).or_insert_with(|| Conversation {
                name: None,
                items: VecDeque::new(),
                active: tick,
            });
            conversation.active = tick;
            if name.is_some() {
                conversation.name = name;
            }
            conversation.items.push_back(item.clone());
            let dropped = (conversation.items.len() > MAX_ITEMS_PER_CONVERSATION)
                .then(|| conversation.items.pop_front())
                .flatten();
            if let Some(dropped) = dropped {
                inner.by_wamid.remove(&dropped.id);
            } else {
                inner.items += 1;
            }
            inner.by_wamid.insert(item.id.clone(), key);
            while inner.items > MAX_ITEMS {
                inner.evict_least_recent();
            }
        }
        self.emit("item", event);
    }

    /// A status the sandbox emitted for a business message (`status` as its
    /// webhook carries it).
    pub(crate) fn status(&self, wamid: &str, status: Value) {
        let key = {
            let mut inner = self.lock();
            let Some(key) = inner.by_wamid.get(wamid).cloned() else { return };
            let Some(item) =
                inner.conversations.get_mut(&key).and_then(|c| c.items.iter_mut().rev().find(|i| i.id == wamid))
            else {
                return;
            };
            if item.statuses.len() >= MAX_STATUSES {
                item.statuses.remove(0);
            }
            item.statuses.push(status.clone());
            key
        };
        self.emit("status", json!({ "conversation": key, "id": wamid, "status": status }));
    }

    /// A webhook POST to the business settled: `items` says what it carried.
    pub(crate) fn delivery(
        &self,
        at_ms: i64,
        url: Option<&str>,
        items: Vec<String>,
        outcome: &str,
        attempts: u32,
        error: Option<String>,
    ) {
        let delivery = json!({
            "at_ms": at_ms,
            "url": url,
            "items": items,
            "outcome": outcome,
            "attempts": attempts,
            "error": error,
        });
        {
            let mut inner = self.lock();
            if inner.deliveries.len() >= MAX_DELIVERIES {
                inner.deliveries.pop_front();
            }
            inner.deliveries.push_back(delivery.clone());
        }
        self.emit("delivery", delivery);
    }

    /// Something a panel shows changed (`templates`, `clock`, `settings`,
    /// `faults`), or everything (`reset`).
    pub(crate) fn changed(&self, what: &'static str) {
        self.emit("changed", json!({ "what": what }));
    }

    /// Forgets everything (the sandbox's reset).
    pub(crate) fn reset(&self) {
        *self.lock() = Inner::default();
        self.changed("reset");
    }

    /// Ends the open event streams (the sandbox stops).
    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }
}

impl Inner {
    fn evict_least_recent(&mut self) {
        let Some(key) = self.conversations.iter().min_by_key(|(_, c)| c.active).map(|(k, _)| k.clone()) else {
            self.items = 0;
            return;
        };
        if let Some(conversation) = self.conversations.remove(&key) {
            self.items -= conversation.items.len();
            for item in conversation.items {
                self.by_wamid.remove(&item.id);
            }
        }
    }
}

// === handlers ===

/// Refuses requests not addressed to this sandbox by address, as
/// `localhost`, or by the public URL's host; adds the page's security
/// headers to every answer.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !host_allowed(host, state.config.public_url.as_deref()) {
        let message = "the console answers requests to this sandbox's address or localhost only";
        return (StatusCode::FORBIDDEN, Json(json!({ "error": { "message": message } }))).into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// An address (any: names are what a rebinding attack controls),
/// `localhost`, or the host of the sandbox's public URL.
fn host_allowed(host: &str, public_url: Option<&str>) -> bool {
    let name = match host.rsplit_once(':') {
        // An IPv6 literal keeps its brackets: `[::1]:9080`.
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() {
        return false;
    }
    if name.parse::<std::net::IpAddr>().is_ok() || name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    public_url
        .and_then(|url| url::Url::parse(url).ok())
        .and_then(|url| url.host_str().map(|h| h.eq_ignore_ascii_case(name)))
        .unwrap_or(false)
}

pub(crate) async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX)
}

pub(crate) async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], SCRIPT)
}

pub(crate) async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], STYLE)
}

/// The hosted numbers and where webhooks go.
pub(crate) async fn info(State(state): State<AppState>) -> Json<Value> {
    let numbers: Vec<Value> = state
        .config
        .phone_number_ids
        .iter()
        .zip(&state.display_numbers)
        .map(|(id, display)| json!({ "id": id, "display": display }))
        .collect();
    Json(json!({ "phone_numbers": numbers, "webhook_url": state.webhooks.url() }))
}

/// The conversations, most recently active first.
pub(crate) async fn conversations(State(state): State<AppState>) -> Json<Value> {
    let inner = state.console.lock();
    let mut list: Vec<(&Key, &Conversation)> = inner.conversations.iter().collect();
    list.sort_by_key(|(_, c)| std::cmp::Reverse(c.active));
    let data: Vec<Value> = list
        .into_iter()
        .map(|(key, c)| {
            let last = c.items.back();
            json!({
                "phone_number_id": key.phone_number_id,
                "user": key.user,
                "name": c.name,
                "count": c.items.len(),
                "last_at_ms": last.map(|i| i.at_ms),
                "last_text": last.map(summary),
            })
        })
        .collect();
    Json(json!({ "data": data }))
}

/// One conversation's messages, oldest first (empty for a new one).
pub(crate) async fn conversation(
    State(state): State<AppState>,
    Path((phone_number_id, user)): Path<(String, String)>,
) -> Json<Value> {
    let inner = state.console.lock();
    let key = Key { phone_number_id, user };
    let items: Vec<&Item> = inner.conversations.get(&key).map(|c| c.items.iter().collect()).unwrap_or_default();
    Json(json!({ "data": items }))
}

/// The webhook deliveries to the business, oldest first.
pub(crate) async fn deliveries(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state.console.lock().deliveries.iter().cloned().collect();
    Json(json!({ "data": data, "url": state.webhooks.url() }))
}

/// Every template of the business account, with its components.
pub(crate) async fn templates(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state
        .templates
        .all()
        .into_iter()
        .map(|t| {
            json!({
                "id": t.id,
                "name": t.name,
                "language": t.language,
                "category": t.category,
                "status": t.status,
                "components": t.components,
            })
        })
        .collect();
    Json(json!({ "data": data }))
}

/// A media file of the sandbox (the business's uploads, the user's files),
/// for the page to show: no token, the console's guard instead.
pub(crate) async fn media(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(media) = state.media.get(&id, state.clock.now_ms()) else {
        let message = format!("no media {id} (expired, or never uploaded)");
        return (StatusCode::NOT_FOUND, Json(json!({ "error": { "message": message } }))).into_response();
    };
    let disposition = match &media.filename {
        Some(name) => format!("inline; filename=\"{}\"", name.replace(['"', '\\', '\r', '\n'], "_")),
        None => "inline".to_owned(),
    };
    (
        [
            (header::CONTENT_TYPE, media.mime_type.clone()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "private, max-age=300".to_owned()),
        ],
        media.bytes.clone(),
    )
        .into_response()
}

/// The live feed: `item`, `status`, `delivery` and `changed` events. A page
/// that falls behind gets `changed` with `resync` and reloads.
pub(crate) async fn events(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let receiver = state.console.events.subscribe();
    let closed = state.console.closed.subscribe();
    let stream = futures::stream::unfold((receiver, closed), |(mut receiver, mut closed)| async move {
        if *closed.borrow() {
            return None;
        }
        let event = tokio::select! {
            received = receiver.recv() => match received {
                Ok(event) => SseEvent::default().event(event.name).data(event.data.to_string()),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    SseEvent::default().event("changed").data(json!({ "what": "resync" }).to_string())
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            },
            _ = closed.wait_for(|closed| *closed) => return None,
        };
        Some((Ok(event), (receiver, closed)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// A line for the conversation list.
fn summary(item: &Item) -> String {
    let m = &item.message;
    let text = |path: &[&str]| {
        let mut v = m;
        for p in path {
            v = &v[*p];
        }
        v.as_str().unwrap_or_default().to_owned()
    };
    match item.kind.as_str() {
        "text" => text(&["text", "body"]),
        "template" => format!("[template] {}", text(&["template", "name"])),
        "interactive" if item.from == "user" => {
            let reply = &m["interactive"];
            let title = reply["button_reply"]["title"].as_str().or(reply["list_reply"]["title"].as_str());
            title.unwrap_or("[reply]").to_owned()
        }
        "interactive" => text(&["interactive", "body", "text"]),
        "button" => text(&["button", "text"]),
        "reaction" => format!("[reaction] {}", text(&["reaction", "emoji"])),
        other => format!("[{other}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_localhost_and_the_public_name_reach_the_console() {
        for host in ["127.0.0.1:9080", "localhost:9080", "[::1]:9080", "10.1.2.3:9080", "LOCALHOST", "[::1]"] {
            assert!(host_allowed(host, None), "{host}");
        }
        for host in ["evil.example:9080", "sandbox:9080", "", ":9080", "127.0.0.1.evil.example"] {
            assert!(!host_allowed(host, None), "{host}");
        }
        assert!(host_allowed("sandbox:9080", Some("http://sandbox:9080")));
        assert!(!host_allowed("other:9080", Some("http://sandbox:9080")));
    }

    #[test]
    fn memory_stays_bounded_however_many_conversations() {
        let console = Console::default();
        let payload = json!({ "type": "text", "text": { "body": "hi" } });
        for n in 0..(MAX_ITEMS + 5_000) {
            let user = format!("1555{:07}", n % 2_000);
            let wamid = format!("wamid.{n}");
            console.business_message(BusinessMessage {
                phone_number_id: "100000000000001",
                user: &user,
                wamid: &wamid,
                kind: "text",
                payload: &payload,
                at_ms: n as i64,
            });
        }
        let inner = console.lock();
        let held: usize = inner.conversations.values().map(|c| c.items.len()).sum();
        assert_eq!(held, inner.items);
        assert!(held <= MAX_ITEMS, "{held} items held");
        assert_eq!(inner.by_wamid.len(), held);
        assert!(inner.conversations.values().all(|c| c.items.len() <= MAX_ITEMS_PER_CONVERSATION));
    }

    #[test]
    fn statuses_land_on_their_message() {
        let console = Console::default();
        let payload = json!({ "type": "text", "text": { "body": "hi" } });
        console.business_message(BusinessMessage {
            phone_number_id: "1",
            user: "15550001",
            wamid: "wamid.A",
            kind: "text",
            payload: &payload,
            at_ms: 1,
        });
        console.status("wamid.A", json!({ "status": "sent" }));
        console.status("wamid.A", json!({ "status": "read" }));
        console.status("wamid.unknown", json!({ "status": "read" }));
        let inner = console.lock();
        let key = Key { phone_number_id: "1".into(), user: "15550001".into() };
        let statuses = &inner.conversations[&key].items[0].statuses;
        assert_eq!(statuses.len(), 2);
    }
}

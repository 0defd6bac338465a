//! Webhooks out: Meta-style rendering, signing, batching, and delivery with
//! retries, duplicates on request; and where they go, the app's callback URL
//! or the WABA's alternate callback (Meta's webhook overrides).
//!
//! Everything bound for the webhook URL goes through one queue. A batcher
//! collects what arrives within the batch window (up to the batch maximum)
//! into one POST with several `entry`/`changes`/`statuses` items, as Meta
//! does; each POST is then delivered, and retried, on its own. Whoever queued
//! an item can wait for the outcome of the POST that carried it: the status
//! lifecycle does, so one message's statuses never overtake each other.

pub mod batcher;
pub mod escape;
pub mod payload;
pub mod retry;
pub mod signature;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use rand::Rng as _;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::console::Console;
use crate::settings::SettingsCell;
use crate::stats::Stats;
use payload::{Contact, Message, Status, WebhookError};
use retry::RetryPolicy;

/// The fields a WABA's alternate callback takes (Meta's webhook overrides);
/// every other field (templates, account-level updates) always goes to the
/// app's callback URL.
const OVERRIDABLE_FIELDS: &[&str] = &[
    "messages",
    "message_echoes",
    "calls",
    "consumer_profile",
    "messaging_handovers",
    "group_lifecycle_update",
    "group_participants_update",
    "group_settings_update",
    "group_status_update",
    "smb_message_echoes",
    "smb_app_state_sync",
    "history",
    "account_settings_update",
];

/// User agent of Meta's webhook sender.
const USER_AGENT: &str = "facebookexternalua";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A rendered webhook body and its `X-Hub-Signature-256` value.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Exactly the bytes that were signed and will be sent.
    pub body: Bytes,
    pub signature: String,
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered 2xx on attempt `attempts`.
    Delivered { attempts: u32 },
    /// Every attempt failed until the retry horizon passed.
    Dropped { attempts: u32 },
    /// No webhook URL is configured (or the app is unsubscribed).
    Disabled,
}

/// One thing to tell the business about; the batcher decides which POST carries it.
#[derive(Debug)]
pub(crate) struct Item {
    pub phone_number_id: String,
    pub change: ItemChange,
    /// Told the outcome of the POST that carried the item.
    pub done: Option<oneshot::Sender<Outcome>>,
}

/// What an item adds to a POST.
#[derive(Debug)]
pub(crate) enum ItemChange {
    /// A status of an outgoing message (statuses of one number share a
    /// change), with its recipient's card for the change's `contacts`
    /// (`None` on `failed`).
    Status { status: Status, contact: Option<Contact> },
    /// An inbound message with its sender (one change each).
    Message { contacts: Vec<Contact>, message: Message },
    /// The June 2026 report of a new BSUID: the system message in one
    /// `messages` change and a `user_id_update` change right after it, in
    /// the same entry.
    UserIdChange { message: Message, update: payload::UserIdUpdate },
    /// `value.errors` of a `messages` change.
    Errors(Vec<WebhookError>),
    /// A template's status changed.
    TemplateStatus(payload::TemplateStatusUpdate),
    /// Another field with its value, as given.
    Other { field: String, value: serde_json::Value },
}

/// Which callback URL a webhook goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Callback {
    /// The WABA's alternate callback when one is set, else the app's:
    /// `messages` and the other fields an override applies to.
    Overridable,
    /// Always the app's callback URL (templates, account-level updates).
    App,
}

// === impl ItemChange ===

impl ItemChange {
    /// The callback this item goes to.
    pub(crate) fn callback(&self) -> Callback {
        match self {
            ItemChange::TemplateStatus(_) => Callback::App,
            ItemChange::Other { field, .. } if !OVERRIDABLE_FIELDS.contains(&field.as_str()) => Callback::App,
            _ => Callback::Overridable,
        }
    }
}

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("receiver answered HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
}

/// The one client for the business's webhook endpoint.
#[derive(Clone)]
pub(crate) struct Webhooks {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    app_secret: String,
    verify_token: String,
    waba_id: String,
    settings: Arc<SettingsCell>,
    stats: Arc<Stats>,
    /// `POST /{waba}/subscribed_apps` on, `DELETE` off: no subscription, no webhooks.
    subscribed: AtomicBool,
    /// The WABA's alternate callback (`override_callback_uri`), if one is set.
    override_url: Mutex<Option<String>>,
    queue: mpsc::UnboundedSender<Item>,
    /// Items queued and not yet delivered or dropped.
    unsettled: AtomicUsize,
    backoff: RetryPolicy,
    /// Told of every POST's result (the console's list of webhooks sent).
    console: Arc<Console>,
}

/// What the GET verification handshake showed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Handshake {
    pub url: String,
    pub challenge: String,
    pub status: u16,
    pub body: String,
    /// True when the receiver answered 200 with the challenge as the body.
    pub verified: bool,
}

// === impl Webhooks ===

impl Webhooks {
    /// The client and the receiving end of its queue (for [`batcher::run`]).
    pub(crate) fn new(
        config: &Config,
        settings: Arc<SettingsCell>,
        stats: Arc<Stats>,
        console: Arc<Console>,
    ) -> anyhow::Result<(Self, mpsc::UnboundedReceiver<Item>)> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .danger_accept_invalid_certs(!config.webhook_tls_verify)
            .build()
            .context("building the webhook HTTP client")?;
        let (queue, receiver) = mpsc::unbounded_channel();
        let webhooks = Webhooks {
            inner: Arc::new(Inner {
                client,
                app_secret: config.app_secret.clone(),
                verify_token: config.verify_token.clone(),
                waba_id: config.waba_id.clone(),
                settings,
                stats,
                subscribed: AtomicBool::new(true),
                override_url: Mutex::new(None),
                queue,
                unsettled: AtomicUsize::new(0),
                backoff: RetryPolicy::default(),
                console,
            }),
        };
        Ok((webhooks, receiver))
    }

    /// The console, told of each POST's result.
    pub(crate) fn console(&self) -> &Console {
        &self.inner.console
    }

    /// Where `messages` webhooks go now, if anywhere: the WABA's alternate
    /// callback when one is set, else the app's callback URL.
    pub(crate) fn url(&self) -> Option<String> {
        self.url_for(Callback::Overridable)
    }

    /// The URL a webhook for `callback` goes to now, if any.
    pub(crate) fn url_for(&self, callback: Callback) -> Option<String> {
        match callback {
            Callback::Overridable => self.override_url().or_else(|| self.app_url()),
            Callback::App => self.app_url(),
        }
    }

    /// The app's callback URL (the `webhooks.url` setting).
    pub(crate) fn app_url(&self) -> Option<String> {
        self.inner.settings.get().webhooks.url.clone()
    }

    /// The WABA's alternate callback, if one is set.
    pub(crate) fn override_url(&self) -> Option<String> {
        self.inner.override_url.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Sets (or, with `None`, removes) the WABA's alternate callback.
    pub(crate) fn set_override_url(&self, url: Option<String>) {
        *self.inner.override_url.lock().unwrap_or_else(PoisonError::into_inner) = url;
    }

    /// False when no webhook URL is configured or the app is unsubscribed.
    pub(crate) fn enabled(&self) -> bool {
        self.inner.subscribed.load(Ordering::Relaxed) && self.url().is_some()
    }

    pub(crate) fn subscribed(&self) -> bool {
        self.inner.subscribed.load(Ordering::Relaxed)
    }

    pub(crate) fn set_subscribed(&self, subscribed: bool) {
        self.inner.subscribed.store(subscribed, Ordering::Relaxed);
    }

    pub(crate) fn waba_id(&self) -> &str {
        &self.inner.waba_id
    }

    /// Queues an item; the returned receiver gets the outcome of its POST.
    pub(crate) fn send(&self, phone_number_id: &str, change: ItemChange) -> oneshot::Receiver<Outcome> {
        let (done, outcome) = oneshot::channel();
        let item = Item { phone_number_id: phone_number_id.to_owned(), change, done: Some(done) };
        self.inner.unsettled.fetch_add(1, Ordering::SeqCst);
        if let Err(mpsc::error::SendError(item)) = self.inner.queue.send(item) {
            // The batcher has stopped (shutdown): nobody will deliver it.
            self.settled(1);
            if let Some(done) = item.done {
                let _ = done.send(Outcome::Disabled);
            }
        }
        outcome
    }

    /// Items queued and not yet delivered or dropped.
    pub(crate) fn unsettled(&self) -> usize {
        self.inner.unsettled.load(Ordering::SeqCst)
    }

    /// `n` items were delivered or dropped.
    pub(crate) fn settled(&self, n: usize) {
        self.inner.unsettled.fetch_sub(n, Ordering::SeqCst);
    }

    /// Renders `payload` the way Meta does and signs those bytes.
    pub(crate) fn sign(&self, payload: &impl Serialize) -> anyhow::Result<Signed> {
        let body = escape::to_vec(payload).context("rendering a webhook body")?;
        let signature = signature::sign(&self.inner.app_secret, &body);
        Ok(Signed { body: Bytes::from(body), signature })
    }

    /// POSTs `signed` to the URL of `callback` until the receiver answers
    /// 2xx or the retry horizon passes. Runs in a background task: callers
    /// never await it in a request.
    pub(crate) async fn deliver(&self, callback: Callback, signed: &Signed) -> Outcome {
        self.deliver_reporting(callback, signed).await.0
    }

    /// [`Webhooks::deliver`], with the last failed attempt's error.
    pub(crate) async fn deliver_reporting(&self, callback: Callback, signed: &Signed) -> (Outcome, Option<String>) {
        let Some(url) = self.url_for(callback).and_then(|url| url::Url::parse(&url).ok()) else {
            return (Outcome::Disabled, None);
        };
        let settings = self.inner.settings.get();
        let policy =
            RetryPolicy { horizon: Duration::from_millis(settings.webhooks.retry_horizon_ms), ..self.inner.backoff };
        drop(settings);
        let started = Instant::now();
        let mut attempts = 0;
        let mut last_error = None;
        loop {
            attempts += 1;
            match self.attempt(&url, signed).await {
                Ok(()) => {
                    debug!(attempts, "webhook delivered");
                    return (Outcome::Delivered { attempts }, last_error);
                }
                Err(err) => {
                    Stats::bump(&self.inner.stats.webhook_failed_attempts);
                    last_error = Some(err.to_string());
                    let wait = policy.jittered_delay(attempts);
                    if started.elapsed() + wait > policy.horizon {
                        warn!(attempts, error = %err, "webhook dropped after retrying for the whole horizon");
                        Stats::bump(&self.inner.stats.webhook_dropped_posts);
                        return (Outcome::Dropped { attempts }, last_error);
                    }
                    info!(attempts, error = %err, retry_in_ms = wait.as_millis() as u64, "webhook delivery failed, will retry");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn attempt(&self, url: &url::Url, signed: &Signed) -> Result<(), AttemptError> {
        let response = self
            .inner
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature::HEADER, &signed.signature)
            .body(signed.body.clone())
            .send()
            .await?;
        let status = response.status();
        // Drain the body so the connection can be reused.
        let _ = response.bytes().await;
        if status.is_success() { Ok(()) } else { Err(AttemptError::Status(status)) }
    }

    /// Performs Meta's GET verification handshake against the webhook URL.
    /// `None` when no URL is configured.
    pub(crate) async fn handshake(&self) -> Option<anyhow::Result<Handshake>> {
        let url = self.url()?;
        Some(self.handshake_at(&url).await)
    }

    async fn handshake_at(&self, url: &str) -> anyhow::Result<Handshake> {
        let mut url = url::Url::parse(url).context("webhook URL")?;
        // Shown without the query added below, which carries the verify token.
        let shown = url.to_string();
        let challenge = rand::rng().random_range(1_000_000_000u64..10_000_000_000).to_string();
        url.query_pairs_mut()
            .append_pair("hub.mode", "subscribe")
            .append_pair("hub.challenge", &challenge)
            .append_pair("hub.verify_token", &self.inner.verify_token);
        let response = self.inner.client.get(url).send().await.context("sending the verification request")?;
        let status = response.status().as_u16();
        let body = response.text().await.context("reading the verification answer")?;
        Ok(Handshake { url: shown, verified: status == 200 && body == challenge, challenge, status, body })
    }

    pub(crate) fn settings(&self) -> &SettingsCell {
        &self.inner.settings
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.inner.stats
    }
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use serde_json::json;
    use sha2::Sha256;

    use super::*;
    use crate::settings::Settings;

    fn webhooks(url: Option<&str>, horizon_ms: u64) -> Webhooks {
        let config = Config {
            webhook_url: url.map(str::to_owned),
            webhook_retry_horizon: Duration::from_millis(horizon_ms),
            ..Config::default()
        };
        let settings = Arc::new(SettingsCell::new(Settings::from_config(&config), config.phone_number_ids.clone()));
        let (mut hooks, _queue) = Webhooks::new(&config, settings, Arc::default(), Arc::default()).unwrap();
        // Quick retries; the horizon still comes from the settings.
        Arc::get_mut(&mut hooks.inner).unwrap().backoff =
            RetryPolicy { initial: Duration::from_millis(1), max: Duration::from_millis(4), horizon: Duration::ZERO };
        hooks
    }

    #[test]
    fn signs_exactly_the_rendered_bytes() {
        let hooks = webhooks(None, 1000);
        let signed = hooks.sign(&json!({"b": "text/html", "a": "äöå"})).unwrap();
        assert_eq!(&signed.body[..], br#"{"a":"\u00e4\u00f6\u00e5","b":"text\/html"}"#);

        // Computed here with the HMAC primitives, not through `signature`.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"sandbox-app-secret").unwrap();
        mac.update(&signed.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(signed.signature, expected);
    }

    #[tokio::test]
    async fn without_a_url_nothing_is_sent() {
        let hooks = webhooks(None, 1000);
        assert!(!hooks.enabled());
        let signed = hooks.sign(&json!({})).unwrap();
        assert_eq!(hooks.deliver(Callback::Overridable, &signed).await, Outcome::Disabled);
        assert!(hooks.handshake().await.is_none());
    }

    #[tokio::test]
    async fn gives_up_after_the_horizon() {
        // Port 1 on loopback refuses connections at once.
        let hooks = webhooks(Some("http://127.0.0.1:1/hook"), 60);
        let signed = hooks.sign(&json!({})).unwrap();
        match hooks.deliver(Callback::Overridable, &signed).await {
            Outcome::Dropped { attempts } => assert!(attempts > 1, "{attempts}"),
            other => panic!("expected a drop, got {other:?}"),
        }
        assert!(hooks.stats().to_json()["webhooks"]["dropped_posts"] == 1);
    }

    #[test]
    fn an_override_takes_the_overridable_fields_only() {
        let hooks = webhooks(Some("http://127.0.0.1:1/app"), 60);
        hooks.set_override_url(Some("http://127.0.0.1:1/waba".into()));
        assert_eq!(hooks.url().as_deref(), Some("http://127.0.0.1:1/waba"));
        assert_eq!(hooks.url_for(Callback::App).as_deref(), Some("http://127.0.0.1:1/app"));
        let template = ItemChange::Other { field: "message_template_status_update".into(), value: json!({}) };
        assert_eq!(template.callback(), Callback::App);
        let echo = ItemChange::Other { field: "message_echoes".into(), value: json!({}) };
        assert_eq!(echo.callback(), Callback::Overridable);
        assert_eq!(ItemChange::Errors(Vec::new()).callback(), Callback::Overridable);

        hooks.set_override_url(None);
        assert_eq!(hooks.url().as_deref(), Some("http://127.0.0.1:1/app"));
    }

    #[tokio::test]
    async fn unsubscribing_disables() {
        let hooks = webhooks(Some("http://127.0.0.1:1/hook"), 60);
        assert!(hooks.enabled());
        hooks.set_subscribed(false);
        assert!(!hooks.enabled());
    }
}

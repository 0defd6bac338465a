//! Webhooks out: Meta-style rendering, signing, and delivery with retries.

pub mod escape;
pub mod payload;
pub mod retry;
pub mod signature;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use rand::Rng as _;
use serde::Serialize;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::Config;
use retry::RetryPolicy;

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
    /// No webhook URL is configured.
    Disabled,
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
    url: Option<url::Url>,
    app_secret: String,
    verify_token: String,
    policy: RetryPolicy,
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
    pub(crate) fn new(config: &Config, policy: RetryPolicy) -> anyhow::Result<Self> {
        let url = config.webhook_url.as_deref().map(url::Url::parse).transpose().context("webhook_url")?;
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .danger_accept_invalid_certs(!config.webhook_tls_verify)
            .build()
            .context("building the webhook HTTP client")?;
        Ok(Webhooks {
            inner: Arc::new(Inner {
                client,
                url,
                app_secret: config.app_secret.clone(),
                verify_token: config.verify_token.clone(),
                policy,
            }),
        })
    }

    /// False when no webhook URL is configured.
    pub(crate) fn enabled(&self) -> bool {
        self.inner.url.is_some()
    }

    /// Renders `payload` the way Meta does and signs those bytes.
    pub(crate) fn sign(&self, payload: &impl Serialize) -> anyhow::Result<Signed> {
        let body = escape::to_vec(payload).context("rendering a webhook body")?;
        let signature = signature::sign(&self.inner.app_secret, &body);
        Ok(Signed { body: Bytes::from(body), signature })
    }

    /// POSTs `signed` until the receiver answers 2xx or the retry horizon
    /// passes. Runs in a background task: callers never await it in a request.
    pub(crate) async fn deliver(&self, signed: &Signed) -> Outcome {
        let Some(url) = &self.inner.url else {
            return Outcome::Disabled;
        };
        let policy = self.inner.policy;
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.attempt(url, signed).await {
                Ok(()) => {
                    debug!(attempts, "webhook delivered");
                    return Outcome::Delivered { attempts };
                }
                Err(err) => {
                    let wait = policy.jittered_delay(attempts);
                    if started.elapsed() + wait > policy.horizon {
                        warn!(attempts, error = %err, "webhook dropped after retrying for the whole horizon");
                        return Outcome::Dropped { attempts };
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
        let url = self.inner.url.as_ref()?;
        Some(self.handshake_at(url.clone()).await)
    }

    async fn handshake_at(&self, mut url: url::Url) -> anyhow::Result<Handshake> {
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
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use serde_json::json;
    use sha2::Sha256;

    use super::*;

    fn webhooks(url: Option<&str>, policy: RetryPolicy) -> Webhooks {
        let config = Config { webhook_url: url.map(str::to_owned), ..Config::default() };
        Webhooks::new(&config, policy).unwrap()
    }

    #[test]
    fn signs_exactly_the_rendered_bytes() {
        let hooks = webhooks(None, RetryPolicy::default());
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
        let hooks = webhooks(None, RetryPolicy::default());
        assert!(!hooks.enabled());
        let signed = hooks.sign(&json!({})).unwrap();
        assert_eq!(hooks.deliver(&signed).await, Outcome::Disabled);
        assert!(hooks.handshake().await.is_none());
    }

    #[tokio::test]
    async fn gives_up_after_the_horizon() {
        // Port 1 on loopback refuses connections at once.
        let policy = RetryPolicy {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(4),
            horizon: Duration::from_millis(60),
        };
        let hooks = webhooks(Some("http://127.0.0.1:1/hook"), policy);
        let signed = hooks.sign(&json!({})).unwrap();
        match hooks.deliver(&signed).await {
            Outcome::Dropped { attempts } => assert!(attempts > 1, "{attempts}"),
            other => panic!("expected a drop, got {other:?}"),
        }
    }
}

//! The Cloud API client: one type, explicit timeouts, a user agent, and one
//! classifier deciding what is retried.

use std::time::Duration;

use serde_json::Value;

use crate::clients::outbound::{CloudHosts, error_text};
use crate::config::CloudConfig;

/// What became of a send.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// Cloud accepted the message and named it; `user` is who Cloud said
    /// it went to (the BSUID, and the phone for a send to a phone).
    Accepted { wamid: String, user: Option<wire::identity::UserFacts> },
    /// Try again later: throttling, a server error, a timeout, no connection.
    /// `after` is set when the error itself says how long to wait.
    Retry { reason: String, after: Option<Duration>, error: Value },
    /// Cloud refused the message for good; `error` is Cloud's error object.
    Failed { error: Value },
}

/// Why the health probe failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeError {
    /// No token or phone number id configured.
    NotConfigured,
    /// Cloud rejected the token or does not know the number.
    Rejected(String),
    /// Cloud could not be reached or answered with a server error.
    Unreachable(String),
}

/// Why a media call to Cloud did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// Worth trying again later: throttling, a server error, no answer.
    Retry(String),
    /// Cloud refused; its Graph error object (or the bare HTTP status).
    Refused(Value),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Retry(why) => write!(f, "{why}"),
            CallError::Refused(error) => write!(f, "Cloud refused: {error}"),
        }
    }
}

/// What `GET /{media-id}` tells about a media file.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudMedia {
    /// Download URL, valid 5 minutes, needing the token.
    pub url: String,
    pub mime_type: Option<String>,
    /// Hex, as this endpoint gives it.
    pub sha256: Option<String>,
    pub file_size: Option<u64>,
}

#[derive(Clone)]
pub struct CloudClient {
    http: reqwest::Client,
    /// For media transfers: no limit on the whole request (a 100 MB file
    /// may take a while), only on each read.
    media_http: reqwest::Client,
    /// Where the token may go besides the API itself.
    hosts: CloudHosts,
    config: CloudConfig,
}

impl CloudClient {
    pub fn new(config: CloudConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("wa-onprem-coreapp/", env!("CARGO_PKG_VERSION")))
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .build()?;
        let hosts = CloudHosts::new(&config.base_url, config.media_hosts.clone());
        let allowed = hosts.clone();
        let media_http = reqwest::Client::builder()
            .user_agent(concat!("wa-onprem-coreapp/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(config.timeout)
            // A download URL may redirect within Cloud's hosts, never out.
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    attempt.error("too many redirects")
                } else if allowed.allows(attempt.url()) {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .build()?;
        Ok(CloudClient { http, media_http, hosts, config })
    }

    /// Whether a media download URL is Cloud's, so the token may go there.
    pub fn is_cloud_url(&self, url: &str) -> bool {
        self.hosts.allows_str(url)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/{}", self.config.base_url.trim_end_matches('/'), self.config.api_version, path)
    }

    /// `POST /{phone-number-id}/messages`.
    pub async fn send_message(&self, payload: &Value) -> SendOutcome {
        let url = self.url(&format!("{}/messages", self.config.phone_number_id));
        let response = self.http.post(url).bearer_auth(&self.config.access_token).json(payload).send().await;
        match response {
            Err(e) => SendOutcome::Retry {
                reason: format!("request failed: {}", error_text(e)),
                after: None,
                error: Value::Null,
            },
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.json::<Value>().await.unwrap_or(Value::Null);
                classify(status, &body)
            }
        }
    }

    /// Marks a user's message read (`status: read` on the messages edge).
    /// Returns Cloud's error object when it refuses, `Err(None)` when it
    /// could not be reached.
    pub async fn mark_read(&self, wamid: &str) -> Result<(), Option<Value>> {
        let url = self.url(&format!("{}/messages", self.config.phone_number_id));
        let payload = serde_json::json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid});
        let response =
            self.http.post(url).bearer_auth(&self.config.access_token).json(&payload).send().await.map_err(|e| {
                tracing::warn!(error = %error_text(e), "mark-as-read request failed");
                None
            })?;
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(())
        } else {
            Err(Some(body.get("error").cloned().unwrap_or(serde_json::json!({"code": status.as_u16()}))))
        }
    }

    /// `GET /{phone-number-id}?fields=display_phone_number`: checks that
    /// Cloud is reachable and accepts the token; returns the display number.
    pub async fn probe(&self) -> Result<String, ProbeError> {
        if self.config.access_token.is_empty() || self.config.phone_number_id.is_empty() {
            return Err(ProbeError::NotConfigured);
        }
        let url = self.url(&self.config.phone_number_id);
        let response = self
            .http
            .get(url)
            .query(&[("fields", "display_phone_number")])
            .bearer_auth(&self.config.access_token)
            .send()
            .await
            .map_err(|e| ProbeError::Unreachable(error_text(e)))?;
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        if status.is_success() {
            let display = body.get("display_phone_number").and_then(Value::as_str).unwrap_or_default();
            Ok(display.chars().filter(char::is_ascii_digit).collect())
        } else if status.is_server_error() || status.as_u16() == 429 {
            Err(ProbeError::Unreachable(format!("HTTP {status}")))
        } else {
            let msg = body.pointer("/error/message").and_then(Value::as_str).unwrap_or("rejected");
            Err(ProbeError::Rejected(format!("HTTP {status}: {msg}")))
        }
    }
}

// === media ===

impl CloudClient {
    /// `POST /{phone-number-id}/media`: uploads a file from the volume,
    /// streamed from disk. Returns Cloud's media id.
    pub async fn upload_media(
        &self,
        path: &std::path::Path,
        mime_type: &str,
        filename: &str,
        size: u64,
    ) -> Result<String, CallError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| CallError::Retry(format!("cannot read {}: {e}", path.display())))?;
        let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::from(file), size)
            .file_name(filename.to_string())
            .mime_str(mime_type)
            .map_err(|e| CallError::Refused(serde_json::json!({"code": 131053, "message": format!("{e}")})))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime_type.to_string())
            .part("file", part);
        let url = self.url(&format!("{}/media", self.config.phone_number_id));
        let response = self.media_http.post(url).bearer_auth(&self.config.access_token).multipart(form).send().await;
        let body = answer(response).await?;
        match body.get("id").and_then(Value::as_str) {
            Some(id) => Ok(id.to_string()),
            None => Err(CallError::Retry("upload answered without a media id".into())),
        }
    }

    /// `GET /{media-id}`: a fresh download URL and what Cloud knows.
    pub async fn media_info(&self, media_id: &str) -> Result<CloudMedia, CallError> {
        let url = self.url(media_id);
        let response = self
            .http
            .get(url)
            .query(&[("phone_number_id", self.config.phone_number_id.as_str())])
            .bearer_auth(&self.config.access_token)
            .send()
            .await;
        let body = answer(response).await?;
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(String::from);
        let Some(url) = text("url") else {
            return Err(CallError::Retry("media lookup answered without a URL".into()));
        };
        let file_size = body.get("file_size").and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
        Ok(CloudMedia { url, mime_type: text("mime_type"), sha256: text("sha256"), file_size })
    }

    /// `GET <url>` with the token: the response, its body still to be read.
    /// An expired URL is refused (404, or 401/403), and so is a URL that is
    /// not Cloud's (nothing is sent to it).
    pub async fn media_download(&self, url: &str) -> Result<reqwest::Response, CallError> {
        if !self.is_cloud_url(url) {
            let message = format!("{} is not a Cloud media URL", wire::redact::url(url));
            return Err(CallError::Refused(serde_json::json!({"code": 0, "message": message})));
        }
        let response = self
            .media_http
            .get(url)
            .bearer_auth(&self.config.access_token)
            .send()
            .await
            .map_err(|e| CallError::Retry(format!("download failed: {}", error_text(e))))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(response);
        }
        if status == 429 || status >= 500 {
            return Err(CallError::Retry(format!("download answered HTTP {status}")));
        }
        Err(CallError::Refused(
            serde_json::json!({"code": status, "message": format!("download answered HTTP {status}")}),
        ))
    }

    /// `DELETE /{media-id}`.
    pub async fn delete_media(&self, media_id: &str) -> Result<(), CallError> {
        let url = self.url(media_id);
        let response = self
            .http
            .delete(url)
            .query(&[("phone_number_id", self.config.phone_number_id.as_str())])
            .bearer_auth(&self.config.access_token)
            .send()
            .await;
        answer(response).await.map(drop)
    }
}

// === business profile, two-step PIN, the number ===

/// The profile fields the on-prem profile endpoints need.
const PROFILE_FIELDS: &str = "about,address,description,email,profile_picture_url,websites,vertical";

impl CloudClient {
    /// `GET /{phone-number-id}/whatsapp_business_profile`: the profile object.
    pub async fn profile(&self) -> Result<Value, CallError> {
        let url = self.url(&format!("{}/whatsapp_business_profile", self.config.phone_number_id));
        let response =
            self.http.get(url).query(&[("fields", PROFILE_FIELDS)]).bearer_auth(&self.config.access_token).send().await;
        let body = answer(response).await?;
        Ok(body.pointer("/data/0").cloned().unwrap_or_else(|| serde_json::json!({})))
    }

    /// `POST /{phone-number-id}/whatsapp_business_profile` with some fields.
    pub async fn update_profile(&self, mut fields: serde_json::Map<String, Value>) -> Result<(), CallError> {
        fields.insert("messaging_product".into(), Value::from("whatsapp"));
        let url = self.url(&format!("{}/whatsapp_business_profile", self.config.phone_number_id));
        let response = self.http.post(url).bearer_auth(&self.config.access_token).json(&fields).send().await;
        answer(response).await.map(drop)
    }

    /// `GET /{phone-number-id}/business_compliance_info`: Cloud's answer,
    /// `{"data": []}` while nothing was set.
    pub async fn compliance_info(&self) -> Result<Value, CallError> {
        let url = self.url(&format!("{}/business_compliance_info", self.config.phone_number_id));
        answer(self.http.get(url).bearer_auth(&self.config.access_token).send().await).await
    }

    /// `POST /{phone-number-id}/business_compliance_info` with checked fields.
    pub async fn set_compliance_info(&self, mut fields: serde_json::Map<String, Value>) -> Result<(), CallError> {
        fields.insert("messaging_product".into(), Value::from("whatsapp"));
        let url = self.url(&format!("{}/business_compliance_info", self.config.phone_number_id));
        let response = self.http.post(url).bearer_auth(&self.config.access_token).json(&fields).send().await;
        answer(response).await.map(drop)
    }

    /// The Resumable Upload API: a session on the app, then the bytes in
    /// one piece. Returns the file handle (`h`) a profile update takes.
    pub async fn upload_handle(
        &self,
        data: bytes::Bytes,
        mime_type: &str,
        file_name: &str,
    ) -> Result<String, CallError> {
        if self.config.app_id.is_empty() {
            return Err(CallError::Refused(serde_json::json!({"code": 0,
                "message": "WA_CLOUD_APP_ID is not set: profile photos go through the app's Resumable Upload API"})));
        }
        let url = self.url(&format!("{}/uploads", self.config.app_id));
        let length = data.len().to_string();
        let query = [("file_name", file_name), ("file_length", length.as_str()), ("file_type", mime_type)];
        let response = self.http.post(url).query(&query).bearer_auth(&self.config.access_token).send().await;
        let session = answer(response).await?;
        let Some(session) = session.get("id").and_then(Value::as_str) else {
            return Err(CallError::Retry("upload session answered without an id".into()));
        };
        let response = self
            .media_http
            .post(self.url(session))
            .header(reqwest::header::AUTHORIZATION, format!("OAuth {}", self.config.access_token))
            .header("file_offset", "0")
            .body(data)
            .send()
            .await;
        let done = answer(response).await?;
        match done.get("h").and_then(Value::as_str) {
            Some(handle) => Ok(handle.to_string()),
            None => Err(CallError::Retry("upload answered without a file handle".into())),
        }
    }

    /// Fetches a public URL Cloud gave (a profile picture): type and bytes.
    pub async fn fetch_public(&self, url: &str, max: usize) -> Result<(String, bytes::Bytes), CallError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| CallError::Retry(format!("picture download failed: {}", error_text(e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(CallError::Retry(format!("picture download answered HTTP {status}")));
        }
        let mime_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("image/jpeg")
            .to_string();
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(CallError::Retry("the picture is larger than expected".into()));
        }
        let data = response
            .bytes()
            .await
            .map_err(|e| CallError::Retry(format!("picture download failed: {}", error_text(e))))?;
        Ok((mime_type, data))
    }

    /// `POST /{phone-number-id}` `{"pin"}`: sets the two-step PIN.
    pub async fn set_pin(&self, pin: &str) -> Result<(), CallError> {
        let url = self.url(&self.config.phone_number_id);
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.config.access_token)
            .json(&serde_json::json!({"pin": pin}))
            .send()
            .await;
        answer(response).await.map(drop)
    }

    /// `GET /{phone-number-id}` with the fields that describe the number.
    pub async fn phone_number(&self) -> Result<Value, CallError> {
        let url = self.url(&self.config.phone_number_id);
        let fields = "display_phone_number,verified_name,status,code_verification_status,quality_rating";
        let response =
            self.http.get(url).query(&[("fields", fields)]).bearer_auth(&self.config.access_token).send().await;
        answer(response).await
    }
}

/// Reads a Graph answer: the JSON body on success; otherwise whether to
/// try again (the same rules as [`classify`]) or Cloud's error.
async fn answer(response: reqwest::Result<reqwest::Response>) -> Result<Value, CallError> {
    let response = response.map_err(|e| CallError::Retry(format!("request failed: {}", error_text(e))))?;
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let error = body.get("error").cloned().unwrap_or(Value::Null);
    let code = error.get("code").and_then(Value::as_i64);
    if status == 429 || status >= 500 || code.is_some_and(|c| RETRIABLE_CODES.contains(&c)) {
        let what = error.get("message").and_then(Value::as_str).unwrap_or("no error body");
        return Err(CallError::Retry(format!("HTTP {status}: {what}")));
    }
    if error.is_object() {
        Err(CallError::Refused(error))
    } else {
        Err(CallError::Refused(
            serde_json::json!({"code": 0, "message": format!("HTTP {status} without a Graph error body")}),
        ))
    }
}

/// Cloud error codes that mean "not now" rather than "never": throughput
/// (130429), pair rate limit (131056), spam rate limit (131048), temporary
/// service problems (131000 is generic and may pass; 2 and 4 are Graph's
/// "temporarily unavailable" and app rate limit).
const RETRIABLE_CODES: &[i64] = &[2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 131057, 133004, 133016];

/// Cloud's (business, user) pair rate limit.
pub const PAIR_RATE_LIMIT: i64 = 131056;

/// Who a send reached, from the `contacts` of Cloud's answer
/// (`{"input","wa_id"?,"user_id"?}`); `None` without a BSUID.
fn addressee(body: &Value) -> Option<wire::identity::UserFacts> {
    let contact = body.pointer("/contacts/0")?;
    let bsuid = contact.get("user_id").and_then(Value::as_str).and_then(wire::identity::Bsuid::parse)?;
    let phone =
        contact.get("wa_id").and_then(Value::as_str).filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    Some(wire::identity::UserFacts {
        bsuid: Some(bsuid),
        phone: phone.map(str::to_owned),
        ..wire::identity::UserFacts::default()
    })
}

/// The one retry classifier: 2xx with an id is accepted; 429, 5xx and the
/// throttling codes are retried; any other 4xx fails for good.
pub fn classify(status: u16, body: &Value) -> SendOutcome {
    if (200..300).contains(&status) {
        return match body.pointer("/messages/0/id").and_then(Value::as_str) {
            Some(wamid) => SendOutcome::Accepted { wamid: wamid.to_string(), user: addressee(body) },
            None => SendOutcome::Retry {
                reason: format!("HTTP {status} without a message id"),
                after: None,
                error: Value::Null,
            },
        };
    }
    let error = body.get("error").cloned().unwrap_or(Value::Null);
    let code = error.get("code").and_then(Value::as_i64);
    if status == 429 || status >= 500 || code.is_some_and(|c| RETRIABLE_CODES.contains(&c)) {
        let what = error.get("message").and_then(Value::as_str).unwrap_or("no error body");
        // The pair rate limit allows one message per 6 s to a user: hold the
        // recipient back that long rather than hammering it.
        let after = (code == Some(PAIR_RATE_LIMIT)).then_some(Duration::from_secs(6));
        return SendOutcome::Retry { reason: format!("HTTP {status}: {what}"), after, error };
    }
    let mut error = if error.is_object() {
        error
    } else {
        serde_json::json!({"code": 0, "message": format!("HTTP {status} without a Graph error body")})
    };
    if error.get("title").is_none() {
        let title = error.get("message").cloned().unwrap_or(Value::Null);
        error["title"] = title;
    }
    SendOutcome::Failed { error }
}

/// The longest a retry waits.
///
/// While Cloud is down every waiting message backs off on its own, and the
/// delay it drew at its last failure is how long it may still wait once
/// Cloud is back: with the doubling below that is about as long as the
/// outage has lasted, up to this cap. A cap of minutes would leave
/// messages waiting minutes more after an outage of minutes, with Cloud up
/// again; 30 s bounds that wait (`tests/tests/bad_day.rs` measures it).
/// What the retries cost Cloud meanwhile is bounded anyway: every attempt
/// takes a slot of the number's throughput (`WA_CLOUD_SEND_RATE`), like any
/// send.
pub const RETRY_DELAY_CAP: Duration = Duration::from_secs(30);

/// Capped exponential backoff with jitter for the n-th retry (n >= 1):
/// 1 s, 2 s, 4 s ... up to [`RETRY_DELAY_CAP`], each scaled by a random
/// 50-100%.
pub fn retry_delay(attempt: u32) -> Duration {
    let cap_ms = RETRY_DELAY_CAP.as_millis() as u64;
    let base_ms = 1000u64.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(cap_ms);
    let jitter = rand::random_range(0.5..=1.0);
    Duration::from_millis((base_ms as f64 * jitter) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifier() {
        let ok = json!({"messages": [{"id": "wamid.X"}]});
        assert_eq!(classify(200, &ok), SendOutcome::Accepted { wamid: "wamid.X".into(), user: None });
        let throttled = json!({"error": {"code": 130429, "message": "(#130429) Rate limit hit"}});
        assert!(matches!(classify(400, &throttled), SendOutcome::Retry { after: None, .. }));
        assert!(matches!(classify(503, &Value::Null), SendOutcome::Retry { .. }));
        assert!(matches!(classify(429, &Value::Null), SendOutcome::Retry { .. }));
        let pair = json!({"error": {"code": 131056, "message": "pair rate limit"}});
        assert!(
            matches!(classify(400, &pair), SendOutcome::Retry { after: Some(d), .. } if d == Duration::from_secs(6))
        );
        let bad = json!({"error": {"code": 100, "message": "(#100) Invalid parameter"}});
        match classify(400, &bad) {
            SendOutcome::Failed { error } => {
                assert_eq!(error["code"], 100);
                assert_eq!(error["title"], "(#100) Invalid parameter");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(classify(401, &Value::Null), SendOutcome::Failed { .. }));
    }

    #[test]
    fn backoff_grows_and_caps() {
        for attempt in 1..40 {
            let d = retry_delay(attempt);
            let base = (1000u64 << (attempt - 1).min(16)).min(30_000);
            assert!(d.as_millis() as u64 >= base / 2 && d.as_millis() as u64 <= base, "{attempt}: {d:?}");
        }
    }
}

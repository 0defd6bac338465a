//! The sandbox as the test drives it: what Cloud received, a user who
//! sends, webhooks posted as Cloud would, faults, settings and the clock.

use reqwest::StatusCode;
use serde_json::Value;

use crate::*;

impl Stack {
    /// A GET straight to the sandbox's Graph API, with its token.
    pub async fn cloud_get(&self, path_and_query: &str) -> Value {
        let url = format!("{}/v24.0/{path_and_query}", self.sandbox);
        let r = self.http.get(url).bearer_auth(&self.options.cloud_token).send().await.unwrap();
        r.json().await.unwrap()
    }

    /// `POST /_sandbox/clock/advance`.
    pub async fn advance_cloud_clock(&self, by: Value) {
        let r = self.http.post(format!("{}/_sandbox/clock/advance", self.sandbox)).json(&by).send().await.unwrap();
        assert!(r.status().is_success(), "sandbox refused to advance its clock by {by}");
    }

    pub async fn cloud_received(&self) -> Vec<Value> {
        let v: Value =
            self.http.get(format!("{}/_sandbox/sent", self.sandbox)).send().await.unwrap().json().await.unwrap();
        v["data"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until Cloud received a message for `to` (digits) and returns
    /// the payload it received.
    pub async fn cloud_payload_for(&self, to: &str) -> Value {
        let want = format!("+{to}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(e) = self.cloud_received().await.into_iter().find(|e| e["payload"]["to"] == want.as_str()) {
                return e["payload"].clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "Cloud never received a message for {to}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Plays a WhatsApp user writing to the business; returns Cloud's wamid.
    pub async fn user_sends(&self, message: Value) -> String {
        let r = self.http.post(format!("{}/_sandbox/inbound", self.sandbox)).json(&message).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "sandbox refused the inbound message");
        let v: Value = r.json().await.unwrap();
        v["id"].as_str().expect("the inbound wamid").to_string()
    }

    /// Signs a body as Cloud would and POSTs it to the webapp's intake.
    pub async fn cloud_posts(&self, body: &Value) -> StatusCode {
        use hmac::Mac;
        let bytes = serde_json::to_vec(body).unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
        mac.update(&bytes);
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let r = self
            .http
            .post(format!("{}/cloud/webhooks", self.webs[0]))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(bytes)
            .send()
            .await
            .unwrap();
        r.status()
    }

    /// `POST /_sandbox/faults`: installs a fault on the sandbox's Graph API.
    pub async fn cloud_fault(&self, fault: Value) -> Value {
        let r = self.http.post(format!("{}/_sandbox/faults", self.sandbox)).json(&fault).send().await.unwrap();
        assert!(r.status().is_success(), "sandbox refused the fault {fault}");
        r.json().await.unwrap()
    }

    /// `PATCH /_sandbox/settings`: switches the sandbox's rules and knobs.
    pub async fn cloud_settings(&self, patch: Value) {
        let r = self.http.patch(format!("{}/_sandbox/settings", self.sandbox)).json(&patch).send().await.unwrap();
        assert!(
            r.status().is_success(),
            "sandbox refused the settings {patch}: {}",
            r.text().await.unwrap_or_default()
        );
    }
}

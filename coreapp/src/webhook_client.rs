//! The HTTP client for the business's webhook server. It trusts the
//! system's roots plus the private CA uploaded through
//! `/v1/certificates/webhooks/ca`, and is rebuilt when that CA changes.

use std::sync::Mutex;
use std::time::Duration;

pub struct WebhookClient {
    current: Mutex<(Option<String>, reqwest::Client)>,
}

fn build(ca_pem: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("wa-onprem-coreapp/", env!("CARGO_PKG_VERSION")))
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(5))
        // The old client did not follow redirects: only a 200 counts.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())? {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder.build()?)
}

impl WebhookClient {
    pub fn new() -> anyhow::Result<Self> {
        Ok(WebhookClient { current: Mutex::new((None, build(None)?)) })
    }

    /// The client trusting `ca_pem` (as stored now).
    pub fn with_ca(&self, ca_pem: Option<&str>) -> reqwest::Client {
        let mut current = self.current.lock().expect("client lock");
        if current.0.as_deref() != ca_pem {
            match build(ca_pem) {
                Ok(client) => *current = (ca_pem.map(String::from), client),
                // The CA was checked when uploaded; keep the last client.
                Err(e) => tracing::error!(error = %e, "cannot use the stored webhook CA"),
            }
        }
        current.1.clone()
    }
}

/// Checks that a PEM bundle holds at least one certificate reqwest accepts.
pub fn check_ca(pem: &str) -> Result<usize, String> {
    match reqwest::Certificate::from_pem_bundle(pem.as_bytes()) {
        Ok(certs) if !certs.is_empty() => Ok(certs.len()),
        Ok(_) => Err("no certificate in the PEM text".into()),
        Err(e) => Err(format!("not a PEM certificate bundle: {e}")),
    }
}

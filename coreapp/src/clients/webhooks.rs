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

/// Checks an uploaded CA bundle: PEM holding certificates only (a private
/// key pasted by mistake is refused, not stored), each one readable as a
/// trust anchor, at least one. Returns how many there are.
pub fn check_ca(pem: &str) -> Result<usize, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::{SectionKind, from_buf};
    let mut reader = std::io::Cursor::new(pem.as_bytes());
    let mut count = 0;
    loop {
        match from_buf(&mut reader) {
            Ok(None) => break,
            Ok(Some((SectionKind::Certificate, der))) => {
                let mut store = rustls::RootCertStore::empty();
                store
                    .add(CertificateDer::from(der))
                    .map_err(|e| format!("certificate {} of the bundle cannot be used as a CA: {e}", count + 1))?;
                count += 1;
            }
            Ok(Some((kind, _))) => {
                return Err(format!("the bundle holds a {kind:?} section; only certificates belong here"));
            }
            Err(e) => return Err(format!("not a PEM certificate bundle: {e}")),
        }
    }
    // reqwest reads the bundle too when it builds the client.
    reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| format!("not a PEM certificate bundle: {e}"))?;
    if count == 0 { Err("no certificate in the PEM text".into()) } else { Ok(count) }
}

#[cfg(test)]
mod tests {
    use super::check_ca;

    #[test]
    fn only_usable_certificates_pass() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = rcgen::generate_simple_self_signed(vec!["hooks.example".into()]).unwrap();
        assert_eq!(check_ca(&ca.cert.pem()), Ok(1));
        assert_eq!(check_ca(&format!("{}{}", ca.cert.pem(), ca.cert.pem())), Ok(2));
        // PEM armour around bytes that are no certificate.
        let junk = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGUgYXQgYWxs\n-----END CERTIFICATE-----\n";
        assert!(check_ca(junk).is_err());
        assert!(check_ca(&format!("{}{junk}", ca.cert.pem())).is_err(), "one bad certificate spoils the bundle");
        // A key pasted with the certificate.
        assert!(
            check_ca(&format!("{}{}", ca.cert.pem(), ca.signing_key.serialize_pem()))
                .unwrap_err()
                .contains("only certificates")
        );
        assert!(check_ca("hello").is_err());
        assert!(check_ca("").is_err());
    }
}

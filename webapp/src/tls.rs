//! The webapp's certificate. On first start a self-signed certificate is
//! generated (SAN: the server name, `localhost`, `127.0.0.1`) and stored
//! through the coreapps in the database, so every webapp and every restart
//! serves the same one; the first webapp to store one wins.

use proto::core::{Empty, WebCertificate};

use wire::ApiError;

use crate::coreapps::Cores;

pub async fn shared_certificate(cores: &Cores, servername: &str) -> Result<WebCertificate, ApiError> {
    let stored = cores.any().quiet().get_web_certificate(Empty {}).await?;
    if !stored.cert_pem.is_empty() {
        return Ok(stored);
    }
    let generated = generate(servername).map_err(|e| {
        tracing::error!(error = %e, "cannot generate a certificate for the webapp");
        ApiError::internal()
    })?;
    tracing::info!(%servername, "generated a self-signed certificate for the webapp");
    cores.any().quiet().put_web_certificate_if_absent(generated).await
}

pub fn generate(servername: &str) -> anyhow::Result<WebCertificate> {
    let mut names = vec![servername.to_string(), "localhost".into(), "127.0.0.1".into()];
    names.dedup();
    let certified = rcgen::generate_simple_self_signed(names)?;
    let cert_pem = certified.cert.pem();
    Ok(WebCertificate { ca_pem: cert_pem.clone(), cert_pem, key_pem: certified.signing_key.serialize_pem() })
}

/// How often a webapp checks for a certificate replaced elsewhere.
pub const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// The certificate being served, replaceable while serving.
pub struct Live {
    config: axum_server::tls_rustls::RustlsConfig,
    /// The certificate PEM in use, to notice a new one.
    current: tokio::sync::Mutex<String>,
}

/// What the server presents: the certificate, then its CA chain (not for
/// the generated one, which is its own CA).
fn chain(stored: &WebCertificate) -> String {
    if stored.ca_pem.is_empty() || stored.ca_pem == stored.cert_pem {
        stored.cert_pem.clone()
    } else {
        format!("{}{}", stored.cert_pem, stored.ca_pem)
    }
}

impl Live {
    pub async fn start(stored: WebCertificate) -> anyhow::Result<Live> {
        let config = axum_server::tls_rustls::RustlsConfig::from_pem(
            chain(&stored).into_bytes(),
            stored.key_pem.clone().into_bytes(),
        )
        .await?;
        Ok(Live { config, current: tokio::sync::Mutex::new(stored.cert_pem) })
    }

    pub fn rustls(&self) -> axum_server::tls_rustls::RustlsConfig {
        self.config.clone()
    }

    /// Serves the stored certificate if it changed; new connections get it,
    /// open ones keep theirs.
    pub async fn refresh(&self, cores: &Cores) {
        let stored = match cores.any().quiet().get_web_certificate(Empty {}).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "cannot check the webapp certificate");
                return;
            }
        };
        let mut current = self.current.lock().await;
        if stored.cert_pem.is_empty() || *current == stored.cert_pem {
            return;
        }
        match self.config.reload_from_pem(chain(&stored).into_bytes(), stored.key_pem.into_bytes()).await {
            Ok(()) => {
                tracing::info!("serving a new webapp certificate");
                *current = stored.cert_pem;
            }
            Err(e) => tracing::error!(error = %e, "the stored webapp certificate cannot be served"),
        }
    }

    /// Checks every [`CHECK_EVERY`] until shutdown.
    pub async fn watch(self: std::sync::Arc<Self>, cores: Cores, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => self.refresh(&cores).await,
                _ = shutdown.changed() => return,
            }
        }
    }
}

//! The webapp's certificate. On first start a self-signed certificate is
//! generated (SAN: the server name, `localhost`, `127.0.0.1`) and stored
//! through the coreapps in the database, so every webapp and every restart
//! serves the same one; the first webapp to store one wins.

use proto::core::{Empty, WebCertificate};

use crate::core::Cores;

pub async fn shared_certificate(cores: &Cores, servername: &str) -> Result<WebCertificate, tonic::Status> {
    let stored = cores.any().get_web_certificate(Empty {}).await?.into_inner();
    if !stored.cert_pem.is_empty() {
        return Ok(stored);
    }
    let generated = generate(servername).map_err(|e| tonic::Status::internal(e.to_string()))?;
    tracing::info!(%servername, "generated a self-signed certificate for the webapp");
    Ok(cores.any().put_web_certificate_if_absent(generated).await?.into_inner())
}

pub fn generate(servername: &str) -> anyhow::Result<WebCertificate> {
    let mut names = vec![servername.to_string(), "localhost".into(), "127.0.0.1".into()];
    names.dedup();
    let certified = rcgen::generate_simple_self_signed(names)?;
    Ok(WebCertificate { cert_pem: certified.cert.pem(), key_pem: certified.signing_key.serialize_pem() })
}

//! The internal link between webapps and coreapps: gRPC over mutual TLS.
//!
//! Model: one certificate authority per deployment (the cluster CA). It
//! issues a certificate per role, or per node if preferred:
//! - a coreapp certificate names [`CORE_NAME`] and may only serve
//!   (extended key usage `serverAuth`);
//! - a webapp certificate may only be a client (`clientAuth`).
//!
//! A webapp checks that its coreapp holds a certificate of the cluster CA
//! for [`CORE_NAME`], whatever address it dialled; a coreapp accepts only
//! clients holding a webapp certificate of the cluster CA. A coreapp
//! certificate cannot be used to call another coreapp, nor a webapp
//! certificate to pose as a coreapp. The CA's key is needed only to issue
//! certificates (`coreapp cluster-certs`) and belongs off the nodes.
//!
//! Each node reads a directory holding `ca.pem` (one or more CA
//! certificates: several while a new CA is rolled out) and its role's
//! `<role>.pem` and `<role>.key`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The name every coreapp certificate carries, and the one webapps check.
pub const CORE_NAME: &str = "coreapp.cluster.wa-onprem";
/// The name in webapp certificates (informative: coreapps check the
/// issuer and the key usage).
pub const WEB_NAME: &str = "webapp.cluster.wa-onprem";
/// The file of CA certificates in a credentials directory.
pub const CA_FILE: &str = "ca.pem";
/// How long a TLS handshake on the internal port may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which side of the link a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Coreapp,
    Webapp,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Coreapp => "coreapp",
            Role::Webapp => "webapp",
        }
    }

    /// `<role>.pem` and `<role>.key` inside a credentials directory.
    pub fn files(self, dir: &Path) -> (PathBuf, PathBuf) {
        (dir.join(format!("{}.pem", self.as_str())), dir.join(format!("{}.key", self.as_str())))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{what} holds no readable certificate")]
    NoCertificate { what: String },
    #[error("{what} holds no readable private key")]
    NoKey { what: String },
    #[error("the {role} certificate does not fit the cluster CA or its role: {reason}")]
    Invalid { role: &'static str, reason: String },
}

/// A node's cluster credentials: the CA certificates it trusts and its own
/// certificate and key (PEM).
#[derive(Clone)]
pub struct Credentials {
    role: Role,
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

impl std::fmt::Debug for Credentials {
    // Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("role", &self.role).finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<String, CredentialsError> {
    std::fs::read_to_string(path).map_err(|source| CredentialsError::Read { path: path.to_path_buf(), source })
}

fn certificates(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, CredentialsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes()).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(CredentialsError::NoCertificate { what: what.into() });
    }
    Ok(certs)
}

impl Credentials {
    /// Reads `ca.pem`, `<role>.pem` and `<role>.key` from `dir` and checks
    /// them (see [`Credentials::from_pem`]).
    pub fn load(dir: &Path, role: Role) -> Result<Credentials, CredentialsError> {
        let (cert, key) = role.files(dir);
        Credentials::from_pem(role, read(&dir.join(CA_FILE))?, read(&cert)?, read(&key)?)
    }

    /// Checks that the key belongs to the certificate, that the certificate
    /// was issued by one of the CA certificates and that it may act in its
    /// role, so a misplaced file stops the node at start with a clear
    /// message instead of failing every call.
    pub fn from_pem(
        role: Role,
        ca_pem: String,
        cert_pem: String,
        key_pem: String,
    ) -> Result<Credentials, CredentialsError> {
        let invalid = |reason: String| CredentialsError::Invalid { role: role.as_str(), reason };
        let roots = certificates(&ca_pem, CA_FILE)?;
        let chain = certificates(&cert_pem, &format!("{}.pem", role.as_str()))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|_| CredentialsError::NoKey { what: format!("{}.key", role.as_str()) })?;

        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
        let signer = provider.key_provider.load_private_key(key).map_err(|e| invalid(e.to_string()))?;
        rustls::sign::CertifiedKey::new(chain.clone(), signer)
            .keys_match()
            .map_err(|_| invalid("the key does not belong to the certificate".into()))?;

        let mut store = rustls::RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(roots);
        if added == 0 {
            return Err(invalid(format!("{CA_FILE} holds no usable CA certificate")));
        }
        let store = Arc::new(store);
        let (leaf, intermediates) = chain.split_first().expect("certificates() never returns an empty list");
        let now = UnixTime::now();
        match role {
            Role::Coreapp => {
                let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(store, provider)
                    .build()
                    .map_err(|e| invalid(e.to_string()))?;
                let name = ServerName::try_from(CORE_NAME).expect("a valid DNS name");
                verifier
                    .verify_server_cert(leaf, intermediates, &name, &[], now)
                    .map_err(|e| invalid(e.to_string()))?;
            }
            Role::Webapp => {
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(store, provider)
                    .build()
                    .map_err(|e| invalid(e.to_string()))?;
                verifier.verify_client_cert(leaf, intermediates, now).map_err(|e| invalid(e.to_string()))?;
            }
        }
        Ok(Credentials { role, ca_pem, cert_pem, key_pem })
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The trusted CA certificates, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// This node's certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// This node's private key, PEM (for writing it where another process
    /// of the same node reads it; never logged).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The coreapp's server side: its certificate, and client certificates
    /// required and checked against the cluster CA.
    pub fn server_tls(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// The webapp's client side: its certificate, and the coreapp's checked
    /// against the cluster CA under [`CORE_NAME`].
    pub fn client_tls(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
            .domain_name(CORE_NAME)
            .timeout(HANDSHAKE_TIMEOUT)
    }
}

/// The link's variables, in the registry of both the webapp and the coreapp.
pub const VARS: [envconf::Var; 2] = [
    envconf::Var::unset(
        "WA_CLUSTER_DIR",
        "folder of the internal link's credentials: `ca.pem` and the node's `webapp.pem`/`webapp.key` or \
         `coreapp.pem`/`coreapp.key` (`coreapp cluster-certs`); unset: plain gRPC, on loopback only",
    ),
    envconf::Var::new(
        "WA_CLUSTER_INSECURE",
        "false",
        "`true` allows plain gRPC beyond loopback without credentials (logged as INSECURE at start); for a \
         network secured otherwise",
    ),
];

/// How a node secures its side of the link.
#[derive(Clone, Debug, Default)]
pub struct LinkConfig {
    /// The node's certificate, key and the cluster CA (`WA_CLUSTER_DIR`).
    pub credentials: Option<Credentials>,
    /// Use plain gRPC beyond loopback anyway (`WA_CLUSTER_INSECURE`): for
    /// a network that is secured otherwise, at the operator's risk.
    pub insecure: bool,
}

/// What a node does on a link, once [`LinkConfig::decide`] allowed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Mutual TLS with the cluster credentials.
    MutualTls,
    /// Plain gRPC on loopback: only processes of this host can reach it.
    PlainLoopback,
    /// Plain gRPC across a network, because `WA_CLUSTER_INSECURE` says so.
    PlainInsecure,
}

impl LinkConfig {
    /// Reads `WA_CLUSTER_DIR` (a directory with `ca.pem`, `<role>.pem` and
    /// `<role>.key`) and `WA_CLUSTER_INSECURE` (both declared in [`VARS`]);
    /// the error names the variable.
    pub fn from_env(env: &envconf::Env<'_>, role: Role) -> Result<LinkConfig, String> {
        let credentials = match env.raw("WA_CLUSTER_DIR") {
            None => None,
            Some(dir) => Some(Credentials::load(Path::new(dir.trim()), role).map_err(|e| {
                format!("WA_CLUSTER_DIR={dir} does not hold usable {} credentials: {e}", role.as_str())
            })?),
        };
        let insecure = env.flag("WA_CLUSTER_INSECURE").map_err(|e| e.to_string())?;
        Ok(LinkConfig { credentials, insecure })
    }

    /// Whether a link to or on `host` may be used, and how: with
    /// credentials always; without, on loopback, or anywhere when the
    /// insecure switch is set. The error says what to do.
    pub fn decide(&self, host: &str) -> Result<Security, String> {
        match (&self.credentials, is_loopback_host(host), self.insecure) {
            (Some(_), _, _) => Ok(Security::MutualTls),
            (None, true, _) => Ok(Security::PlainLoopback),
            (None, false, true) => Ok(Security::PlainInsecure),
            (None, false, false) => Err(format!(
                "{host} is not a loopback address and no cluster credentials are set: the internal gRPC link \
                 carries passwords, keys and messages, so it needs mutual TLS. Make credentials with \
                 `coreapp cluster-certs` and point WA_CLUSTER_DIR at them (or, on a network secured \
                 otherwise, set WA_CLUSTER_INSECURE=true)"
            )),
        }
    }

    /// For the start-up log.
    pub fn describe(&self) -> &'static str {
        match (&self.credentials, self.insecure) {
            (Some(_), _) => "mutual-tls",
            (None, false) => "plain (loopback only)",
            (None, true) => "plain (INSECURE switch set)",
        }
    }
}

/// Whether `host` (a name or address, from `host:port`) is this machine's
/// loopback, where the link may run without credentials.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| match ip {
            std::net::IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
            v4 => v4.is_loopback(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_links_stay_on_loopback_unless_switched() {
        let plain = LinkConfig::default();
        assert_eq!(plain.decide("127.0.0.1"), Ok(Security::PlainLoopback));
        assert!(plain.decide("0.0.0.0").unwrap_err().contains("WA_CLUSTER_DIR"));
        assert!(plain.decide("coreapp").is_err());
        let insecure = LinkConfig { insecure: true, ..LinkConfig::default() };
        assert_eq!(insecure.decide("10.1.2.3"), Ok(Security::PlainInsecure));
    }

    #[test]
    fn loopback_hosts() {
        for host in ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST", "::1", "[::1]", "::ffff:127.0.0.1"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["0.0.0.0", "10.0.0.1", "coreapp", "localhost.example.com", "::", "169.254.0.1"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}

//! TLS to a MySQL or MariaDB server, done by coreapp itself.
//!
//! diesel speaks to MySQL through the C client library, and the one Debian
//! ships (MariaDB Connector/C 3.3, built on GnuTLS) does not check the
//! server's certificate, nor refuse a server that answers without TLS,
//! unless asked through options diesel cannot set. So for every
//! `WA_DB_SSL_MODE` but `DISABLE` the library connects in plain text to a
//! Unix socket in a directory only this process's user can enter, and a
//! relay behind it opens the TCP connection to the server, asks for TLS
//! the way a client does (the SSL request packet after the server's
//! greeting), checks the certificate with rustls and passes the rest
//! through. The client's password exchange then runs inside TLS.
//!
//! The library believes it runs without TLS, so during the login the
//! relay renumbers packets (the SSL request took a sequence number the
//! library did not count); after the server's first OK or error it copies
//! bytes as they come. A failure before the login (no TLS offered, a bad
//! certificate, the server unreachable) reaches the library as a MySQL
//! error packet carrying the reason, so it appears in the coreapp's log as
//! the connection's error.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener, UnixStream};

use crate::config::{ServerDb, SslMode};

/// The server's capability flag for TLS.
const CLIENT_SSL: u32 = 0x0800;
/// The fixed head of a handshake response, which is also the SSL request:
/// capabilities, maximum packet size, character set, filler.
const SSL_REQUEST_LEN: usize = 32;
/// How long reaching the server, its greeting and the TLS handshake may
/// take together.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// A packet of the login larger than this is not a login.
const MAX_LOGIN_PACKET: usize = 64 * 1024;
/// The server error code for a failed handshake (ER_HANDSHAKE_ERROR); the
/// client library takes a client-side code such as 2026 (SSL connection
/// error) from the server for a malformed packet.
const ER_HANDSHAKE_ERROR: u16 = 1043;

/// Where the relay for `server` listens, started on first use; one per
/// server and TLS setting for the process's life.
pub fn socket_for(server: &ServerDb) -> anyhow::Result<PathBuf> {
    static RELAYS: Mutex<Vec<(Key, PathBuf)>> = Mutex::new(Vec::new());
    let key = Key { host: server.host.clone(), port: server.port, tls: server.tls.clone() };
    let mut relays = RELAYS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, path)) = relays.iter().find(|(k, _)| *k == key) {
        return Ok(path.clone());
    }
    let path = start(&key)?;
    relays.push((key, path.clone()));
    Ok(path)
}

#[derive(Clone, PartialEq, Eq)]
struct Key {
    host: String,
    port: u16,
    tls: crate::config::DbTls,
}

/// Binds the socket and runs the relay on a thread of its own (a runtime
/// of its own too: connections are made from blocking threads, whatever
/// the caller runs on).
fn start(key: &Key) -> anyhow::Result<PathBuf> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(key.tls.mode, &key.tls.ca)?));
    let name = ServerName::try_from(key.host.trim_start_matches('[').trim_end_matches(']').to_string())
        .context("WA_DB_HOSTNAME is not a host name TLS can check")?;
    let dir = private_dir()?;
    let path = dir.join("mysql.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    listener.set_nonblocking(true)?;
    let target = Arc::new(Target { host: key.host.clone(), port: key.port, name, connector });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("db-tls-relay".into()).spawn(move || {
        runtime.block_on(async move {
            let listener = match UnixListener::from_std(listener) {
                Ok(l) => l,
                Err(error) => return tracing::error!(%error, "the database TLS relay cannot listen"),
            };
            loop {
                match listener.accept().await {
                    Ok((client, _)) => {
                        let target = target.clone();
                        tokio::spawn(async move {
                            if let Err(error) = relay(client, &target).await {
                                tracing::debug!(error = format!("{error:#}"), "database TLS relay connection ended");
                            }
                        });
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the database TLS relay cannot accept");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        })
    })?;
    Ok(path)
}

/// A directory of this process only (mode 0700) under the system's
/// temporary directory, removed at exit by nobody: it holds one socket.
fn private_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    for _ in 0..8 {
        let dir = base.join(format!("wa-coreapp-db-{}-{}", std::process::id(), wire::ids::random_hex(4)));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    bail!("cannot create a private directory under {}", base.display())
}

/// rustls's client settings for `mode` (never `DISABLE`).
fn client_config(mode: SslMode, ca: &Path) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable | SslMode::Require => Arc::new(AnyCertificate(provider)),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(ca)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| anyhow::anyhow!("WA_DB_SSL_CA: cannot read {}: {e}", ca.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                bail!("WA_DB_SSL_CA: {} holds no CA certificate", ca.display());
            }
            let webpki =
                rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            if mode == SslMode::VerifyFull { webpki } else { Arc::new(AnyName(webpki)) }
        }
    };
    Ok(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
}

struct Target {
    host: String,
    port: u16,
    name: ServerName<'static>,
    connector: tokio_rustls::TlsConnector,
}

/// One connection of the client library, to its end.
async fn relay(mut client: UnixStream, target: &Target) -> anyhow::Result<()> {
    // The number of the next packet the library expects from the server,
    // for an error packet in its place.
    let mut expected = 0u8;
    let tls = match tokio::time::timeout(SETUP_TIMEOUT, setup(&mut client, target, &mut expected)).await {
        Ok(Ok(Some(tls))) => tls,
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(error)) => {
            let reason = format!("TLS to the database server {}:{} failed: {error:#}", target.host, target.port);
            let _ = write_packet(&mut client, expected, &error_packet(&reason)).await;
            bail!(reason)
        }
        Err(_) => {
            let reason = format!(
                "TLS to the database server {}:{} failed: no answer within {} s",
                target.host,
                target.port,
                SETUP_TIMEOUT.as_secs()
            );
            let _ = write_packet(&mut client, expected, &error_packet(&reason)).await;
            bail!(reason)
        }
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = tokio::io::split(tls);
    let logging_in = AtomicBool::new(true);
    let upstream = async {
        // During the login the server counts one packet more than the
        // library; the first packet sent after it is a command, numbered
        // from zero on both sides.
        loop {
            let Some((seq, payload)) = read_packet(&mut from_client).await? else { break };
            if logging_in.load(Ordering::Acquire) {
                write_packet(&mut to_server, seq.wrapping_add(1), &payload).await?;
            } else {
                write_packet(&mut to_server, seq, &payload).await?;
                tokio::io::copy(&mut from_client, &mut to_server).await?;
                break;
            }
        }
        to_server.shutdown().await?;
        anyhow::Ok(())
    };
    let downstream = async {
        loop {
            let Some((seq, payload)) = read_packet(&mut from_server).await? else { break };
            // OK or error: the login is over.
            let done = matches!(payload.first(), Some(0x00 | 0xFF));
            if done {
                logging_in.store(false, Ordering::Release);
            }
            write_packet(&mut to_client, seq.wrapping_sub(1), &payload).await?;
            if done {
                tokio::io::copy(&mut from_server, &mut to_client).await?;
                break;
            }
        }
        to_client.shutdown().await?;
        anyhow::Ok(())
    };
    let (up, down) = tokio::join!(upstream, downstream);
    up.and(down)
}

/// Reaches the server, passes its greeting on, turns the library's
/// handshake response into an SSL request, completes TLS and sends the
/// response through it. `None`: the server refused the connection with an
/// error packet, passed on as it is.
async fn setup(
    client: &mut UnixStream,
    target: &Target,
    expected: &mut u8,
) -> anyhow::Result<Option<tokio_rustls::client::TlsStream<TcpStream>>> {
    let mut server = TcpStream::connect((target.host.as_str(), target.port)).await.context("cannot connect")?;
    server.set_nodelay(true)?;
    let (seq, greeting) = read_packet(&mut server).await?.context("the server closed the connection")?;
    if greeting.first() == Some(&0xFF) {
        write_packet(client, seq, &greeting).await?;
        return Ok(None);
    }
    if greeting_capabilities(&greeting)? & CLIENT_SSL == 0 {
        bail!("the server does not offer TLS");
    }
    write_packet(client, seq, &greeting).await?;
    *expected = seq.wrapping_add(1);
    let (seq, mut response) = read_packet(client).await?.context("the client library closed the connection")?;
    *expected = seq.wrapping_add(1);
    if response.len() < SSL_REQUEST_LEN {
        bail!("the client library's handshake response is too short");
    }
    let capabilities = u32::from_le_bytes(response[..4].try_into().expect("four bytes")) | CLIENT_SSL;
    response[..4].copy_from_slice(&capabilities.to_le_bytes());
    write_packet(&mut server, seq, &response[..SSL_REQUEST_LEN]).await?;
    let mut tls = target.connector.connect(target.name.clone(), server).await?;
    write_packet(&mut tls, seq.wrapping_add(1), &response).await?;
    Ok(Some(tls))
}

/// The capability flags of a protocol 10 greeting: protocol version,
/// server version (NUL-terminated), connection id, 8 bytes of scramble, a
/// filler, the low 16 bits; the high 16 bits follow character set and
/// status.
fn greeting_capabilities(greeting: &[u8]) -> anyhow::Result<u32> {
    if greeting.first() != Some(&10) {
        bail!("the server's greeting is not MySQL protocol 10");
    }
    let version_end = greeting[1..].iter().position(|b| *b == 0).context("malformed greeting")? + 1;
    let low_at = version_end + 1 + 4 + 8 + 1;
    let high_at = low_at + 2 + 1 + 2;
    let two = |at: usize| greeting.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as u32);
    let low = two(low_at).context("malformed greeting")?;
    Ok(low | two(high_at).unwrap_or(0) << 16)
}

/// A MySQL error packet (protocol 4.1 form) with `message`.
fn error_packet(message: &str) -> Vec<u8> {
    let mut packet = vec![0xFF];
    packet.extend_from_slice(&ER_HANDSHAKE_ERROR.to_le_bytes());
    packet.extend_from_slice(b"#HY000");
    packet.extend_from_slice(message.as_bytes());
    packet
}

/// One packet of the login: `None` at a clean end of stream.
async fn read_packet<R: AsyncRead + Unpin>(from: &mut R) -> anyhow::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 4];
    match from.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    if len > MAX_LOGIN_PACKET {
        bail!("a {len}-byte packet during the login");
    }
    let mut payload = vec![0u8; len];
    from.read_exact(&mut payload).await?;
    Ok(Some((header[3], payload)))
}

async fn write_packet<W: AsyncWrite + Unpin>(to: &mut W, seq: u8, payload: &[u8]) -> anyhow::Result<()> {
    let len = u32::try_from(payload.len()).ok().filter(|l| *l < 1 << 24).context("packet too large")?;
    let mut packet = Vec::with_capacity(4 + payload.len());
    packet.extend_from_slice(&len.to_le_bytes()[..3]);
    packet.push(seq);
    packet.extend_from_slice(payload);
    to.write_all(&packet).await?;
    to.flush().await?;
    Ok(())
}

/// `REQUIRE`: any certificate (the handshake's signatures are still
/// checked, so the link is private to whoever holds the certificate's key).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `VERIFY_CA`: the chain is checked against the CA, the names are not.
#[derive(Debug)]
struct AnyName(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_greeting_tells_whether_the_server_offers_tls() {
        // protocol 10, "5.5.5-10.11", id, scramble, filler, caps low, charset, status, caps high
        let mut greeting = vec![10];
        greeting.extend_from_slice(b"5.5.5-10.11\0");
        greeting.extend_from_slice(&[1, 0, 0, 0]);
        greeting.extend_from_slice(b"abcdefgh");
        greeting.push(0);
        greeting.extend_from_slice(&0xFFFEu16.to_le_bytes());
        greeting.push(45);
        greeting.extend_from_slice(&2u16.to_le_bytes());
        greeting.extend_from_slice(&0x81BFu16.to_le_bytes());
        assert_eq!(greeting_capabilities(&greeting).unwrap(), 0x81BF_FFFE);
        assert_ne!(greeting_capabilities(&greeting).unwrap() & CLIENT_SSL, 0);
        // The same greeting without the TLS flag (bit 11 of the low half).
        greeting[1 + 12 + 4 + 8 + 1 + 1] &= !0x08;
        assert_eq!(greeting_capabilities(&greeting).unwrap(), 0x81BF_F7FE);
        assert_eq!(greeting_capabilities(&greeting).unwrap() & CLIENT_SSL, 0);
        assert!(greeting_capabilities(&[9, 0]).is_err());
        assert!(greeting_capabilities(&[10, b'x']).is_err());
    }
}

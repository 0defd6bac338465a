//! Clients that misbehave on purpose, for tests of the webapp's edge: TLS
//! connections driven byte by byte, and HTTP/2 without a pool. They trust
//! any certificate (the test webapp's is self-signed).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

pub type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// Accepts the server's certificate, whatever it is; signatures are still
/// checked, so the handshake is a real one.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The socket address of a `https://host:port` base URL.
pub fn addr(web: &str) -> SocketAddr {
    let host_port = web.split("://").nth(1).unwrap_or(web);
    host_port.parse().unwrap_or_else(|e| panic!("{web} is not https://ip:port: {e}"))
}

/// A TLS connection speaking HTTP/1.1.
pub async fn connect(web: &str) -> io::Result<Tls> {
    connect_with(web, &[b"http/1.1"], None).await
}

/// A TLS connection offering the ALPN `protocols`, with a receive buffer
/// of `recv_buffer` bytes when given (a client that takes little at once).
pub async fn connect_with(web: &str, protocols: &[&[u8]], recv_buffer: Option<u32>) -> io::Result<Tls> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
    let socket = TcpSocket::new_v4()?;
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    let tcp = socket.connect(addr(web)).await?;
    let name = ServerName::try_from("localhost").expect("a valid name");
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await
}

/// An HTTP/2 connection (ALPN `h2`) and the task driving it, which ends
/// when the server closes the connection.
pub async fn h2(web: &str) -> (h2::client::SendRequest<Bytes>, JoinHandle<Result<(), h2::Error>>) {
    let tls = connect_with(web, &[b"h2"], None).await.expect("a TLS connection");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "the webapp speaks HTTP/2");
    let (send, connection) = h2::client::handshake(tls).await.expect("an HTTP/2 handshake");
    (send, tokio::spawn(connection))
}

/// An HTTP/1.1 response read off a raw connection.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// The status line and headers.
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    /// Parses a response from its bytes (head, and body as far as given).
    pub fn parse(bytes: &[u8]) -> Option<Response> {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let status = head.split(' ').nth(1)?.parse().ok()?;
        Some(Response { status, head, body: bytes[end + 4..].to_vec() })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The body as JSON (the on-prem envelope).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Reads one response whose body has a `Content-Length`.
pub async fn read_response(stream: &mut (impl AsyncRead + Unpin)) -> io::Result<Response> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(response) = Response::parse(&bytes) {
            let length: usize = response.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            if response.body.len() >= length {
                return Ok(response);
            }
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a whole response"));
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
}

/// Sends a request head (and nothing more), keeping the connection alive.
pub async fn send_head(
    stream: &mut (impl AsyncWrite + Unpin),
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> io::Result<()> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.flush().await
}

/// A request without a body on an open connection, and its response.
pub async fn get(stream: &mut Tls, path: &str, headers: &[(&str, &str)]) -> io::Result<Response> {
    send_head(stream, "GET", path, headers).await?;
    read_response(stream).await
}

/// Reads until the server closes the connection (the end of the stream or
/// an error); what came before.
pub async fn read_to_close(stream: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    while let Ok(n @ 1..) = stream.read(&mut chunk).await {
        bytes.extend_from_slice(&chunk[..n]);
    }
    bytes
}

//! A capture server: a bare TCP listener that records every connection
//! (whether or not an HTTP request follows) with the request line and
//! `Authorization` header it got, and answers each request with a fixed
//! `200` body. Tests point links at it to see whether anything, and which
//! credentials, reached a host.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What arrived on one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hit {
    /// `GET /path HTTP/1.1`, empty when no request head arrived.
    pub request_line: String,
    pub authorization: Option<String>,
}

#[derive(Clone)]
pub struct Capture {
    port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
}

/// The most of a request head read.
const MAX_HEAD: usize = 64 * 1024;

impl Capture {
    /// Listens on 127.0.0.1 and answers every request `200` with `body` as
    /// `content_type`.
    pub async fn start(content_type: &str, body: Vec<u8>) -> Capture {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the capture server");
        let port = listener.local_addr().unwrap().port();
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let answer = Arc::new([head.into_bytes(), body].concat());
        let recorded = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                // Recorded on arrival, before anything is read: a connection
                // counts even if no request follows.
                let index = {
                    let mut hits = recorded.lock().unwrap();
                    hits.push(Hit::default());
                    hits.len() - 1
                };
                let (recorded, answer) = (recorded.clone(), answer.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head);
                    let mut lines = text.split("\r\n");
                    let hit = Hit {
                        request_line: lines.next().unwrap_or_default().to_string(),
                        authorization: lines.find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.trim().eq_ignore_ascii_case("authorization").then(|| value.trim().to_string())
                        }),
                    };
                    recorded.lock().unwrap()[index] = hit;
                    let _ = socket.write_all(&answer).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Capture { port, hits }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://<host>:<port><path>`, `host` being how the link names this
    /// server (`127.0.0.1`, `localhost`, `[::ffff:127.0.0.1]`, ...).
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    /// Every connection so far, oldest first.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

//! A front for the fake upstream that loses answers: it passes every request on to the fake,
//! except `jobs/create` requests it is told to drop, which it reads whole and then closes the
//! connection on without answering, as an upstream that crashed (or a network that failed)
//! after the request was written would.
//!
//! Each connection carries one request: the front asks the fake to close after its answer
//! (`connection: close`), so every request the sidecar sends is seen here and counted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The largest request head the front reads.
const MAX_HEAD: usize = 64 << 10;

/// How many `jobs/create` requests the front drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drops {
    /// The first one only; later ones reach the fake.
    Once,
    /// Every one.
    Always,
}

/// A running front. Cheap to clone.
#[derive(Clone)]
pub struct DroppingFront {
    /// `jobs/create` requests received, dropped or passed on.
    attempts: Arc<AtomicUsize>,
    drops_left: Arc<AtomicUsize>,
}

impl DroppingFront {
    /// Starts a front on `127.0.0.1:0` before the fake at `backend` (its base URL); returns
    /// the front and its base URL.
    pub async fn start(backend: &str, drops: Drops) -> (Self, String) {
        let backend = backend
            .strip_prefix("http://")
            .expect("an http base URL")
            .to_owned();
        let front = Self {
            attempts: Arc::new(AtomicUsize::new(0)),
            drops_left: Arc::new(AtomicUsize::new(match drops {
                Drops::Once => 1,
                Drops::Always => usize::MAX,
            })),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let serving = front.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serving.clone().connection(socket, backend.clone()));
            }
        });
        (front, url)
    }

    /// The `jobs/create` requests the front received.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    async fn connection(self, mut socket: TcpStream, backend: String) {
        let Some((head, body)) = read_request(&mut socket).await else {
            return;
        };
        if head.starts_with("POST /v1/jobs/create ") {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            let drop_it = self
                .drops_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if drop_it {
                // Read whole, never answered.
                return;
            }
        }
        let Ok(mut upstream) = TcpStream::connect(&backend).await else {
            return;
        };
        let mut request: String = head
            .split("\r\n")
            .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
            .map(|line| format!("{line}\r\n"))
            .collect();
        request.push_str("connection: close\r\n\r\n");
        if upstream.write_all(request.as_bytes()).await.is_err()
            || upstream.write_all(&body).await.is_err()
        {
            return;
        }
        let _ = tokio::io::copy(&mut upstream, &mut socket).await;
        let _ = socket.shutdown().await;
    }
}

/// Reads one request: its head (without the blank line) and its `Content-Length` body.
async fn read_request(socket: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let end = loop {
        if let Some(at) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break at;
        }
        if buffer.len() > MAX_HEAD {
            return None;
        }
        let mut chunk = [0u8; 4096];
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8(buffer[..end].to_vec()).ok()?;
    let length: usize = head
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buffer[end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Some((head, body))
}

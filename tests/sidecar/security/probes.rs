//! Slow and stalled connections over real HTTP: a client dripping its request head one byte at
//! a time is cut at the header deadline, and floods of stalled connections on the proxy port
//! and on the admin port leave `/healthz` and `/readyz` answering 200 within a bounded time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libretto_sidecar::http::server::ServerOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::sidecar::{fake_and_sidecar, Options};

/// A bare `GET path` on a fresh connection; the status, or `None` when nothing answers in a
/// second.
async fn get(addr: SocketAddr, path: &str) -> Option<u16> {
    let attempt = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        answer.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .ok()
        .flatten()
}

/// Retries `GET path` until it answers 200; returns how long that took (panics past `limit`).
async fn answers_200_within(addr: SocketAddr, path: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if get(addr, path).await == Some(200) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{path} did not answer 200 within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `count` connections to `addr` that send half a request head and then nothing.
async fn stalled(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        if let Ok(mut stream) = TcpStream::connect(addr).await {
            let _ = stream
                .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
                .await;
            streams.push(stream);
        }
    }
    streams
}

#[tokio::test]
async fn a_client_dripping_its_head_is_cut_at_the_header_deadline() {
    let (_fake, sidecar) = fake_and_sidecar(Options {
        server: ServerOptions {
            header_read_timeout: Duration::from_millis(600),
            idle_timeout: Duration::from_secs(30),
            ..ServerOptions::default()
        },
        ..Options::default()
    })
    .await;
    let mut stream = TcpStream::connect(sidecar.addr).await.unwrap();
    let started = Instant::now();
    let head = b"POST /v1/jobs/list HTTP/1.1\r\nhost: 127.0.0.1\r\nx-drip: ";
    let mut cut = false;
    // One byte every 100 ms: each byte would push an idle deadline, never the head's.
    for byte in head.iter().chain(std::iter::repeat(&b'a')).take(60) {
        if stream.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => {
                cut = true;
                break;
            }
            Ok(Ok(_)) => {} // a 408 answer; the close follows
            Err(_) => {}
        }
    }
    assert!(cut, "the dripping connection was never cut");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(1500),
        "cut after {elapsed:?}, past the 600 ms header deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_through_floods_of_stalled_connections() {
    let (_fake, sidecar) = fake_and_sidecar(Options {
        server: ServerOptions {
            max_connections: 16,
            ..ServerOptions::default()
        },
        ..Options::default()
    })
    .await;
    let admin: SocketAddr = sidecar
        .admin_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    // The proxy's cap is full of stalled connections (held up to its 10 s header deadline):
    // the admin listener is apart and answers at once.
    let _proxy_flood = stalled(sidecar.addr, 16 + 100).await;
    assert_eq!(
        get(sidecar.addr, "/v1/jobs/list").await,
        Some(503),
        "the proxy is full"
    );
    for path in ["/healthz", "/readyz"] {
        let took = answers_200_within(admin, path, Duration::from_secs(2)).await;
        assert!(took < Duration::from_secs(1), "{path} took {took:?}");
    }
    // The admin port is flooded past its cap and past the bounded over-cap answers (before,
    // 1200 stalled connections held a 1024 cap for 10 s): the probes are answered over the cap,
    // and the stalled connections are cut at the admin's short deadlines.
    let admin_flood = stalled(admin, 1200).await;
    let mut slowest = Duration::ZERO;
    for path in ["/healthz", "/readyz", "/healthz"] {
        slowest = slowest.max(answers_200_within(admin, path, Duration::from_secs(5)).await);
    }
    eprintln!(
        "probes answered within {slowest:?} of a {} connection flood",
        admin_flood.len()
    );
    assert!(slowest < Duration::from_secs(4), "{slowest:?}");
}

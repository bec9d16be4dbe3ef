//! Size and connection limits: oversized heads and bodies are refused, connections beyond the
//! cap get 503, and silent connections are closed and free the cap.

use std::time::Duration;

use http::Method;
use libretto_sidecar::http::server::ServerOptions;
use serde_json::json;

use crate::support::http::{call, call_with, refused, TestClient};
use crate::support::sidecar::{fake_and_sidecar, Options};

#[tokio::test]
async fn oversized_heads_and_bodies_are_refused() {
    let (fake, sidecar) = fake_and_sidecar(Options {
        max_body: 1024,
        server: ServerOptions {
            max_header_bytes: 8192,
            ..ServerOptions::default()
        },
        ..Options::default()
    })
    .await;
    let client = TestClient::new(&sidecar.url);
    let big = "h".repeat(32 * 1024);
    let head = client
        .send(Method::POST, "/v1/jobs/list", &[("x-big", &big)], "{}")
        .await;
    assert_eq!(head.status, 431);

    let body = json!({"workflow": "w", "params": {"p": "{{credential:portal-production}}",
                                                  "pad": "x".repeat(4096)}});
    let answer = call(&TestClient::new(&sidecar.url), "jobs/create", body).await;
    refused(&answer, 413, "PAYLOAD_TOO_LARGE");
    assert!(fake.recorded().is_empty());
    assert_eq!(fake.lookups(), 0);
}

#[tokio::test]
async fn connections_beyond_the_cap_get_503() {
    let (fake, sidecar) = fake_and_sidecar(Options {
        server: ServerOptions {
            max_connections: 1,
            ..ServerOptions::default()
        },
        ..Options::default()
    })
    .await;
    // The first connection holds the only permit while its request waits on a slow upstream.
    let busy = TestClient::new(&sidecar.url);
    let held = tokio::spawn(async move {
        call_with(
            &busy,
            "jobs/list",
            &[("x-echo-delay-ms", "1500")],
            json!({}),
        )
        .await
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while fake.recorded_at("/v1/jobs/list").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let over = call(&TestClient::new(&sidecar.url), "jobs/list", json!({})).await;
    assert_eq!(over.status, 503);
    assert_eq!(over.json["json"]["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(
        held.await.unwrap().status,
        200,
        "the busy connection was served"
    );
}

/// Sends `bytes` on a fresh TCP connection and then stays silent; returns the stream.
async fn silent_connection(addr: std::net::SocketAddr, bytes: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Waits until the sidecar closes `stream` (read returns 0 or an error); bounded.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!("the silent connection was not closed"),
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn silent_connections_are_closed_and_free_the_cap() {
    let (_fake, sidecar) = fake_and_sidecar(Options {
        server: libretto_sidecar::http::server::ServerOptions {
            max_connections: 2,
            header_read_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(600),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    // One sends nothing at all; one sends an HTTP/2 preface and an empty SETTINGS frame.
    let mut nothing = silent_connection(sidecar.addr, b"").await;
    let mut preface = silent_connection(
        sidecar.addr,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    )
    .await;
    let started = std::time::Instant::now();
    closed_within(&mut nothing, Duration::from_secs(3)).await;
    closed_within(&mut preface, Duration::from_secs(3)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    let answer = call(&TestClient::new(&sidecar.url), "jobs/list", json!({})).await;
    assert_eq!(answer.status, 200, "the cap is free again");
}

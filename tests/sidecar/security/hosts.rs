//! The Host check on every request: no host at all, two `Host` headers, a `Host` that is not
//! ASCII, and an HTTP/2 `:authority` (or an absolute-form target) naming a foreign host beside a
//! loopback `Host` are all refused, over HTTP/1.1 and h2c, and nothing reaches the upstream.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::sidecar::{fake_and_sidecar, Options};

/// Sends `head` (without the final blank line) and a `{"json":{}}` body on a fresh
/// connection; returns the raw answer.
async fn raw(addr: std::net::SocketAddr, head: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = b"{\"json\":{}}";
    let mut request = head.to_vec();
    request.extend_from_slice(
        format!(
            "content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    request.extend_from_slice(body);
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_missing_doubled_or_non_ascii_host_is_refused_over_http1() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let addr = sidecar.addr;
    let good = raw(addr, b"POST /v1/jobs/list HTTP/1.1\r\nhost: 127.0.0.1\r\n").await;
    assert!(good.starts_with("HTTP/1.1 200"), "{good}");
    assert_eq!(fake.recorded_at("/v1/jobs/list").len(), 1);
    for head in [
        &b"POST /v1/jobs/list HTTP/1.1\r\n"[..],
        b"POST /v1/jobs/list HTTP/1.0\r\n",
        b"POST /v1/jobs/list HTTP/1.1\r\nhost: 127.0.0.1\r\nhost: evil.example\r\n",
        b"POST /v1/jobs/list HTTP/1.1\r\nhost: evil.example\r\nhost: 127.0.0.1\r\n",
        b"POST /v1/jobs/list HTTP/1.1\r\nhost: 127.0.0.1\xc2\xa0\r\n",
        b"POST /v1/jobs/list HTTP/1.1\r\nhost: \xe2\x80\x8blocalhost\r\n",
        b"POST http://evil.example/v1/jobs/list HTTP/1.1\r\nhost: 127.0.0.1\r\n",
    ] {
        let answer = raw(addr, head).await;
        let shown = String::from_utf8_lossy(head);
        let status = answer.lines().next().unwrap_or_default();
        assert!(
            status.ends_with(" 403 Forbidden") || status.ends_with(" 400 Bad Request"),
            "{shown}: {answer}"
        );
    }
    assert_eq!(
        fake.recorded_at("/v1/jobs/list").len(),
        1,
        "refused requests reach nobody"
    );
}

/// Sends one h2c request with `uri` (its authority is the `:authority`) and `host` headers.
async fn h2c(addr: std::net::SocketAddr, uri: &str, hosts: &[&str]) -> StatusCode {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request = Request::post(uri).header("content-type", "application/json");
    for host in hosts {
        request = request.header("host", *host);
    }
    let request = request
        .body(Full::new(Bytes::from_static(b"{\"json\":{}}")))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    let status = response.status();
    let _ = response.into_body().collect().await;
    status
}

#[tokio::test]
async fn a_foreign_authority_is_refused_over_h2c_whatever_the_host_header() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let port = sidecar.addr.port();
    let addr = sidecar.addr;
    let own = format!("http://127.0.0.1:{port}/v1/jobs/list");
    assert_eq!(h2c(addr, &own, &[]).await, StatusCode::OK);
    let foreign = format!("http://evil.example:{port}/v1/jobs/list");
    assert_eq!(h2c(addr, &foreign, &[]).await, StatusCode::FORBIDDEN);
    // A loopback Host beside a foreign :authority is no way around the check.
    assert_eq!(
        h2c(addr, &foreign, &["127.0.0.1"]).await,
        StatusCode::FORBIDDEN
    );
    // Nor is a foreign Host beside a loopback :authority, or two Host headers.
    assert_eq!(
        h2c(addr, &own, &["evil.example"]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h2c(addr, &own, &["127.0.0.1", "localhost"]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(fake.recorded_at("/v1/jobs/list").len(), 1);
}

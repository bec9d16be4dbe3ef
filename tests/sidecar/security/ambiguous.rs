//! Ambiguous JSON and placeholder text that no scan resolved: a key named twice anywhere in a
//! body the sidecar reads is refused 400 `DUPLICATE_KEY`, and no body on any route leaves the
//! sidecar with `{{credential:` in it, however escaped or split across chunks.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;

use crate::support::http::{refused, Answer, TestClient};
use crate::support::sidecar::{fake_and_sidecar, Options};
use crate::support::upstream::FakeUpstream;

/// POSTs raw `body` bytes as JSON to `path`.
async fn post_raw(client: &TestClient, path: &str, body: &str) -> Answer {
    client
        .send(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body.to_owned(),
        )
        .await
}

/// Asserts that no request the fake received carries placeholder text.
fn nothing_forwarded_with_a_placeholder(fake: &FakeUpstream) {
    for recorded in fake.recorded() {
        let body = String::from_utf8_lossy(&recorded.body);
        assert!(
            !body.contains("credential:") && !body.contains("\\u007b"),
            "{} forwarded {body}",
            recorded.path_and_query
        );
    }
}

#[tokio::test]
async fn a_key_named_twice_is_refused_on_every_route_the_sidecar_reads() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let placeholder = "{{credential:portal-production/password}}";
    for (path, body, pointer) in [
        (
            "/v1/jobs/create",
            format!(
                r#"{{"json":{{"workflow":"w","params":{{"p":"{placeholder}"}},"params":{{"p":"x"}}}}}}"#
            ),
            "/json/params",
        ),
        (
            "/v1/jobs/create",
            format!(
                r#"{{"json":{{"workflow":"w","params":{{"p":"{placeholder}"}}}},"json":{{"workflow":"w","params":{{}}}}}}"#
            ),
            "/json",
        ),
        (
            "/v1/jobs/create",
            format!(r#"{{"json":{{"workflow":"w","params":{{"p":"{placeholder}","p":"x"}}}}}}"#),
            "/json/params/p",
        ),
        // Without any placeholder in sight too.
        (
            "/v1/jobs/create",
            r#"{"json":{"workflow":"w","workflow":"v","params":{}}}"#.to_owned(),
            "/json/workflow",
        ),
        (
            "/v1/schedules/create",
            format!(
                r#"{{"json":{{"workflow":"w","params":{{"p":"{placeholder}"}},"params":{{}}}}}}"#
            ),
            "/json/params",
        ),
        (
            "/v1/schedules/update",
            r#"{"json":{"id":"s","id":"t"}}"#.to_owned(),
            "/json/id",
        ),
        (
            "/v1/credentials/create",
            r#"{"json":{"name":"a","name":"b","credentials":{}}}"#.to_owned(),
            "/json/name",
        ),
    ] {
        let answer = post_raw(&client, path, &body).await;
        let refusal = refused(&answer, 400, "DUPLICATE_KEY");
        assert_eq!(refusal["data"]["path"], pointer, "{body}");
    }
    assert!(fake.recorded().is_empty(), "nothing forwarded");
    assert_eq!(fake.lookups(), 0);
}

#[tokio::test]
async fn placeholder_text_never_leaves_on_a_pass_through_route() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    for body in [
        r#"{"json":{"p":"{{credential:portal-production/password}}"}}"#,
        r#"{"json":{"p":"\u007b\u007bcredential:portal-production/password}}"}}"#,
        r#"{"json":{"p":"{\u007Bcredential:portal-production}}"}}"#,
        r#"{"json":{"p":"{{ \u0063redential:portal-production}}"}}"#,
    ] {
        for path in ["/v1/logs/list", "/v1/jobs/list", "/other/route"] {
            let answer = post_raw(&client, path, body).await;
            let refusal = refused(&answer, 400, "PLACEHOLDER_NOT_ALLOWED");
            assert_eq!(refusal["data"]["reason"], "unresolved", "{path} {body}");
        }
    }
    nothing_forwarded_with_a_placeholder(&fake);
    assert_eq!(fake.lookups(), 0);
    // A body without one still passes.
    let answer = post_raw(&client, "/v1/logs/list", r#"{"json":{"p":"{{x}}"}}"#).await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn placeholder_text_split_across_chunks_is_held_back_and_the_request_aborted() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let stream = tokio::net::TcpStream::connect(sidecar.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let chunks: Vec<&'static [u8]> = vec![
        br#"{"json":{"pad":"aaaaaaaa","p":"\u00"#,
        br#"7b{cred"#,
        br#"ential:portal-production}}"}}"#,
    ];
    let frames = futures_util::stream::unfold(chunks.into_iter(), |mut chunks| async move {
        let chunk = chunks.next()?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        Some((
            Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from_static(chunk))),
            chunks,
        ))
    });
    let request = Request::post("/v1/logs/list")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(StreamBody::new(frames))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("PLACEHOLDER_NOT_ALLOWED"));
    // The upstream got at most the first chunks of an aborted request.
    for recorded in fake.recorded_at("/v1/logs/list") {
        assert!(!String::from_utf8_lossy(&recorded.body).contains("ential:portal"));
    }
}

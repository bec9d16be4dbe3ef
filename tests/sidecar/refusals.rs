//! What the sidecar refuses before anything reaches upstream, over real HTTP against the
//! counting fake: special routes however their path is spelled (resolved, or refused as
//! non-canonical), special routes without POST,
//! encoded bodies it must read, bodies with placeholders outside the envelope, a credential id
//! that cannot travel in a header, and a 404 from upstream that is not the API's own.

use http::Method;
use serde_json::{json, Value};

use crate::support::http::{post_json as post, refused, Answer, TestClient};
use crate::support::sidecar::{fake_and_sidecar, start_sidecar, Options};
use crate::support::upstream::{FakeUpstream, LookupMode};

use libretto_sidecar::http::server::ServerOptions;
use libretto_sidecar::sidecar::UpstreamChoice;

/// A portal job as a whole request body, in its envelope.
fn portal_body() -> Value {
    json!({"json": {"workflow": "portal-login",
                    "params": {"username": "{{credential:portal-production/username}}"}}})
}

/// A refusal ([`refused`]) of the sidecar's own: `defined: true`.
fn assert_refused(answer: &Answer, status: u16, code: &str) -> Value {
    let body = refused(answer, status, code);
    assert_eq!(body["defined"], true);
    body
}

#[tokio::test]
async fn disguised_job_paths_are_resolved_or_refused_never_passed_through() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    // Canonical spellings (letter case and a trailing slash aside) are resolved.
    for path in ["/v1/JOBS/create", "/v1/jobs/create/"] {
        let answer = post(&client, path, &[], &portal_body()).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.json);
    }
    // Every other spelling is refused before anything is forwarded.
    for path in [
        "//v1/jobs/create",
        "/v1/jobs/./create",
        "/v1/jobs/%63reate",
        "/v1/jobs/create;x=1",
        "/v1/credentials/../jobs/create",
        "/v1/jobs\\create",
        "/v1/jobs/create.",
        "/v1/jobs/create%20",
        "/v1/jobs/create%00",
        "/v1/jobs%C0%AFcreate",
    ] {
        let answer = post(&client, path, &[], &portal_body()).await;
        let error = assert_refused(&answer, 400, "BAD_REQUEST");
        assert_eq!(error["data"]["reason"], "non_canonical_path", "{path}");
    }
    let forwarded = fake.recorded();
    let jobs: Vec<_> = forwarded
        .iter()
        .filter(|r| !r.path_and_query.contains("credentials/get"))
        .collect();
    assert_eq!(jobs.len(), 2);
    for job in &forwarded {
        let body = String::from_utf8_lossy(&job.body);
        assert!(!body.contains("{{"), "{}: {body}", job.path_and_query);
    }
    for job in jobs {
        let body = String::from_utf8_lossy(&job.body);
        assert!(body.contains("alice@example.com"), "{body}");
    }
}

#[tokio::test]
async fn special_routes_take_post_only() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let query = "?data=%7B%22json%22%3A%7B%22params%22%3A%7B%22p%22%3A%22%7B%7Bcredential%3Aportal-production%2Fpassword%7D%7D%22%7D%7D%7D";
    for (method, path) in [
        (Method::GET, format!("/v1/jobs/create{query}")),
        (Method::GET, "/v1/schedules/create".to_owned()),
        (Method::PUT, "/v1/schedules/update".to_owned()),
        (Method::GET, "/v1/credentials/delete".to_owned()),
        (Method::GET, "/v1/JOBS/create/".to_owned()),
    ] {
        let answer = client.send(method.clone(), &path, &[], Vec::new()).await;
        let error = assert_refused(&answer, 405, "METHOD_NOT_SUPPORTED");
        assert_eq!(error["data"]["reason"], "method", "{method} {path}");
        assert!(error["message"].as_str().unwrap().contains("POST"));
    }
    // A disguised spelling without POST is refused as non-canonical, not passed through.
    let answer = client
        .send(
            Method::GET,
            &format!("//v1/jobs/./create{query}"),
            &[],
            Vec::new(),
        )
        .await;
    assert_refused(&answer, 400, "BAD_REQUEST");
    assert!(fake.recorded().is_empty(), "nothing was forwarded");
    // Other routes keep every method.
    let listed = client
        .send(Method::GET, "/v1/jobs/list", &[], Vec::new())
        .await;
    assert_eq!(listed.status, 200);
}

#[tokio::test]
async fn encoded_bodies_on_read_routes_are_refused() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    for path in [
        "/v1/jobs/create",
        "/v1/schedules/create",
        "/v1/credentials/update",
    ] {
        let answer = post(
            &client,
            path,
            &[("content-encoding", "gzip")],
            &portal_body(),
        )
        .await;
        let error = assert_refused(&answer, 415, "UNSUPPORTED_MEDIA_TYPE");
        assert_eq!(error["data"]["content_encoding"], "gzip");
    }
    assert!(fake.recorded().is_empty(), "nothing was forwarded");
    let plain = post(
        &client,
        "/v1/jobs/create",
        &[("content-encoding", "identity")],
        &portal_body(),
    )
    .await;
    assert_eq!(plain.status, 200, "{}", plain.json);
    // A pass-through route streams whatever it is given.
    let other = post(
        &client,
        "/v1/jobs/list",
        &[("content-encoding", "gzip")],
        &json!({}),
    )
    .await;
    assert_eq!(other.status, 200);
}

#[tokio::test]
async fn placeholders_in_an_unwrapped_body_ask_for_the_envelope() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let bare = portal_body()["json"].clone();
    let answer = post(&client, "/v1/jobs/create", &[], &bare).await;
    let error = assert_refused(&answer, 400, "PLACEHOLDER_INVALID");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(r#"{"json": {...}}"#), "{message}");
    assert_eq!(error["data"]["path"], "");
    // `json` holding something other than an object is no envelope either.
    let answer = post(
        &client,
        "/v1/jobs/create",
        &[],
        &json!({"json": "{{credential:portal-production}}"}),
    )
    .await;
    assert_refused(&answer, 400, "PLACEHOLDER_INVALID");
    assert!(fake.recorded().is_empty());
    // An envelope with `meta` beside `json` is resolved.
    let mut with_meta = portal_body();
    with_meta["meta"] = json!([]);
    let answer = post(&client, "/v1/jobs/create", &[], &with_meta).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
}

#[tokio::test]
async fn a_credential_id_that_cannot_be_a_header_stops_the_job() {
    let fake = FakeUpstream::new().with_credential("odd", "id\nwith-a-break", json!({"k": "v"}));
    let url = fake.start().await;
    let sidecar = start_sidecar(UpstreamChoice::Url(url), Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let job = json!({"json": {"workflow": "w", "params": {"k": "{{credential:odd/k}}"}}});
    let answer = post(&client, "/v1/jobs/create", &[], &job).await;
    let error = assert_refused(&answer, 502, "UPSTREAM_ERROR");
    assert_eq!(error["data"]["reason"], "unreadable");
    assert!(fake.recorded_at("/v1/jobs/create").is_empty());
}

#[tokio::test]
async fn a_404_that_is_not_the_api_not_found_is_an_upstream_error() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    fake.set_mode(LookupMode::NotFoundPage);
    let client = TestClient::new(&sidecar.url);
    for _ in 0..2 {
        let answer = post(&client, "/v1/jobs/create", &[], &portal_body()).await;
        let error = assert_refused(&answer, 502, "UPSTREAM_ERROR");
        assert_eq!(error["data"]["reason"], "status");
        assert_eq!(error["data"]["upstream_status"], 404);
    }
    assert_eq!(fake.lookups(), 2, "not remembered as missing");
    // The API's own NOT_FOUND still means "no such credential".
    fake.set_mode(LookupMode::Normal);
    let missing = json!({"json": {"workflow": "w", "params": {"k": "{{credential:nope}}"}}});
    let answer = post(&client, "/v1/jobs/create", &[], &missing).await;
    assert_refused(&answer, 422, "CREDENTIAL_NOT_FOUND");
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_arrives_times_out_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A blocking task in flight keeps the paused clock from jumping ahead while sockets work.
    let (release, held) = std::sync::mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        let _ = held.recv();
    });
    // The paused clock is this runtime's: the connections are served on it.
    let options = Options {
        server: ServerOptions::default(),
        ..Options::default()
    };
    let (fake, sidecar) = fake_and_sidecar(options).await;
    let mut stream = tokio::net::TcpStream::connect(sidecar.addr).await.unwrap();
    stream
        .write_all(b"POST /v1/jobs/create HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"json\":")
        .await
        .unwrap();
    let reader = tokio::spawn(async move {
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}}") {
                        break;
                    }
                }
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    });
    for _ in 0..120 {
        if reader.is_finished() {
            break;
        }
        tokio::time::advance(std::time::Duration::from_millis(500)).await;
        tokio::task::yield_now().await;
    }
    let answer = reader.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"TIMEOUT""#), "{answer}");
    assert!(fake.recorded().is_empty());
    drop(release);
}

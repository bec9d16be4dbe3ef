//! The body memory budget over real HTTP: many HTTP/2 streams and HTTP/1.1 connections each
//! holding a body just under `--max-body` are refused past `--max-body-memory` (503
//! `BODY_BUDGET_EXHAUSTED`, `Retry-After`) instead of being buffered, and the process's peak
//! memory stays bounded; a deeply nested body is a 400 and a placeholder expansion bomb a 413.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use http::Method;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::support::http::{call, refused, TestClient};
use crate::support::sidecar::{fake_and_sidecar, start_sidecar, Options};
use crate::support::upstream::FakeUpstream;
use libretto_sidecar::sidecar::UpstreamChoice;

const MAX_BODY: usize = 1 << 20;
const BUDGET: usize = 4 << 20;

/// A field of `/proc/self/status` in KiB (`VmHWM`, `VmRSS`).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

type Sender = mpsc::Sender<Result<Frame<Bytes>, Infallible>>;
type ChannelBody = StreamBody<BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

/// A `jobs/create` (no declared length) that sends a body just under `--max-body` and then
/// waits: the sender is returned so the test decides when the body breaks off.
fn held_job(url: &str, chunk: &Bytes) -> (Request<ChannelBody>, Sender) {
    let (tx, rx) = mpsc::channel(2);
    tx.try_send(Ok(Frame::data(chunk.clone()))).unwrap();
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|frame| (frame, rx))
    });
    let body = StreamBody::new(frames.boxed());
    let request = Request::post(format!("{url}/v1/jobs/create"))
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    (request, tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_streams_past_the_budget_are_refused_and_memory_stays_bounded() {
    let (_fake, sidecar) = fake_and_sidecar(Options {
        max_body: MAX_BODY,
        max_body_memory: BUDGET,
        ..Options::default()
    })
    .await;
    // One shared buffer, cloned by reference: the client side costs next to nothing.
    let chunk = Bytes::from(vec![b' '; MAX_BODY - 2]);
    let peak_before = status_kib("VmHWM");
    let (connections, streams) = (4, 32);
    let mut senders = Vec::new();
    let mut answers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .http2_initial_stream_window_size(4 << 20)
            .http2_initial_connection_window_size(16 << 20)
            .build_http::<ChannelBody>();
        for _ in 0..streams {
            let (request, tx) = held_job(&sidecar.url, &chunk);
            senders.push(tx);
            let client = client.clone();
            answers.spawn(async move {
                let response = client.request(request).await.unwrap();
                assert_eq!(response.version(), http::Version::HTTP_2);
                let status = response.status();
                let retry = response.headers().get("retry-after").cloned();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                (status, retry, body)
            });
        }
    }
    // Every stream the budget cannot hold is answered at once; the rest wait for more body.
    let total = connections * streams;
    let mut refusals = 0;
    loop {
        let wait = if refusals == 0 { 20_000 } else { 700 };
        let Ok(joined) =
            tokio::time::timeout(Duration::from_millis(wait), answers.join_next()).await
        else {
            break;
        };
        let (status, retry, body) = joined.unwrap().unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.unwrap(), "1");
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["json"]["code"], "BODY_BUDGET_EXHAUSTED", "{body}");
        refusals += 1;
    }
    let held = total - refusals;
    assert!((1..=BUDGET / MAX_BODY).contains(&held), "{held} held");
    assert!(sidecar.proxy.budget().available() < MAX_BODY);
    let grown_mib = (status_kib("VmHWM") - peak_before) / 1024;
    // Without the budget each stream buffered its body: 128 MiB and more.
    eprintln!("{held} streams held; peak memory grew by {grown_mib} MiB");
    assert!(grown_mib < 48, "peak memory grew by {grown_mib} MiB");
    drop(senders);
    while let Some(done) = tokio::time::timeout(Duration::from_secs(20), answers.join_next())
        .await
        .unwrap()
    {
        // Each ends one way or another (refused, or forwarded once whole).
        let _ = done.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sidecar.proxy.budget().available() != BUDGET {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the budget is given back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // With the budget free again, a job goes through.
    let answer = call(
        &TestClient::new(&sidecar.url),
        "jobs/create",
        crate::support::sidecar::portal_job(),
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
}

#[tokio::test]
async fn http1_connections_past_the_budget_are_refused_at_once() {
    let (fake, sidecar) = fake_and_sidecar(Options {
        max_body: MAX_BODY,
        max_body_memory: BUDGET,
        ..Options::default()
    })
    .await;
    let head = format!(
        "POST /v1/jobs/create HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        MAX_BODY - 1
    );
    let mut held = Vec::new();
    let mut refusals = 0;
    for _ in 0..48 {
        let mut stream = tokio::net::TcpStream::connect(sidecar.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&vec![b' '; 4096]).await.unwrap();
        let mut buf = vec![0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
            Ok(Ok(read)) if read > 0 => {
                let answer = String::from_utf8_lossy(&buf[..read]).into_owned();
                assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
                assert!(answer.contains("BODY_BUDGET_EXHAUSTED"), "{answer}");
                assert!(
                    answer.to_ascii_lowercase().contains("retry-after: 1"),
                    "{answer}"
                );
                refusals += 1;
            }
            _ => held.push(stream),
        }
    }
    assert!(held.len() <= BUDGET / MAX_BODY, "{} held", held.len());
    assert_eq!(refusals + held.len(), 48);
    assert!(fake.recorded().is_empty());
}

/// POSTs a raw JSON text to `jobs/create`.
async fn post_raw(url: &str, body: String) -> crate::support::http::Answer {
    TestClient::new(url)
        .send(
            Method::POST,
            "/v1/jobs/create",
            &[("content-type", "application/json")],
            body,
        )
        .await
}

#[tokio::test]
async fn a_deeply_nested_body_is_a_400_before_it_is_parsed() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let nested = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let body = format!(
        r#"{{"json":{{"workflow":"w","params":{{"p":"{{{{credential:portal-production/password}}}}","deep":{nested}}}}}}}"#
    );
    let answer = post_raw(&sidecar.url, body).await;
    let data = refused(&answer, 400, "BODY_TOO_DEEP");
    assert_eq!(data["data"]["limit"], 64);
    // Brackets inside strings do not count, and 64 levels are fine.
    let fine = format!("{}{}", "[".repeat(60), "]".repeat(60));
    let body = json!({"workflow": "w", "params": {"text": "[".repeat(500), "deep": serde_json::from_str::<serde_json::Value>(&fine).unwrap()}});
    let answer = call(&TestClient::new(&sidecar.url), "jobs/create", body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(fake.lookups(), 0);
}

#[tokio::test]
async fn a_body_of_many_tiny_values_is_held_at_its_parsed_weight() {
    // 700 KiB of `[],`: under --max-body, but parsed it would outweigh a 16 MiB budget.
    let (fake, sidecar) = fake_and_sidecar(Options {
        max_body_memory: 16 << 20,
        ..Options::default()
    })
    .await;
    let many = format!("[{}[]]", "[],".repeat(240_000));
    let body = format!(r#"{{"json":{{"workflow":"w","params":{{"many":{many}}}}}}}"#);
    let answer = post_raw(&sidecar.url, body).await;
    let data = refused(&answer, 413, "BODY_TOO_COMPLEX");
    assert_eq!(data["data"]["budget"], 16 << 20);
    assert!(fake.recorded().is_empty());
}

#[tokio::test]
async fn a_placeholder_expansion_bomb_is_refused() {
    let big: serde_json::Value = (0..1000)
        .map(|i| (format!("field-{i}"), json!("v".repeat(40))))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let fake =
        FakeUpstream::portal().with_credential("big", "22222222-2222-4222-8222-222222222222", big);
    let base = fake.start().await;
    let sidecar = start_sidecar(UpstreamChoice::Url(base), Options::default()).await;
    // 400 placeholders of ~20 bytes each, each standing for a value of ~56 KB (under the
    // scrubber's per-value limit): 22 MB.
    let params: serde_json::Map<_, _> = (0..400)
        .map(|i| (format!("p{i}"), json!("{{credential:big}}")))
        .collect();
    let answer = call(
        &TestClient::new(&sidecar.url),
        "jobs/create",
        json!({"workflow": "w", "params": params}),
    )
    .await;
    let data = refused(&answer, 413, "PLACEHOLDER_EXPANSION_TOO_LARGE");
    assert_eq!(data["data"]["limit"], 1 << 20);
    assert!(fake.recorded_at("/v1/jobs/create").is_empty());
    // A few of them fit.
    let answer = call(
        &TestClient::new(&sidecar.url),
        "jobs/create",
        json!({"workflow": "w", "params": {"a": "{{credential:big}}", "b": "{{credential:big}}"}}),
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
}

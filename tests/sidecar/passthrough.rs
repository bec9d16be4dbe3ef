//! Routes the sidecar does not rewrite are forwarded as they are: method, path, query, status,
//! headers minus hop-by-hop ones, streamed bodies; the client's key is replaced; a dead or slow
//! upstream is answered 502 or 504 in the envelope.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use libretto_sidecar::sidecar::UpstreamChoice;
use serde_json::json;

use crate::support::http::TestClient;
use crate::support::sidecar::{fake_and_sidecar, start_sidecar, Options};
use crate::support::upstream::{closed_port, sha, UPSTREAM_KEY};

#[tokio::test]
async fn other_routes_pass_through_with_query_status_and_headers() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let answer = client
        .send(
            Method::PUT,
            "/v1/anything/here?cursor=a%20b&limit=5",
            &[
                ("x-api-key", "the-client-s-own-key"),
                ("x-echo-status", "418"),
                ("x-custom", "kept"),
                ("connection", "x-private"),
                ("x-private", "dropped"),
                ("proxy-authorization", "Basic Zm9v"),
                ("x-request-id", "req-42"),
                ("x-libretto-credential-ids", "forged"),
            ],
            "not json at all \u{0}\u{1}",
        )
        .await;
    assert_eq!(answer.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(answer.json["method"], "PUT");
    assert_eq!(
        answer.json["path_and_query"],
        "/v1/anything/here?cursor=a%20b&limit=5"
    );
    let seen = &answer.json["headers"];
    assert_eq!(seen["x-api-key"], UPSTREAM_KEY, "client key replaced");
    assert_eq!(seen["x-custom"], "kept");
    assert_eq!(seen["x-request-id"], "req-42");
    assert!(seen.get("x-private").is_none());
    assert!(seen.get("proxy-authorization").is_none());
    assert!(seen.get("x-libretto-credential-ids").is_none());
    assert_eq!(
        answer.json["body_sha"],
        format!("{:x}", sha("not json at all \u{0}\u{1}".as_bytes()))
    );
    // Response side: hop-by-hop headers gone, others kept, request id returned.
    assert!(answer.headers.get("x-upstream-private").is_none());
    assert!(answer.headers.get("keep-alive").is_none());
    assert!(answer.headers.get("proxy-authenticate").is_none());
    assert_eq!(answer.headers["x-upstream-kept"], "1");
    assert_eq!(answer.headers["x-request-id"], "req-42");
    assert_eq!(fake.recorded_at("/v1/anything/here").len(), 1);
}

#[tokio::test]
async fn request_and_response_bodies_are_streamed() {
    let options = Options {
        max_body: 4 << 20,
        ..Options::default()
    };
    let (fake, sidecar) = fake_and_sidecar(options).await;
    let client = Client::builder(TokioExecutor::new()).build_http();

    // Request body: sent in chunks with no length, larger than the answer limit.
    let chunks: Vec<Bytes> = (0..64)
        .map(|i| Bytes::from(vec![b'a' + (i % 26) as u8; 32 * 1024]))
        .collect();
    let expected: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let stream = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|chunk| Ok::<_, std::convert::Infallible>(Frame::data(chunk))),
    );
    let request = Request::post(format!("{}/v1/upload", sidecar.url))
        .header("content-type", "application/json")
        .body(StreamBody::new(stream).boxed())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["body_len"], json!(expected.len()));
    assert_eq!(echo["body_sha"], format!("{:x}", sha(&expected)));

    // Response body: the first chunk arrives before the upstream has finished.
    let client = Client::builder(TokioExecutor::new()).build_http::<http_body_util::Empty<Bytes>>();
    let request = Request::post(format!("{}/v1/stream", sidecar.url))
        .header("content-type", "application/json")
        .body(http_body_util::Empty::new())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .unwrap()
        .unwrap();
    let mut body = response.into_body();
    let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("first chunk streamed before the upstream finished")
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "first;");
    fake.release_stream();
    let rest = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_eq!(rest, "second");
}

#[tokio::test]
async fn a_base_path_is_put_in_front() {
    let (fake, _) = fake_and_sidecar(Options::default()).await;
    let base = format!("{}/base/", fake.start().await);
    let sidecar = start_sidecar(UpstreamChoice::Url(base), Options::default()).await;
    let answer = TestClient::new(&sidecar.url)
        .call("ignored", "jobs/list", json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["path_and_query"], "/base/v1/jobs/list");
}

#[tokio::test]
async fn http2_clients_are_served() {
    let (_fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<Bytes>>();
    let request = Request::post(format!("{}/v1/jobs/list?x=1", sidecar.url))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from_static(
            b"{\"json\":{}}",
        )))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), http::Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["path_and_query"], "/v1/jobs/list?x=1");
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    let dead = closed_port().await;
    let sidecar = start_sidecar(
        UpstreamChoice::Url(format!("http://{dead}")),
        Options::default(),
    )
    .await;
    let answer = TestClient::new(&sidecar.url)
        .call("k", "jobs/list", json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        answer.json,
        json!({"json": {"defined": true, "code": "UPSTREAM_ERROR", "status": 502,
            "message": "The upstream could not be reached or gave no usable answer",
            "data": {"reason": "unreachable"}}})
    );
    assert!(answer.headers.get("x-request-id").is_some());
}

#[tokio::test]
async fn a_silent_upstream_is_a_504() {
    // A listener that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let options = Options {
        timeout: Duration::from_millis(300),
        ..Options::default()
    };
    let sidecar = start_sidecar(UpstreamChoice::Url(format!("http://{addr}")), options).await;
    let answer = TestClient::new(&sidecar.url)
        .call("k", "jobs/list", json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(answer.json["json"]["code"], "UPSTREAM_TIMEOUT");
    assert_eq!(answer.json["json"]["defined"], true);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_on_inspected_routes() {
    let options = Options {
        max_body: 1024,
        ..Options::default()
    };
    let (fake, sidecar) = fake_and_sidecar(options).await;
    let client = TestClient::new(&sidecar.url);
    let big = json!({"workflow": "w", "params": {"pad": "x".repeat(2048)}});
    for route in ["jobs/create", "credentials/update", "schedules/create"] {
        let answer = client.call("k", route, big.clone()).await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{route}");
        assert_eq!(answer.json["json"]["code"], "PAYLOAD_TOO_LARGE");
        assert_eq!(answer.json["json"]["defined"], true);
        assert_eq!(answer.json["json"]["data"]["limit"], 1024);
    }
    // A pass-through route declaring a length over the limit is refused up front too.
    let answer = client.call("k", "logs/list", big).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json["json"]["data"]["limit"], 1024);
    assert!(fake.recorded().is_empty(), "nothing forwarded");
    let small = client.call("k", "logs/list", json!({"pad": "x"})).await;
    assert_eq!(small.status, StatusCode::OK);
}

#[tokio::test]
async fn a_streamed_pass_through_body_is_cut_at_the_limit() {
    let options = Options {
        max_body: 64 * 1024,
        ..Options::default()
    };
    let (fake, sidecar) = fake_and_sidecar(options).await;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let send = |chunks: usize| {
        let stream = futures_util::stream::iter((0..chunks).map(|_| {
            Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(vec![b'a'; 16 * 1024])))
        }));
        Request::post(format!("{}/v1/upload", sidecar.url))
            .header("content-type", "application/json")
            .body(StreamBody::new(stream).boxed())
            .unwrap()
    };
    // Under the limit, with no length: forwarded whole.
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(send(4)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(fake.recorded_at("/v1/upload").len(), 1);
    // Past it: cut, the client gets 413, the upstream never gets a whole body.
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(send(8)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["json"]["code"], "PAYLOAD_TOO_LARGE");
    assert!(fake
        .recorded_at("/v1/upload")
        .iter()
        .all(|seen| seen.body.len() <= 64 * 1024));
}

#[tokio::test]
async fn a_job_without_placeholders_is_forwarded_byte_for_byte() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    // Odd spacing, key order and number forms that a re-serialization would change.
    let raw =
        "{ \"json\" :{\"workflow\":\"w\",\"params\":{\"z\":1.50,\"a\":1e3,\"s\":\"\\u00fc\"} } }";
    let answer = TestClient::new(&sidecar.url)
        .send(
            Method::POST,
            "/v1/jobs/create",
            &[("content-type", "application/json")],
            raw,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let jobs = fake.recorded_at("/v1/jobs/create");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].body, raw.as_bytes());
    assert!(jobs[0].headers.get("x-libretto-credential-ids").is_none());
    assert_eq!(fake.lookups(), 0);
}

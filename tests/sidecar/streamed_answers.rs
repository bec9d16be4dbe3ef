//! Answers that are not JSON are scrubbed too, while they stream: plain text, server-sent
//! events and answers without a content type come back with every known secret redacted, even
//! one split across two chunks, and without their original length; binary answers pass
//! untouched.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use libretto_sidecar::http::body::{full, Body, BoxError};
use libretto_sidecar::http::server::{self, Handler, ServerOptions};
use libretto_sidecar::sidecar::UpstreamChoice;
use serde_json::json;

use crate::support::http::{post_json, Answer, TestClient};
use crate::support::sidecar::{start_sidecar, Options, Running};

const SECRET: &str = "hunter22-secret";

/// An upstream answering each route with a fixed content type, in chunks.
#[derive(Clone)]
struct Chunked;

fn chunked(kind: Option<&'static str>, chunks: &'static [&'static str]) -> Response<Body> {
    let stream = futures_util::stream::unfold(0usize, move |at| async move {
        let chunk = chunks.get(at)?;
        // Lets each chunk leave as its own write.
        tokio::time::sleep(Duration::from_millis(5)).await;
        Some((
            Ok::<_, BoxError>(Frame::data(Bytes::from_static(chunk.as_bytes()))),
            at + 1,
        ))
    });
    let mut response = Response::new(StreamBody::new(stream).boxed());
    if let Some(kind) = kind {
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static(kind));
    }
    response
}

impl Handler for Chunked {
    async fn call(&self, request: Request<Incoming>) -> Response<Body> {
        match request.uri().path() {
            "/v1/text" => chunked(
                Some("text/plain; charset=utf-8"),
                &["log line: hunter", "22-secret was used\n", "end\n"],
            ),
            "/v1/events" => chunked(
                Some("text/event-stream"),
                &[
                    "event: message\ndata: {\"password\":\"hunt",
                    "er22-secret\"}\n\n",
                    "data: {\"note\":\"\\\"hunter22-secret\\\"\"}\n\n",
                ],
            ),
            "/v1/untyped" => chunked(None, &["hunter22-", "secret"]),
            "/v1/sized" => {
                let mut response = Response::new(full(format!("<p>{SECRET}</p>")));
                let headers = response.headers_mut();
                headers.insert("content-type", HeaderValue::from_static("text/html"));
                headers.insert("content-length", HeaderValue::from(SECRET.len() + 7));
                response
            }
            _ => {
                let mut response = Response::new(full(format!("\x00{SECRET}\x01")));
                response.headers_mut().insert(
                    "content-type",
                    HeaderValue::from_static("application/octet-stream"),
                );
                response
            }
        }
    }
}

async fn sidecar() -> Running {
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(
        listener,
        Chunked,
        ServerOptions::default(),
        std::future::pending(),
    ));
    let running = start_sidecar(
        UpstreamChoice::Url(format!("http://{addr}")),
        Options::default(),
    )
    .await;
    running
        .proxy
        .answers()
        .known
        .learn("portal", &json!(SECRET))
        .unwrap();
    running
}

async fn get(sidecar: &Running, path: &str) -> Answer {
    post_json(&TestClient::new(&sidecar.url), path, &[], &json!({})).await
}

#[tokio::test]
async fn text_and_event_streams_are_scrubbed_across_chunks() {
    let sidecar = sidecar().await;
    let text = get(&sidecar, "/v1/text").await;
    assert_eq!(text.status, StatusCode::OK);
    assert_eq!(text.bytes, "log line: [redacted] was used\nend\n");
    assert_eq!(text.headers["content-type"], "text/plain; charset=utf-8");

    let events = get(&sidecar, "/v1/events").await;
    assert_eq!(
        events.bytes,
        "event: message\ndata: {\"password\":\"[redacted]\"}\n\n\
         data: {\"note\":\"\\\"[redacted]\\\"\"}\n\n"
    );

    let untyped = get(&sidecar, "/v1/untyped").await;
    assert_eq!(untyped.bytes, "[redacted]");
}

#[tokio::test]
async fn a_scrubbed_answer_loses_its_length_and_binary_passes() {
    let sidecar = sidecar().await;
    let html = get(&sidecar, "/v1/sized").await;
    assert_eq!(html.bytes, "<p>[redacted]</p>");
    assert!(html.headers.get("content-length").is_none());

    let binary = get(&sidecar, "/v1/binary").await;
    assert_eq!(binary.bytes, format!("\x00{SECRET}\x01"));
    assert_eq!(binary.headers["content-type"], "application/octet-stream");
}

//! Test helpers shared by the integration tests: a small HTTP client and server starters.
//!
//! Every helper talks real HTTP to a server bound on `127.0.0.1:0`, with a bounded timeout so
//! a broken server fails the test instead of hanging it.

#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// How long any single test request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// An answer: status, headers, raw body, and the body parsed as JSON (Null when it is not).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Bytes,
    pub json: Value,
}

/// A pooled HTTP/1.1 client for tests.
#[derive(Clone)]
pub struct TestClient {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl TestClient {
    /// A client for `base`, e.g. `http://127.0.0.1:4000`.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends a request with raw body bytes and the given headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(Full::new(body.into()))
            .expect("valid test request");
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
            .await
            .expect("request timed out")
            .expect("request failed");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect())
            .await
            .expect("body timed out")
            .expect("body failed")
            .to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            bytes,
            json,
        }
    }

    /// POSTs `{"json": input}` to `/v1/<route>` with an API key.
    pub async fn call(&self, key: &str, route: &str, input: Value) -> Answer {
        let body = serde_json::to_vec(&serde_json::json!({ "json": input })).expect("json");
        self.send(
            Method::POST,
            &format!("/v1/{route}"),
            &[("x-api-key", key), ("content-type", "application/json")],
            body,
        )
        .await
    }
}

/// Reads a started child's first stdout line, `listening on http://IP:PORT`, and returns the
/// base URL; fails the test if it does not come within 20 seconds or reads otherwise.
pub async fn listening_base(child: &mut tokio::process::Child) -> String {
    use tokio::io::AsyncBufReadExt;
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    let mut stdout = tokio::io::BufReader::new(stdout);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(20), stdout.read_line(&mut line))
        .await
        .expect("the listening line arrives in time")
        .expect("stdout is readable");
    let base = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    assert!(
        base.starts_with("http://") && !base.ends_with(":0"),
        "{base}"
    );
    base.to_owned()
}

/// Runs a command that must refuse to start: it exits unsuccessfully within 20 seconds without
/// printing a listening line. Returns its stderr.
pub async fn refused_start(command: &mut tokio::process::Command) -> String {
    let output = tokio::time::timeout(Duration::from_secs(20), command.output())
        .await
        .expect("the binary exits in time")
        .expect("the binary runs");
    assert!(!output.status.success(), "it started: {command:?}");
    assert!(output.stdout.is_empty(), "nothing listened");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

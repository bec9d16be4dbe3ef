//! A small HTTP client for the tests, and the one way every test POSTs `{"json": input}`.
//!
//! Every helper talks real HTTP to a server bound on `127.0.0.1:0`, with a bounded timeout so
//! a broken server fails the test instead of hanging it.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

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

    /// POSTs `{"json": input}` to `/v1/<route>` with an API key, as the mock's clients do.
    pub async fn call(&self, key: &str, route: &str, input: Value) -> Answer {
        call_with(self, route, &[("x-api-key", key)], input).await
    }
}

/// POSTs `body` as JSON to `path`, with extra headers after the content type.
pub async fn post_json(
    client: &TestClient,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Answer {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    let body = serde_json::to_vec(body).expect("json");
    client.send(Method::POST, path, &all, body).await
}

/// POSTs `{"json": input}` to `/v1/<route>` with extra headers and no API key, as an app
/// talking to the sidecar would.
pub async fn call_with(
    client: &TestClient,
    route: &str,
    headers: &[(&str, &str)],
    input: Value,
) -> Answer {
    post_json(
        client,
        &format!("/v1/{route}"),
        headers,
        &json!({ "json": input }),
    )
    .await
}

/// POSTs `{"json": input}` to `/v1/<route>` without an API key, as an app would.
pub async fn call(client: &TestClient, route: &str, input: Value) -> Answer {
    call_with(client, route, &[], input).await
}

/// Asserts a refusal: the HTTP status, the envelope's `code`, and `status` equal to the HTTP
/// status; returns the envelope's `json` member.
pub fn refused(answer: &Answer, status: u16, code: &str) -> Value {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.json);
    let body = answer.json["json"].clone();
    assert_eq!(body["code"], code, "{}", answer.json);
    assert_eq!(body["status"], status);
    body
}

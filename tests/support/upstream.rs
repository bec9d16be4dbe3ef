//! A small fake Libretto upstream for the sidecar's tests.
//!
//! The fake counts `credentials/get` calls, records every request it receives, and can be told
//! to fail lookups (500, garbage, slow) so the sidecar's error paths are driven over real HTTP.
//! Everything binds `127.0.0.1:0`.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use libretto_sidecar::http::body::{full, Body};
use libretto_sidecar::http::server::{self, Handler, ServerOptions};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// The key the fake upstream accepts.
pub const UPSTREAM_KEY: &str = "upstream-key-for-tests";

/// The id of the portal credential of [`portal_fake`].
pub const PORTAL_ID: &str = "11111111-1111-4111-8111-111111111111";

/// The password of the portal credential of [`portal_fake`]: quotes, a backslash, spaces and
/// a non-ASCII letter, so escaping mistakes show.
pub const PORTAL_PASSWORD: &str = "s3cr\"et\\pa ss ü";

/// How the fake answers `credentials/get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LookupMode {
    Normal = 0,
    Fail500 = 1,
    Garbage = 2,
    /// Never answers in time (sleeps far longer than any test timeout).
    Hang = 3,
    Unauthorized = 4,
    /// Answers 404 with an HTML page, as a wrong base path behind a web server would.
    NotFoundPage = 5,
    /// Answers 503 with `Retry-After: 60`.
    Unavailable = 6,
    /// Answers 429 without `Retry-After`.
    TooMany = 7,
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
struct State {
    /// name → (id, value)
    credentials: Mutex<Vec<(String, String, Value)>>,
    lookups: AtomicUsize,
    mode: AtomicU8,
    lookup_delay_ms: AtomicU64,
    recorded: Mutex<Vec<Recorded>>,
    jobs: AtomicUsize,
    release_stream: Notify,
    /// Keys accepted besides [`UPSTREAM_KEY`].
    extra_keys: Mutex<Vec<String>>,
    /// `credentials/get` calls still to answer 500 before answering normally.
    fail_next: AtomicUsize,
    /// `credentials/get` calls being answered now, and the most there ever were at once.
    lookups_in_flight: AtomicUsize,
    most_lookups_in_flight: AtomicUsize,
}

/// The fake upstream. Cheap to clone.
#[derive(Clone, Default)]
pub struct FakeUpstream {
    state: Arc<State>,
}

impl FakeUpstream {
    pub fn new() -> Self {
        Self::default()
    }

    /// A fake holding the credential `portal-production` ([`PORTAL_ID`]): username
    /// `alice@example.com`, password [`PORTAL_PASSWORD`].
    pub fn portal() -> Self {
        Self::new().with_credential(
            "portal-production",
            PORTAL_ID,
            json!({"username": "alice@example.com", "password": PORTAL_PASSWORD}),
        )
    }

    pub fn with_credential(self, name: &str, id: &str, value: Value) -> Self {
        self.state
            .credentials
            .lock()
            .push((name.into(), id.into(), value));
        self
    }

    pub fn set_mode(&self, mode: LookupMode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Delays every `credentials/get` answer, so a burst of misses overlaps one lookup.
    pub fn set_lookup_delay(&self, delay: Duration) {
        self.state
            .lookup_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Forgets the credential called `name`, as if it were deleted behind the sidecar's back.
    pub fn remove_credential(&self, name: &str) {
        self.state.credentials.lock().retain(|(n, _, _)| n != name);
    }

    /// Accepts `key` as well as [`UPSTREAM_KEY`].
    pub fn accept_key(&self, key: &str) {
        self.state.extra_keys.lock().push(key.to_owned());
    }

    /// Answers the next `count` lookups with 500, then normally again.
    pub fn fail_next_lookups(&self, count: usize) {
        self.state.fail_next.store(count, Ordering::SeqCst);
    }

    /// Starts the fake on `127.0.0.1:0` until `stop` resolves (then its port refuses
    /// connections); returns its base URL.
    pub async fn start_until(
        &self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> String {
        let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = ServerOptions {
            shutdown_grace: Duration::from_millis(100),
            ..ServerOptions::default()
        };
        tokio::spawn(server::serve(listener, self.clone(), options, stop));
        format!("http://{addr}")
    }

    pub fn lookups(&self) -> usize {
        self.state.lookups.load(Ordering::SeqCst)
    }

    /// The most `credentials/get` calls the fake was answering at the same time.
    pub fn most_concurrent_lookups(&self) -> usize {
        self.state.most_lookups_in_flight.load(Ordering::SeqCst)
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.recorded.lock().clone()
    }

    /// The recorded requests to `path` (without query).
    pub fn recorded_at(&self, path: &str) -> Vec<Recorded> {
        self.recorded()
            .into_iter()
            .filter(|r| r.path_and_query.split('?').next() == Some(path))
            .collect()
    }

    /// Lets the `/v1/stream` answer send its second chunk.
    pub fn release_stream(&self) {
        self.state.release_stream.notify_one();
    }

    /// Starts the fake on `127.0.0.1:0`; returns its base URL.
    pub async fn start(&self) -> String {
        let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(server::serve(
            listener,
            self.clone(),
            ServerOptions::default(),
            std::future::pending(),
        ));
        format!("http://{addr}")
    }

    /// `credentials/list`: the names and ids held, never values.
    fn credentials_list(&self) -> Response<Body> {
        let listed: Vec<Value> = self
            .state
            .credentials
            .lock()
            .iter()
            .map(|(name, id, _)| json!({"credential_id": id, "name": name}))
            .collect();
        json_answer(StatusCode::OK, json!({"json": {"credentials": listed}}))
    }

    async fn credentials_get(&self, input: &Value) -> Response<Body> {
        let now = self.state.lookups_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.state
            .most_lookups_in_flight
            .fetch_max(now, Ordering::SeqCst);
        let answer = self.credentials_get_counted(input).await;
        self.state.lookups_in_flight.fetch_sub(1, Ordering::SeqCst);
        answer
    }

    async fn credentials_get_counted(&self, input: &Value) -> Response<Body> {
        self.state.lookups.fetch_add(1, Ordering::SeqCst);
        // Read before the delay, so a slowed lookup answers with the value it saw when it
        // began, as a real one in flight would.
        let name = input["name"].as_str().unwrap_or_default();
        let found = self
            .state
            .credentials
            .lock()
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, id, value)| (id.clone(), value.clone()));
        let delay = self.state.lookup_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let failing = self
            .state
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return envelope_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR");
        }
        match self.state.mode.load(Ordering::SeqCst) {
            1 => return envelope_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR"),
            2 => {
                let mut response = Response::new(full("<html>oops</html>"));
                *response.status_mut() = StatusCode::OK;
                return response;
            }
            3 => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            4 => return envelope_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            5 => {
                let mut response = Response::new(full("<html>404 Not Found</html>"));
                *response.status_mut() = StatusCode::NOT_FOUND;
                return response;
            }
            6 => {
                let mut response = envelope_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static("60"));
                return response;
            }
            7 => return envelope_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS"),
            _ => {}
        }
        match found {
            Some((id, value)) => {
                json_answer(StatusCode::OK, json!({"json": {"id": id, "value": value}}))
            }
            None => envelope_error(StatusCode::NOT_FOUND, "NOT_FOUND"),
        }
    }

    fn credential_write(&self, verb: &str, input: &Value) -> Response<Body> {
        let mut credentials = self.state.credentials.lock();
        let id = input["id"].as_str().unwrap_or_default().to_owned();
        match verb {
            "create" | "upsert" => {
                let name = input["name"].as_str().unwrap_or_default().to_owned();
                let value = input
                    .get("credentials")
                    .or_else(|| input.get("value"))
                    .cloned()
                    .unwrap_or(Value::Null);
                credentials.retain(|(n, _, _)| *n != name);
                let new_id = format!("id-{name}");
                credentials.push((name, new_id.clone(), value));
                json_answer(
                    StatusCode::OK,
                    json!({"json": {"success": true, "credential_id": new_id, "message": "ok"}}),
                )
            }
            "update" => {
                let Some(entry) = credentials.iter_mut().find(|(_, i, _)| *i == id) else {
                    return envelope_error(StatusCode::NOT_FOUND, "NOT_FOUND");
                };
                if let Some(name) = input["name"].as_str() {
                    entry.0 = name.to_owned();
                }
                if let (Some(patch), Some(stored)) =
                    (input["credentials"].as_object(), entry.2.as_object_mut())
                {
                    for (key, value) in patch {
                        stored.insert(key.clone(), value.clone());
                    }
                }
                json_answer(
                    StatusCode::OK,
                    json!({"json": {"success": true, "message": "ok"}}),
                )
            }
            "delete" => {
                let before = credentials.len();
                credentials.retain(|(_, i, _)| *i != id);
                if credentials.len() == before {
                    return envelope_error(StatusCode::NOT_FOUND, "NOT_FOUND");
                }
                json_answer(
                    StatusCode::OK,
                    json!({"json": {"success": true, "message": "ok"}}),
                )
            }
            _ => envelope_error(StatusCode::NOT_FOUND, "NOT_FOUND"),
        }
    }
}

impl Handler for FakeUpstream {
    /// Answers as [`FakeUpstream::answer`] does, with the request's `x-echo-header` given back
    /// in an `x-echoed` response header (as an upstream echoing a value in a header would).
    async fn call(&self, request: Request<Incoming>) -> Response<Body> {
        let echoed = request.headers().get("x-echo-header").cloned();
        let mut response = self.answer(request).await;
        if let Some(value) = echoed {
            response.headers_mut().insert("x-echoed", value);
        }
        response
    }
}

impl FakeUpstream {
    async fn answer(&self, request: Request<Incoming>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_owned();
        if path == "/v1/stream" {
            return self.streaming_answer();
        }
        let bytes = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        self.state.recorded.lock().push(Recorded {
            method: parts.method.to_string(),
            path_and_query: parts
                .uri
                .path_and_query()
                .map(|pq| pq.to_string())
                .unwrap_or_default(),
            headers: parts.headers.clone(),
            body: bytes.clone(),
        });
        let authorized = parts.headers.get("x-api-key").is_some_and(|key| {
            key == UPSTREAM_KEY
                || self
                    .state
                    .extra_keys
                    .lock()
                    .iter()
                    .any(|extra| key == extra.as_str())
        });
        if let Some(ms) = parts
            .headers
            .get("x-echo-delay-ms")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let input: Value = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("json").cloned())
            .unwrap_or(Value::Null);
        let route = path.trim_start_matches("/base");
        if route.starts_with("/v1/") && !authorized {
            return envelope_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        }
        match route {
            "/v1/credentials/get" => self.credentials_get(&input).await,
            "/v1/credentials/list" => self.credentials_list(),
            "/v1/credentials/create" => self.credential_write("create", &input),
            "/v1/credentials/update" => self.credential_write("update", &input),
            "/v1/credentials/upsert" => self.credential_write("upsert", &input),
            "/v1/credentials/delete" => self.credential_write("delete", &input),
            "/v1/jobs/create" | "/v1/schedules/create" | "/v1/schedules/update" => {
                if let Some(status) = parts
                    .headers
                    .get("x-echo-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u16>().ok())
                    .and_then(|v| StatusCode::from_u16(v).ok())
                {
                    return envelope_error(status, "ECHOED_STATUS");
                }
                let n = self.state.jobs.fetch_add(1, Ordering::SeqCst);
                json_answer(
                    StatusCode::OK,
                    json!({"json": {"success": true, "job_id": format!("job-{n}"), "status": "queued", "message": "ok"}}),
                )
            }
            _ => self.echo(&parts, &bytes),
        }
    }
}

impl FakeUpstream {
    /// Echoes the request as JSON, with the status asked for in `x-echo-status`, and answers
    /// with hop-by-hop headers the sidecar must strip.
    fn echo(&self, parts: &http::request::Parts, body: &Bytes) -> Response<Body> {
        let status = parts
            .headers
            .get("x-echo-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u16>().ok())
            .and_then(|v| StatusCode::from_u16(v).ok())
            .unwrap_or(StatusCode::OK);
        let headers: serde_json::Map<String, Value> = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                )
            })
            .collect();
        let mut response = json_answer(
            status,
            json!({
                "method": parts.method.as_str(),
                "path_and_query": parts.uri.path_and_query().map(|pq| pq.as_str()),
                "headers": headers,
                "body_len": body.len(),
                "body_sha": format!("{:x}", sha(body)),
            }),
        );
        let h = response.headers_mut();
        h.insert("connection", HeaderValue::from_static("x-upstream-private"));
        h.insert("x-upstream-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("proxy-authenticate", HeaderValue::from_static("Basic"));
        h.insert("x-upstream-kept", HeaderValue::from_static("1"));
        response
    }

    /// Sends `first`, then waits for [`FakeUpstream::release_stream`], then sends `second`.
    fn streaming_answer(&self) -> Response<Body> {
        let state = self.state.clone();
        let stream = futures_util::stream::unfold(0u8, move |step| {
            let state = state.clone();
            async move {
                match step {
                    0 => Some((
                        Ok::<_, libretto_sidecar::http::body::BoxError>(Frame::data(
                            Bytes::from_static(b"first;"),
                        )),
                        1,
                    )),
                    1 => {
                        state.release_stream.notified().await;
                        Some((Ok(Frame::data(Bytes::from_static(b"second"))), 2))
                    }
                    _ => None,
                }
            }
        });
        let mut response = Response::new(StreamBody::new(stream).boxed());
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("text/plain"));
        response
    }
}

/// A cheap content fingerprint (FNV-1a) to compare bodies without echoing them.
pub fn sha(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x100000001b3)
    })
}

fn json_answer(status: StatusCode, body: Value) -> Response<Body> {
    libretto_sidecar::http::envelope::json_response(status, &body)
}

fn envelope_error(status: StatusCode, code: &str) -> Response<Body> {
    json_answer(
        status,
        json!({"json": {"defined": false, "code": code, "status": status.as_u16(), "message": code}}),
    )
}

/// A closed local port: bound, then released.
pub async fn closed_port() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

//! Helpers for the mock's integration tests: start a real mock on `127.0.0.1:0`, poll a job
//! until it reaches a status, and redact ids and timestamps for snapshots.

use std::time::Duration;

use libretto_sidecar::cli::JobDuration;
use libretto_sidecar::http::server::{self, ServerOptions};
use libretto_sidecar::mock::{Mock, MockConfig};
use serde_json::{json, Value};

use super::http::{Answer, TestClient};

/// The API key of the demo fixtures' tenant.
pub const DEMO_KEY: &str = "demo-api-key";

/// The password of the demo fixtures' `portal-production` credential.
pub const DEMO_PASSWORD: &str = "demo-pa$$w0rd \"quoted\" ü";

/// How long a test waits for a job to reach a status.
pub const STATUS_DEADLINE: Duration = Duration::from_secs(5);

/// A running mock and a client for it. The server stops when the test's runtime ends.
pub struct MockServer {
    pub client: TestClient,
    pub mock: Mock,
    pub base: String,
}

/// Jobs start after 5ms and end 50ms later, so lifecycle tests take milliseconds.
pub fn fast_config() -> MockConfig {
    MockConfig {
        job_duration: JobDuration::After(Duration::from_millis(50)),
        start_delay: Duration::from_millis(5),
        ..MockConfig::default()
    }
}

/// Jobs start at once-ish and never end unless cancelled.
pub fn never_config() -> MockConfig {
    MockConfig {
        job_duration: JobDuration::Never,
        ..fast_config()
    }
}

pub async fn start(config: MockConfig) -> MockServer {
    let mock = Mock::new(config);
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::serve(
        listener,
        mock.clone(),
        ServerOptions::default(),
        std::future::pending::<()>(),
    ));
    MockServer {
        client: TestClient::new(base.clone()),
        mock,
        base,
    }
}

/// A mock preloaded with the demo fixtures.
pub async fn start_demo(config: MockConfig) -> MockServer {
    let server = start(config).await;
    server
        .mock
        .load_fixtures(libretto_sidecar::mock::DEMO_FIXTURES)
        .unwrap();
    server
}

/// Asserts a 200 and returns the unwrapped output.
pub fn ok(answer: &Answer) -> Value {
    assert_eq!(answer.status, 200, "unexpected answer: {}", answer.json);
    answer.json["json"].clone()
}

/// Asserts an error answer with this status and code, HTTP status equal to `json.status`.
pub fn error(answer: &Answer, status: u16, code: &str) -> Value {
    assert_eq!(
        answer.status.as_u16(),
        status,
        "unexpected answer: {}",
        answer.json
    );
    let body = &answer.json["json"];
    assert_eq!(body["code"], code, "unexpected answer: {}", answer.json);
    assert_eq!(body["status"], status);
    assert_eq!(body["defined"], false);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body.clone()
}

/// The issues of a 400 validation error.
pub fn issues(answer: &Answer) -> Value {
    let body = error(answer, 400, "BAD_REQUEST");
    assert_eq!(body["message"], "Input validation failed");
    body["data"]["issues"].clone()
}

pub async fn create_credential(server: &MockServer, key: &str, name: &str, value: Value) -> String {
    let answer = server
        .client
        .call(
            key,
            "credentials/create",
            json!({"name": name, "credentials": value}),
        )
        .await;
    ok(&answer)["credential_id"].as_str().unwrap().to_string()
}

pub async fn create_job(server: &MockServer, key: &str, input: Value) -> String {
    let answer = server.client.call(key, "jobs/create", input).await;
    ok(&answer)["job_id"].as_str().unwrap().to_string()
}

/// Polls `jobs/get` until the job has `status`; fails after [`STATUS_DEADLINE`].
pub async fn wait_for_status(server: &MockServer, key: &str, job_id: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + STATUS_DEADLINE;
    loop {
        let job = ok(&server
            .client
            .call(key, "jobs/get", json!({"id": job_id}))
            .await);
        if job["status"] == status {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {job_id} never reached {status}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn looks_like_uuid(text: &str) -> bool {
    text.len() == 36 && uuid::Uuid::try_parse(text).is_ok()
}

fn looks_like_timestamp(text: &str) -> bool {
    text.len() == 24 && text.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

/// Replaces UUIDs with `[uuid]` and timestamps with `[timestamp]`, also inside messages.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::String(text) if looks_like_uuid(text) => json!("[uuid]"),
        Value::String(text) if looks_like_timestamp(text) => json!("[timestamp]"),
        Value::String(text) => {
            let words: Vec<String> = text
                .split(' ')
                .map(|word| {
                    if looks_like_uuid(word) {
                        "[uuid]".to_string()
                    } else {
                        word.to_string()
                    }
                })
                .collect();
            Value::String(words.join(" "))
        }
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), redact(value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Status and redacted body, the shape every snapshot takes.
pub fn snapshot_of(answer: &Answer) -> Value {
    json!({"status": answer.status.as_u16(), "body": redact(&answer.json)})
}

/// Pretty JSON text of an answer for a snapshot. Snapshotted as text because the crate's
/// `serde_json` keeps numbers exact (`arbitrary_precision`), which insta's JSON serializer
/// would show as internal structs.
pub fn snapshot_text(answer: &Answer) -> String {
    serde_json::to_string_pretty(&snapshot_of(answer)).unwrap()
}

/// Snapshots an answer into the top-level `snapshots/` folder. insta takes the snapshot path
/// relative to the file that invokes the macro, so it is for test modules one directory below
/// `tests/` (`tests/<binary>/<module>.rs`).
#[macro_export]
macro_rules! snap {
    ($name:expr, $answer:expr) => {
        insta::with_settings!({snapshot_path => "../../snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!($name, $crate::support::mock::snapshot_text($answer));
        })
    };
}

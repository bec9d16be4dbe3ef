//! The `mock` subcommand as shipped: the built binary prints exactly one `listening on` line
//! to stdout and serves the API at that address, its flags reach the mock, and bad flags or
//! fixtures stop it at start-up with a message.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::support::binary::{self, command, listening_base, listening_line};
use crate::support::http::TestClient;

#[tokio::test]
async fn prints_one_listening_line_and_serves() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo.json");
    let mut child = command()
        .args(["mock", "--listen", "127.0.0.1:0", "--fixtures", fixtures])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let (base, mut stdout) = listening_line(&mut child).await;
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.ends_with(":0"), "a real port was chosen: {base}");

    let client = TestClient::new(base);
    let answer = client
        .call("demo-api-key", "credentials/get", json!({"name": "plain"}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["json"]["value"], "plain-secret-value");

    child.kill().await.unwrap();
    let mut rest = String::new();
    tokio::time::timeout(Duration::from_secs(5), stdout.read_to_string(&mut rest))
        .await
        .expect("stdout closes")
        .unwrap();
    assert_eq!(rest, "", "nothing but the listening line goes to stdout");
}

#[tokio::test]
async fn bad_fixtures_stop_start_up_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, r#"{"tenants": [{"api_key": "k", "typo": []}]}"#).unwrap();
    let stderr = refused_start(&["--fixtures", path.to_str().unwrap()]).await;
    assert!(stderr.contains("fixtures"), "{stderr}");
}

/// Starts the binary's mock with `args`; returns the child and a client for its address.
async fn spawn_mock(args: &[&str]) -> (tokio::process::Child, TestClient) {
    let mut child = command()
        .args(["mock", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let base = listening_base(&mut child).await;
    (child, TestClient::new(base))
}

/// Runs the binary's mock with `args`, expecting it to refuse to start; returns its stderr.
async fn refused_start(args: &[&str]) -> String {
    binary::refused_start(
        command()
            .args(["mock", "--listen", "127.0.0.1:0"])
            .args(args),
    )
    .await
}

#[tokio::test]
async fn max_body_and_never_ending_jobs_reach_the_mock() {
    let (mut child, client) = spawn_mock(&["--max-body", "1KiB", "--job-duration", "never"]).await;
    let key = "binary-key";
    let big = client
        .call(
            key,
            "credentials/create",
            json!({"name": "big", "credentials": {"blob": "x".repeat(2000)}}),
        )
        .await;
    assert_eq!(big.status, 413, "{}", big.json);
    assert_eq!(big.json["json"]["code"], "PAYLOAD_TOO_LARGE");
    let small = client
        .call(
            key,
            "credentials/create",
            json!({"name": "small", "credentials": {"blob": "x".repeat(500)}}),
        )
        .await;
    assert_eq!(small.status, 200, "{}", small.json);

    let created = client
        .call(key, "jobs/create", json!({"workflow": "w"}))
        .await;
    let job_id = created.json["json"]["job_id"].clone();
    // Longer than the default job duration (2s): a job still running has no end.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let job = client.call(key, "jobs/get", json!({"id": job_id})).await;
    assert_eq!(job.json["json"]["status"], "running", "{}", job.json);
    let cancelled = client.call(key, "jobs/cancel", json!({"id": job_id})).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.json);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn zero_max_jobs_is_refused() {
    let stderr = refused_start(&["--max-jobs", "0"]).await;
    assert!(stderr.contains("--max-jobs"), "{stderr}");
}

#[tokio::test]
async fn a_fixtures_key_listed_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twice.json");
    std::fs::write(
        &path,
        r#"{"tenants": [{"api_key": "k", "credentials": [{"name": "a", "value": 1}]},
                        {"api_key": "k", "credentials": [{"name": "a", "value": 2}]}]}"#,
    )
    .unwrap();
    let stderr = refused_start(&["--fixtures", path.to_str().unwrap()]).await;
    assert!(stderr.contains("same api_key"), "{stderr}");
}

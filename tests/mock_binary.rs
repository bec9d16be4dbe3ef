//! The `mock` subcommand as shipped: the built binary prints exactly one `listening on` line
//! to stdout and serves the API at that address.

mod common;

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn prints_one_listening_line_and_serves() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_libretto-sidecar"))
        .args(["mock", "--listen", "127.0.0.1:0", "--fixtures", fixtures])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(20), stdout.read_line(&mut line))
        .await
        .expect("the listening line arrives in time")
        .unwrap();
    let base = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.ends_with(":0"), "a real port was chosen: {base}");

    let client = common::TestClient::new(base);
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
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new(env!("CARGO_BIN_EXE_libretto-sidecar"))
            .args(["mock", "--listen", "127.0.0.1:0", "--fixtures"])
            .arg(&path)
            .output(),
    )
    .await
    .expect("the binary exits in time")
    .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("fixtures"), "{stderr}");
}

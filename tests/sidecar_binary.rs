//! The `serve` subcommand as shipped: without a key it stops at once with a message saying how
//! to provide one; with `--mock` it prints exactly one `listening on` line and fills a job's
//! placeholders from the demo credentials.

mod common;

use std::process::Stdio;
use std::time::Duration;

use http::Method;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

fn sidecar() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_libretto-sidecar"));
    for var in [
        "LIBRETTO_API_KEY",
        "LIBRETTO_API_KEY_FILE",
        "LIBRETTO_API_URL",
        "LIBRETTO_SIDECAR_MOCK",
    ] {
        command.env_remove(var);
    }
    command.kill_on_drop(true);
    command
}

#[tokio::test]
async fn serve_without_a_key_exits_with_a_message() {
    let stderr = common::refused_start(sidecar().args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "http://127.0.0.1:9",
    ]))
    .await;
    assert!(stderr.contains("LIBRETTO_API_KEY"), "{stderr}");
    assert!(stderr.contains("--api-key-file"), "{stderr}");
}

#[tokio::test]
async fn the_key_is_never_a_flag_value_in_help() {
    let output = sidecar()
        .args(["serve", "--help"])
        .env("LIBRETTO_API_KEY", "do-not-show-me")
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--api-key-file"));
    assert!(!help.contains("do-not-show-me"));
    assert!(!help.contains("--api-key "));
}

#[tokio::test]
async fn serve_mock_prints_one_line_and_fills_a_job() {
    let mut child = sidecar()
        .args([
            "serve",
            "--mock",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "{base}"
    );

    let client = common::TestClient::new(base);
    let body = json!({"json": {"workflow": "portal-login",
        "params": {"memberId": "12345",
                   "username": "{{credential:portal-production/username}}",
                   "password": "{{credential:portal-production/password}}"}}});
    let created = client
        .send(
            Method::POST,
            "/v1/jobs/create",
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.json);
    let job_id = created.json["json"]["job_id"].as_str().unwrap().to_owned();
    let job = client
        .send(
            Method::POST,
            "/v1/jobs/get",
            &[("content-type", "application/json")],
            json!({"json": {"id": job_id}}).to_string(),
        )
        .await;
    assert_eq!(job.status, 200, "{}", job.json);
    assert_eq!(job.json["json"]["workflow"], "portal-login");

    child.kill().await.unwrap();
    let mut rest = String::new();
    tokio::time::timeout(Duration::from_secs(5), stdout.read_to_string(&mut rest))
        .await
        .expect("stdout closes")
        .unwrap();
    assert_eq!(rest, "", "nothing but the listening line goes to stdout");
}

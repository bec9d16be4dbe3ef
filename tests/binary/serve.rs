//! The `serve` subcommand as shipped: without a key it stops at once with a message saying how
//! to provide one; with `--mock` it prints exactly one `listening on` line and fills a job's
//! placeholders from the demo credentials, warns that jobs go nowhere and says so on `/readyz`;
//! an upstream that is its own listen address stops the start; `--mock-job-duration` sets how
//! long the built-in mock's jobs run.

use std::process::Stdio;
use std::time::Duration;

use http::Method;
use serde_json::json;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::support::binary::{command, listening_line, refused_start, serve_mock, START_TIMEOUT};
use crate::support::http::{call, TestClient};
use crate::support::sidecar::portal_job;

#[tokio::test]
async fn serve_without_a_key_exits_with_a_message() {
    let stderr = refused_start(command().args([
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
    let output = command()
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
    let mut child = serve_mock(&[])
        .env("RUST_LOG", "info")
        .spawn()
        .expect("the binary starts");
    let (base, mut stdout) = listening_line(&mut child).await;
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "{base}"
    );

    let client = TestClient::new(base);
    let created = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(created.status, 200, "{}", created.json);
    let job_id = created.json["json"]["job_id"].as_str().unwrap().to_owned();
    let job = call(&client, "jobs/get", json!({"id": job_id})).await;
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

#[tokio::test]
async fn the_built_in_mocks_jobs_run_for_the_mock_job_duration() {
    let mut child = serve_mock(&["--mock-job-duration", "100ms"])
        .spawn()
        .expect("the binary starts");
    let (base, _stdout) = listening_line(&mut child).await;
    let client = TestClient::new(base);
    let created = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(created.status, 200, "{}", created.json);
    let job_id = created.json["json"]["job_id"].as_str().unwrap().to_owned();
    // Within 1 s, half the default 2 s, the job has completed.
    let mut status = Value::Null;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let job = call(&client, "jobs/get", json!({"id": job_id})).await;
        status = job.json["json"]["status"].clone();
        if status == "completed" {
            break;
        }
    }
    assert_eq!(status, "completed");
    child.kill().await.unwrap();

    let refused =
        refused_start(command().args(["serve", "--mock", "--mock-job-duration", "soon"])).await;
    assert!(refused.contains("--mock-job-duration"), "{refused}");
}

#[tokio::test]
async fn an_upstream_that_is_the_listen_address_is_refused_at_start() {
    // Refused before anything binds, so the port is never taken.
    for (listen, upstream) in [
        ("127.0.0.1:18787", "http://localhost:18787"),
        ("127.0.0.1:18787", "http://127.0.0.1:18787/"),
        ("0.0.0.0:18787", "http://localhost:18787/v1"),
        ("0.0.0.0:18787", "http://127.0.0.1:18787"),
    ] {
        let output = tokio::time::timeout(
            START_TIMEOUT,
            command()
                .args(["serve", "--allow-remote", "--listen", listen])
                .env("LIBRETTO_API_URL", upstream)
                .env("LIBRETTO_API_KEY", "k")
                .output(),
        )
        .await
        .expect("the binary exits in time")
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{listen} {upstream}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "nothing listened");
        assert!(stderr.contains("own listen address"), "{stderr}");
        assert!(stderr.contains("--upstream"), "{stderr}");
    }
}

#[tokio::test]
async fn serve_mock_warns_that_jobs_go_nowhere_and_readyz_says_mock() {
    let mut child = command()
        .args(["--log-format", "json", "serve", "--mock"])
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .env("LIBRETTO_SIDECAR_LEARN_CREDENTIALS", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let _base = listening_line(&mut child).await;
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    let (mut admin, mut warned) = (None, None);
    while admin.is_none() || warned.is_none() {
        let line = tokio::time::timeout_at(deadline, stderr.next_line())
            .await
            .expect("the start-up lines are logged")
            .unwrap()
            .expect("the process keeps running");
        let Ok(log) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if log["message"] == "Sidecar started" {
            admin = log["admin"].as_str().map(str::to_owned);
        } else if log["level"] == "WARN"
            && log["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Serving the built-in mock: jobs go nowhere"))
        {
            warned = Some(log);
        }
    }
    assert_eq!(warned.unwrap()["upstream"], "mock");
    let admin = TestClient::new(format!("http://{}", admin.unwrap()));
    let ready = admin.send(Method::GET, "/readyz", &[], "").await;
    assert_eq!(ready.status, 200, "{}", ready.json);
    assert_eq!(ready.json, json!({"status": "ready", "mock": true}));
    child.kill().await.unwrap();
}

//! The seed's JavaScript example, run with Node against the mock with the demo fixtures: only
//! the base URL differs from the documented flow, and the job it creates carries the demo
//! credential's username and password.

mod common;
mod mock_common;

use std::process::Stdio;
use std::time::Duration;

use mock_common::*;
use serde_json::json;
use tokio::process::Command;

#[tokio::test]
async fn the_seed_example_runs_against_the_mock() {
    let server = start_demo(never_config()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/seed.mjs");
    let child = Command::new("node")
        .arg(script)
        .env("LIBRETTO_API_URL", &server.base)
        .env("LIBRETTO_API_KEY", DEMO_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| {
            panic!("`node` (Node.js 20 or newer) must be on PATH to run the seed example: {err}")
        });
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the seed example finishes within 30s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the seed example failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );

    let job_id = stdout.trim();
    let job = ok(&server
        .client
        .call(DEMO_KEY, "jobs/get", json!({"id": job_id}))
        .await);
    assert_eq!(job["workflow"], "portal-login");
    assert_eq!(
        job["params"],
        json!({"memberId": "12345", "username": "demo-user", "password": "demo-pa$$w0rd \"quoted\" ü"})
    );
}

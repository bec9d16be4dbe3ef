//! The seed's flow rewritten for the sidecar, run with Node: the app sends placeholders and no
//! API key to a sidecar in front of the demo mock, and the job upstream holds the real values.

mod common;
mod mock_common;
mod sidecar_support;

use std::process::Stdio;
use std::time::Duration;

use libretto_sidecar::sidecar::UpstreamChoice;
use mock_common::{never_config, ok, start_demo, DEMO_KEY};
use serde_json::json;
use sidecar_support::{start_sidecar, Options};
use tokio::process::Command;

#[tokio::test]
async fn the_seed_flow_with_placeholders_runs_through_the_sidecar() {
    let mock = start_demo(never_config()).await;
    let sidecar = start_sidecar(
        UpstreamChoice::Url(mock.base.clone()),
        Options {
            key: DEMO_KEY,
            ..Options::default()
        },
    )
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/sidecar.mjs");
    let child = Command::new("node")
        .arg(script)
        .env("LIBRETTO_SIDECAR_URL", &sidecar.url)
        .env_remove("LIBRETTO_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| panic!("`node` (Node.js 20 or newer) must be on PATH: {err}"));
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the example finishes within 30s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the example failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );

    let job = ok(&mock
        .client
        .call(DEMO_KEY, "jobs/get", json!({"id": stdout.trim()}))
        .await);
    assert_eq!(job["workflow"], "portal-login");
    assert_eq!(
        job["params"],
        json!({"memberId": "12345", "username": "demo-user", "password": "demo-pa$$w0rd \"quoted\" ü"})
    );
}

//! The real `@orpc/client` (RPCLink, pinned in `tests/package.json`) over every route group of
//! the mock and through the sidecar: `tests/node/orpc_client.mjs`. The test installs the
//! pinned packages itself with `npm ci` when `tests/node_modules` is missing or older than
//! the lock file.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use super::{node, succeeds};
use crate::support::mock::{never_config, ok, start_demo, DEMO_KEY, DEMO_PASSWORD};
use crate::support::sidecar::{sidecar_for, Options};

/// Whether `tests/node_modules` was installed from the current `tests/package-lock.json`.
fn installed(tests: &Path) -> bool {
    let modified = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|meta| meta.modified())
            .ok()
    };
    match (
        modified(&tests.join("node_modules/.package-lock.json")),
        modified(&tests.join("package-lock.json")),
    ) {
        (Some(installed), Some(locked)) => installed >= locked,
        _ => false,
    }
}

/// Runs `npm ci` in `tests/` unless the pinned packages are already there.
async fn install_node_packages() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    if installed(&tests) {
        return;
    }
    let child = tokio::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(&tests)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| panic!("`npm` must be on PATH to install tests/package.json: {err}"));
    let output = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .expect("npm ci finishes within 180s")
        .unwrap();
    assert!(
        output.status.success(),
        "npm ci failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_real_orpc_client_speaks_to_the_mock_and_through_the_sidecar() {
    install_node_packages().await;
    let mock = start_demo(never_config()).await;
    let sidecar = sidecar_for(&mock, Options::default()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/orpc_client.mjs");
    let child = node(script)
        .env("LIBRETTO_API_URL", &mock.base)
        .env("LIBRETTO_API_KEY", DEMO_KEY)
        .env("LIBRETTO_SIDECAR_URL", &sidecar.url)
        .spawn()
        .unwrap_or_else(|err| panic!("`node` (Node.js 20 or newer) must be on PATH: {err}"));
    let stdout = succeeds(child, "the oRPC client script").await;
    let ids: Value = serde_json::from_str(stdout.trim()).unwrap();

    // The job the app sent through the sidecar holds the real values and the restored Date.
    let job = ok(&mock
        .client
        .call(DEMO_KEY, "jobs/get", json!({"id": ids["sidecar_job_id"]}))
        .await);
    assert_eq!(
        job["params"],
        json!({"username": "demo-user", "password": DEMO_PASSWORD,
               "since": "2026-05-17T01:15:26.670Z"})
    );
    let credential = ok(&mock
        .client
        .call(DEMO_KEY, "credentials/get", json!({"name": "orpc-portal"}))
        .await);
    assert_eq!(credential["id"], ids["credential_id"]);
    assert_eq!(credential["value"]["password"], "orpc-pass-2");
}

//! The seed's JavaScript example, run with Node against the mock with the demo fixtures: only
//! the base URL differs from the documented flow, and the job it creates carries the demo
//! credential's username and password.

use serde_json::json;

use super::{node, succeeds};
use crate::support::mock::*;

#[tokio::test]
async fn the_seed_example_runs_against_the_mock() {
    let server = start_demo(never_config()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/seed.mjs");
    let child = node(script)
        .env("LIBRETTO_API_URL", &server.base)
        .env("LIBRETTO_API_KEY", DEMO_KEY)
        .spawn()
        .unwrap_or_else(|err| {
            panic!("`node` (Node.js 20 or newer) must be on PATH to run the seed example: {err}")
        });
    let stdout = succeeds(child, "the seed example").await;

    let job_id = stdout.trim();
    let job = ok(&server
        .client
        .call(DEMO_KEY, "jobs/get", json!({"id": job_id}))
        .await);
    assert_eq!(job["workflow"], "portal-login");
    assert_eq!(
        job["params"],
        json!({"memberId": "12345", "username": "demo-user", "password": DEMO_PASSWORD})
    );
}

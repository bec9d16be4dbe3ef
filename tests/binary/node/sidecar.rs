//! The seed's flow rewritten for the sidecar, run with Node: the app sends placeholders and no
//! API key to a sidecar in front of the demo mock, and the job upstream holds the real values.

use serde_json::json;

use super::{node, succeeds};
use crate::support::mock::{never_config, ok, start_demo, DEMO_KEY, DEMO_PASSWORD};
use crate::support::sidecar::{sidecar_for, Options};

#[tokio::test]
async fn the_seed_flow_with_placeholders_runs_through_the_sidecar() {
    let mock = start_demo(never_config()).await;
    let sidecar = sidecar_for(&mock, Options::default()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/sidecar.mjs");
    let child = node(script)
        .env("LIBRETTO_SIDECAR_URL", &sidecar.url)
        .env_remove("LIBRETTO_API_KEY")
        .spawn()
        .unwrap_or_else(|err| panic!("`node` (Node.js 20 or newer) must be on PATH: {err}"));
    let stdout = succeeds(child, "the example").await;

    let job = ok(&mock
        .client
        .call(DEMO_KEY, "jobs/get", json!({"id": stdout.trim()}))
        .await);
    assert_eq!(job["workflow"], "portal-login");
    assert_eq!(
        job["params"],
        json!({"memberId": "12345", "username": "demo-user", "password": DEMO_PASSWORD})
    );
}

//! The docs' Node webhook receiver (`tests/node/receiver.mjs`, shown verbatim in docs/mock.md), run
//! against the mock: it verifies the signature of a `job.completed` and a `job.failed`
//! delivery and exits, and it refuses a delivery signed with another secret.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::node;
use crate::support::mock::*;

const KEY: &str = "node-receiver-key";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/receiver.mjs");

#[test]
fn the_mock_docs_show_the_receiver_verbatim() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/mock.md")).unwrap();
    let script = std::fs::read_to_string(SCRIPT).unwrap();
    assert!(
        readme.contains(&format!("```js\n{script}```")),
        "docs/mock.md's receiver snippet differs from tests/node/receiver.mjs"
    );
}

#[tokio::test]
async fn the_readme_receiver_verifies_the_mock_deliveries() {
    let server = start(fast_config()).await;
    let mut child = node(SCRIPT)
        .arg("0")
        .arg("2")
        .env("WEBHOOK_SECRET", "node-secret")
        .spawn()
        .unwrap_or_else(|err| {
            panic!("`node` (Node.js 20 or newer) must be on PATH to run the receiver: {err}")
        });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("the receiver starts within 10s")
        .unwrap()
        .unwrap();
    let base = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"));
    let url = format!("{base}/hook");

    // A wrong secret first: the receiver must refuse it (401), so the mock retries it.
    let wrong = ok(&server
        .client
        .call(
            KEY,
            "webhooks/create",
            json!({"url": url, "signing_secret": "not-the-secret", "active": true}),
        )
        .await);
    let refused = create_job(&server, KEY, json!({"workflow": "portal"})).await;
    let refused_line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("the receiver answers within 10s")
        .unwrap()
        .unwrap();
    assert_eq!(refused_line, "rejected job.completed");
    wait_for_status(&server, KEY, &refused, "completed").await;
    ok(&server
        .client
        .call(
            KEY,
            "webhooks/delete",
            json!({"id": wrong["webhook_endpoint_id"]}),
        )
        .await);

    ok(&server
        .client
        .call(
            KEY,
            "webhooks/create",
            json!({"url": url, "signing_secret": "node-secret"}),
        )
        .await);
    let completed = create_job(&server, KEY, json!({"workflow": "portal"})).await;
    wait_for_status(&server, KEY, &completed, "completed").await;
    let failed = create_job(&server, KEY, json!({"workflow": "fail-portal"})).await;

    let mut rest = Vec::new();
    let status = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            rest.push(line);
        }
        child.wait().await.unwrap()
    })
    .await
    .expect("the receiver exits after two verified events");
    assert!(status.success(), "receiver exited with {status}: {rest:?}");
    let mut verified: Vec<&String> = rest.iter().filter(|l| l.starts_with("verified")).collect();
    verified.sort();
    assert_eq!(
        verified,
        [
            &format!("verified job.completed {completed} completed"),
            &format!("verified job.failed {failed} failed"),
        ],
        "{rest:?}"
    );
}

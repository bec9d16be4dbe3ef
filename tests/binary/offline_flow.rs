//! The whole offline integration through the real binary, as docs/mock.md walks it: `serve --mock`,
//! register a webhook through the sidecar, launch a job with placeholders, receive and verify
//! the signed callback, then watch a schedule launch jobs.

use std::time::Duration;

use serde_json::json;
use tokio::process::Child;

use crate::support::binary::{listening_base, serve_mock};
use crate::support::http::{call, TestClient};
use crate::support::mock::ok;
use crate::support::webhook_receiver::{hmac_hex, Receiver};

const SIGNING_SECRET: &str = "offline-signing-secret";

/// `serve --mock` on a free port, killed when dropped.
struct Sidecar {
    child: Child,
    client: TestClient,
}

async fn start_sidecar() -> Sidecar {
    let mut child = serve_mock(&[]).spawn().expect("the binary starts");
    let base = listening_base(&mut child).await;
    Sidecar {
        child,
        client: TestClient::new(base),
    }
}

/// Polls `check` every 50ms until it yields a value, for at most `limit`.
async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    tokio::time::timeout(limit, async {
        loop {
            if let Some(found) = check().await {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the expected event happened in time")
}

#[tokio::test]
async fn webhook_callback_and_schedule_through_serve_mock() {
    let sidecar = start_sidecar().await;
    let receiver = Receiver::start(0).await;

    let registered = ok(&call(
        &sidecar.client,
        "webhooks/create",
        json!({"url": receiver.url, "signing_secret": SIGNING_SECRET, "description": "offline"}),
    )
    .await);
    assert_eq!(registered["success"], json!(true));

    let created = ok(&call(
        &sidecar.client,
        "jobs/create",
        json!({"workflow": "portal-login",
                   "params": {"memberId": "12345",
                              "username": "{{credential:portal-production/username}}",
                              "password": "{{credential:portal-production/password}}"}}),
    )
    .await);
    let job_id = created["job_id"].as_str().expect("job id").to_owned();

    // The default job takes about two seconds; the callback follows.
    let delivered = eventually(Duration::from_secs(15), || {
        let receiver = receiver.clone();
        async move { receiver.requests().into_iter().next() }
    })
    .await;
    assert_eq!(delivered.event, "job.completed");
    assert_eq!(
        delivered.signature,
        hmac_hex(SIGNING_SECRET, &delivered.body)
    );
    let payload = delivered.json();
    assert_eq!(payload["job_id"], json!(job_id));
    assert_eq!(payload["event"], json!("job.completed"));
    assert_eq!(payload["status"], json!("completed"));
    assert_eq!(payload["workflow"], json!("portal-login"));

    let schedule = ok(&call(
        &sidecar.client,
        "schedules/create",
        json!({"workflow": "scheduled-report", "params": {"region": "us"},
                   "cron_expr": "*/1 * * * * *"}),
    )
    .await);
    let schedule_id = schedule["schedule"]["id"]
        .as_str()
        .expect("schedule id")
        .to_owned();
    let launched = eventually(Duration::from_secs(10), || {
        let sidecar = &sidecar;
        async move {
            let jobs = ok(&call(&sidecar.client, "jobs/list", json!({"limit": 100})).await);
            jobs["jobs"]
                .as_array()
                .and_then(|jobs| {
                    jobs.iter()
                        .find(|job| job["workflow"] == json!("scheduled-report"))
                })
                .cloned()
        }
    })
    .await;
    assert!(launched["job_id"].is_string());
    let fired = ok(&call(&sidecar.client, "schedules/get", json!({"id": schedule_id})).await);
    assert!(fired["schedule"]["last_fire_at"].is_string(), "{fired}");
    let deleted = ok(&call(
        &sidecar.client,
        "schedules/delete",
        json!({"id": schedule_id}),
    )
    .await);
    assert_eq!(deleted["success"], json!(true));
    drop(sidecar.child);
}

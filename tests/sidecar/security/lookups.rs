//! The bounds on the sidecar's own lookups: a request naming too many credentials, or a name
//! longer than the upstream allows, is refused before any lookup; lookups run at most
//! `--max-concurrent-lookups` at once; retries stay within the shared budget; and a 429 or
//! 503 asking for a pause past the deadline is not retried.

use std::time::{Duration, Instant};

use libretto_sidecar::sidecar::upstream::LookupLimits;
use serde_json::{json, Map, Value};

use crate::support::http::{call, refused, TestClient};
use crate::support::sidecar::{fake_and_sidecar, Options};
use crate::support::upstream::LookupMode;

/// A job whose params name `count` credentials `{prefix}-0`, `{prefix}-1`, ...
fn job_naming(prefix: &str, count: usize) -> Value {
    let params: Map<String, Value> = (0..count)
        .map(|i| {
            (
                format!("p{i}"),
                json!(format!("{{{{credential:{prefix}-{i}}}}}")),
            )
        })
        .collect();
    json!({"workflow": "w", "params": params})
}

#[tokio::test]
async fn a_request_naming_too_many_credentials_is_refused_before_any_lookup() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    // The reported case: 20 000 credentials in one 758 KB body.
    let started = Instant::now();
    let answer = call(&client, "jobs/create", job_naming("c", 20_000)).await;
    let body = refused(&answer, 400, "TOO_MANY_CREDENTIALS");
    assert_eq!(body["data"]["limit"], 32);
    assert_eq!(body["data"]["found"], 20_000);
    assert!(started.elapsed() < Duration::from_secs(5));
    let answer = call(&client, "jobs/create", job_naming("c", 33)).await;
    refused(&answer, 400, "TOO_MANY_CREDENTIALS");
    assert_eq!(fake.lookups(), 0);
    assert!(fake.recorded_at("/v1/jobs/create").is_empty());
    // At the limit the job is resolved (here: none of the names exist).
    let answer = call(&client, "jobs/create", job_naming("c", 32)).await;
    refused(&answer, 422, "CREDENTIAL_NOT_FOUND");
    assert_eq!(fake.lookups(), 32);
}

#[tokio::test]
async fn a_name_longer_than_the_upstream_allows_is_refused_before_any_lookup() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let name = "n".repeat(201);
    let job = json!({"workflow": "w", "params": {"p": format!("{{{{credential:{name}}}}}")}});
    let answer = call(&client, "jobs/create", job).await;
    let body = refused(&answer, 400, "PLACEHOLDER_INVALID");
    assert_eq!(body["data"]["limit"], 200);
    assert_eq!(fake.lookups(), 0);
    let name = "n".repeat(200);
    let job = json!({"workflow": "w", "params": {"p": format!("{{{{credential:{name}}}}}")}});
    refused(
        &call(&client, "jobs/create", job).await,
        422,
        "CREDENTIAL_NOT_FOUND",
    );
    assert_eq!(fake.lookups(), 1);
}

#[tokio::test]
async fn lookups_run_at_most_the_configured_number_at_once() {
    let (fake, sidecar) = fake_and_sidecar(Options {
        lookups: LookupLimits {
            max_concurrent: 4,
            ..LookupLimits::default()
        },
        ..Options::default()
    })
    .await;
    fake.set_lookup_delay(Duration::from_millis(50));
    let client = TestClient::new(&sidecar.url);
    let mut tasks = Vec::new();
    for request in 0..4 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            call(
                &client,
                "jobs/create",
                job_naming(&format!("r{request}"), 32),
            )
            .await
        }));
    }
    for task in tasks {
        refused(&task.await.unwrap(), 422, "CREDENTIAL_NOT_FOUND");
    }
    assert_eq!(fake.lookups(), 128);
    let most = fake.most_concurrent_lookups();
    assert!((1..=4).contains(&most), "{most} lookups at once");
}

#[tokio::test]
async fn retries_of_failing_lookups_stay_within_the_budget() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    fake.set_mode(LookupMode::Fail500);
    let client = TestClient::new(&sidecar.url);
    let mut tasks = Vec::new();
    for request in 0..5 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            call(
                &client,
                "jobs/create",
                job_naming(&format!("r{request}"), 32),
            )
            .await
        }));
    }
    for task in tasks {
        refused(&task.await.unwrap(), 502, "UPSTREAM_ERROR");
    }
    // 160 first attempts; without a budget each would be tried 4 times (640 calls).
    let calls = fake.lookups();
    assert!(calls >= 160, "{calls}");
    assert!(calls <= 160 + 160 / 5 + 10, "{calls} calls for 160 lookups");
}

#[tokio::test]
async fn a_pause_asked_past_the_deadline_or_a_429_is_not_retried() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let job = json!({"workflow": "w", "params": {"p": "{{credential:portal-production}}"}});
    fake.set_mode(LookupMode::Unavailable);
    let started = Instant::now();
    let body = refused(
        &call(&client, "jobs/create", job.clone()).await,
        502,
        "UPSTREAM_ERROR",
    );
    assert_eq!(body["data"]["upstream_status"], 503);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.lookups(), 1);
    fake.set_mode(LookupMode::TooMany);
    let body = refused(
        &call(&client, "jobs/create", job).await,
        502,
        "UPSTREAM_ERROR",
    );
    assert_eq!(body["data"]["upstream_status"], 429);
    assert_eq!(fake.lookups(), 2);
}

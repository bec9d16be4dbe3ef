//! `jobs/create` through the sidecar against a counting fake upstream: one lookup for a cold
//! burst, the negative cache, invalidation by credential writes, schedules, every row of the
//! error table, and that a refused job is never forwarded.

use std::time::Duration;

use http::Method;
use serde_json::{json, Value};

use crate::support::http::{call, TestClient};
use crate::support::sidecar::{fake_and_sidecar, portal_job, start_sidecar, Options};
use crate::support::upstream::{
    closed_port, FakeUpstream, LookupMode, PORTAL_ID, PORTAL_PASSWORD as PASSWORD, UPSTREAM_KEY,
};

use libretto_sidecar::sidecar::UpstreamChoice;

/// The params of the `index`th job the fake received.
fn forwarded_params(fake: &FakeUpstream, index: usize) -> Value {
    let jobs = fake.recorded_at("/v1/jobs/create");
    let body: Value = serde_json::from_slice(&jobs[index].body).unwrap();
    body["json"]["params"].clone()
}

#[tokio::test]
async fn a_resolved_job_carries_values_ids_and_a_fixed_length() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let answer = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let jobs = fake.recorded_at("/v1/jobs/create");
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.headers["x-libretto-credential-ids"], PORTAL_ID);
    assert_eq!(
        job.headers["content-length"],
        job.body.len().to_string().as_str()
    );
    assert_eq!(job.headers["x-api-key"], UPSTREAM_KEY);
    assert_eq!(
        forwarded_params(&fake, 0),
        json!({"memberId": "12345", "username": "alice@example.com", "password": PASSWORD})
    );
    // The lookup carried the same request id the client got back.
    let lookup = &fake.recorded_at("/v1/credentials/get")[0];
    assert_eq!(
        lookup.headers["x-request-id"],
        answer.headers["x-request-id"]
    );
}

#[tokio::test]
async fn a_cold_burst_makes_exactly_one_lookup() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    // Keep the one lookup in flight long enough for every request to join it.
    fake.set_lookup_delay(Duration::from_millis(200));
    let client = TestClient::new(&sidecar.url);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            call(&client, "jobs/create", portal_job()).await.status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(fake.lookups(), 1);
    assert_eq!(fake.recorded_at("/v1/jobs/create").len(), 200);
    assert_eq!(forwarded_params(&fake, 199)["password"], PASSWORD);
}

#[tokio::test]
async fn unknown_names_are_negative_cached_until_created() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let job = json!({"workflow": "w", "params": {"k": "{{credential:later/key}}"}});
    for _ in 0..3 {
        let answer = call(&client, "jobs/create", job.clone()).await;
        assert_eq!(answer.status, 422);
        assert_eq!(answer.json["json"]["code"], "CREDENTIAL_NOT_FOUND");
        assert_eq!(answer.json["json"]["data"]["credential"], "later");
        assert_eq!(answer.json["json"]["data"]["path"], "/json/params/k");
    }
    assert_eq!(fake.lookups(), 1, "the miss is remembered");
    assert!(fake.recorded_at("/v1/jobs/create").is_empty());

    // Creating it through the sidecar drops the negative entry at once.
    let created = call(
        &client,
        "credentials/create",
        json!({"name": "later", "credentials": {"key": "k-1"}}),
    )
    .await;
    assert_eq!(created.status, 200);
    let answer = call(&client, "jobs/create", job).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(forwarded_params(&fake, 0), json!({"k": "k-1"}));
    assert_eq!(fake.lookups(), 2);
}

#[tokio::test]
async fn credential_writes_drop_cached_entries() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    assert_eq!(call(&client, "jobs/create", portal_job()).await.status, 200);
    assert_eq!(call(&client, "jobs/create", portal_job()).await.status, 200);
    assert_eq!(fake.lookups(), 1, "second job served from the cache");

    // Update by id: the next job sees the new password.
    let updated = call(
        &client,
        "credentials/update",
        json!({"id": PORTAL_ID, "credentials": {"password": "rotated"}}),
    )
    .await;
    assert_eq!(updated.status, 200);
    assert_eq!(call(&client, "jobs/create", portal_job()).await.status, 200);
    assert_eq!(fake.lookups(), 2);
    assert_eq!(forwarded_params(&fake, 2)["password"], "rotated");

    // Rename: the old name is gone, the new one resolves.
    let renamed = call(
        &client,
        "credentials/update",
        json!({"id": PORTAL_ID, "name": "portal-renamed"}),
    )
    .await;
    assert_eq!(renamed.status, 200);
    let old = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(old.json["json"]["code"], "CREDENTIAL_NOT_FOUND");
    let new = call(
        &client,
        "jobs/create",
        json!({"workflow": "w", "params": {"u": "{{credential:portal-renamed/username}}"}}),
    )
    .await;
    assert_eq!(new.status, 200);

    // Delete by id: the next job is refused.
    let deleted = call(&client, "credentials/delete", json!({"id": PORTAL_ID})).await;
    assert_eq!(deleted.status, 200);
    let gone = call(
        &client,
        "jobs/create",
        json!({"workflow": "w", "params": {"u": "{{credential:portal-renamed/username}}"}}),
    )
    .await;
    assert_eq!(gone.json["json"]["code"], "CREDENTIAL_NOT_FOUND");

    // A failed write drops nothing (the entry for the unknown id stays as it was).
    let lookups = fake.lookups();
    let failed = call(&client, "credentials/delete", json!({"id": "nope"})).await;
    assert_eq!(failed.status, 404);
    assert_eq!(fake.lookups(), lookups);
}

#[tokio::test]
async fn schedules_refuse_placeholders_unless_resolving_is_on() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let schedule = json!({"workflow": "w", "cron_expr": "0 * * * *",
                          "params": {"p": "{{credential:portal-production/password}}"}});
    let refused = call(&client, "schedules/create", schedule.clone()).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json["json"]["code"], "PLACEHOLDER_NOT_ALLOWED");
    assert_eq!(refused.json["json"]["defined"], true);
    assert!(refused.json["json"]["message"]
        .as_str()
        .unwrap()
        .contains("--resolve-schedules"));
    assert!(fake.recorded_at("/v1/schedules/create").is_empty());
    // Without placeholders a schedule passes.
    let plain = json!({"workflow": "w", "cron_expr": "0 * * * *", "params": {"p": 1}});
    assert_eq!(call(&client, "schedules/update", plain).await.status, 200);

    let (fake, sidecar) = fake_and_sidecar(Options {
        resolve_schedules: true,
        ..Options::default()
    })
    .await;
    let client = TestClient::new(&sidecar.url);
    assert_eq!(
        call(&client, "schedules/create", schedule).await.status,
        200
    );
    let saved: Value =
        serde_json::from_slice(&fake.recorded_at("/v1/schedules/create")[0].body).unwrap();
    assert_eq!(saved["json"]["params"]["p"], PASSWORD);
}

/// Sends `input` as a job and checks the refusal's status and code; nothing is forwarded.
async fn refused(
    client: &TestClient,
    fake: &FakeUpstream,
    input: Value,
    status: u16,
    code: &str,
) -> Value {
    let answer = call(client, "jobs/create", input).await;
    assert_eq!(answer.status, status, "{}", answer.json);
    assert_eq!(answer.json["json"]["code"], code);
    assert_eq!(answer.json["json"]["status"], status);
    assert_eq!(answer.json["json"]["defined"], true);
    assert!(
        !answer.bytes.windows(5).any(|w| w == b"s3cr\""),
        "no secret in an error"
    );
    assert!(
        fake.recorded_at("/v1/jobs/create").is_empty(),
        "never forwarded"
    );
    answer.json["json"]["data"].clone()
}

#[tokio::test]
async fn every_rewrite_error_is_answered_and_never_forwarded() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let data = refused(
        &client,
        &fake,
        json!({"workflow": "w", "params": {"a": "{{credential:}}"}}),
        400,
        "PLACEHOLDER_INVALID",
    )
    .await;
    assert_eq!(data["path"], "/json/params/a");
    let data = refused(
        &client,
        &fake,
        json!({"workflow": "{{credential:portal-production/password}}", "params": {}}),
        400,
        "PLACEHOLDER_NOT_ALLOWED",
    )
    .await;
    assert_eq!(data["path"], "/json/workflow");
    let data = refused(
        &client,
        &fake,
        json!({"workflow": "w", "params": {"a": "{{credential:portal-production/nope}}"}}),
        422,
        "CREDENTIAL_FIELD_NOT_FOUND",
    )
    .await;
    assert_eq!(
        data,
        json!({"path": "/json/params/a", "credential": "portal-production", "field": "nope"})
    );
    let data = refused(
        &client,
        &fake,
        json!({"workflow": "w", "params": {"a": "x {{credential:portal-production}}"}}),
        422,
        "CREDENTIAL_FIELD_NOT_TEXT",
    )
    .await;
    assert_eq!(data["credential"], "portal-production");
    refused(
        &client,
        &fake,
        json!({"workflow": "w", "params": {"a": "{{credential:ghost}}"}}),
        422,
        "CREDENTIAL_NOT_FOUND",
    )
    .await;

    // A body with `{{` that is not JSON.
    let answer = client
        .send(
            Method::POST,
            "/v1/jobs/create",
            &[("content-type", "application/json")],
            "{\"json\": {{credential:x}}",
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json["json"]["code"], "PLACEHOLDER_INVALID");
    assert!(fake.recorded_at("/v1/jobs/create").is_empty());
}

#[tokio::test]
async fn lookup_failures_are_502_or_504_naming_the_credential() {
    let options = Options {
        timeout: Duration::from_millis(300),
        ..Options::default()
    };
    let (fake, sidecar) = fake_and_sidecar(options.clone()).await;
    let client = TestClient::new(&sidecar.url);
    for (mode, reason) in [
        (LookupMode::Fail500, "status"),
        (LookupMode::Unauthorized, "status"),
        (LookupMode::Garbage, "unreadable"),
    ] {
        fake.set_mode(mode);
        let data = refused(&client, &fake, portal_job(), 502, "UPSTREAM_ERROR").await;
        assert_eq!(data["credential"], "portal-production", "{mode:?}");
        assert_eq!(data["reason"], reason, "{mode:?}");
    }
    fake.set_mode(LookupMode::Hang);
    let data = refused(&client, &fake, portal_job(), 504, "UPSTREAM_TIMEOUT").await;
    assert_eq!(data["credential"], "portal-production");

    // Failures are not cached: the upstream recovers, the job goes through.
    fake.set_mode(LookupMode::Normal);
    assert_eq!(call(&client, "jobs/create", portal_job()).await.status, 200);

    // Upstream down.
    let dead = closed_port().await;
    let sidecar = start_sidecar(UpstreamChoice::Url(format!("http://{dead}")), options).await;
    let answer = call(&TestClient::new(&sidecar.url), "jobs/create", portal_job()).await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.json["json"]["data"]["reason"], "unreachable");
    assert_eq!(
        answer.json["json"]["data"]["credential"],
        "portal-production"
    );
}

#[tokio::test]
async fn the_rpc_meta_survives_the_rewrite() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let mut job = portal_job();
    job["params"]["since"] = json!("2026-05-17T01:15:26.670Z");
    job["params"]["ids"] = json!(["1", null]);
    let meta = json!([
        [1, "params", "since"],
        [0, "params", "ids", 0],
        [3, "params", "ids", 1]
    ]);
    let body = json!({"json": job, "meta": meta}).to_string();
    let answer = client
        .send(
            Method::POST,
            "/v1/jobs/create",
            &[("content-type", "application/json")],
            body,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let jobs = fake.recorded_at("/v1/jobs/create");
    let forwarded: Value = serde_json::from_slice(&jobs[0].body).unwrap();
    assert_eq!(forwarded["meta"], meta);
    assert_eq!(
        forwarded["json"]["params"]["since"],
        "2026-05-17T01:15:26.670Z"
    );
    assert_eq!(forwarded["json"]["params"]["ids"], json!(["1", null]));
    assert_eq!(forwarded["json"]["params"]["password"], PASSWORD);
}

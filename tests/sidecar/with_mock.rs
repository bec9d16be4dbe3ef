//! The sidecar in front of the mock, over real HTTP: the quickstart flow (the job upstream
//! holds the real values, the app never held them), typed values and interpolation, the
//! delete guard end to end, and `UpstreamChoice::Mock` starting the mock in process.

use serde_json::json;

use crate::support::http::{call, TestClient};
use crate::support::mock::{never_config, ok, DEMO_KEY, DEMO_PASSWORD as PASSWORD};
use crate::support::sidecar::{mock_and_sidecar, start_sidecar, Options};

use libretto_sidecar::sidecar::UpstreamChoice;

#[tokio::test]
async fn quickstart_job_upstream_holds_the_real_values() {
    let (mock, sidecar) = mock_and_sidecar(never_config(), Options::default()).await;
    let created = ok(&call(
        &sidecar,
        "jobs/create",
        json!({"workflow": "portal-login",
               "params": {"memberId": "12345",
                          "username": "{{credential:portal-production/username}}",
                          "password": "{{ credential:portal-production/password }}"}}),
    )
    .await);
    let job_id = created["job_id"].as_str().unwrap();
    let job = ok(&mock
        .client
        .call(DEMO_KEY, "jobs/get", json!({"id": job_id}))
        .await);
    assert_eq!(
        job["params"],
        json!({"memberId": "12345", "username": "demo-user", "password": PASSWORD})
    );
}

#[tokio::test]
async fn values_keep_their_type_and_interpolate_as_text() {
    let (mock, sidecar) = mock_and_sidecar(never_config(), Options::default()).await;
    let created = ok(&call(
        &sidecar,
        "jobs/create",
        json!({"workflow": "w", "timeout_seconds": 60,
               "params": {"auth": "Bearer {{credential:api/token}}",
                          "port": "{{credential:api/port}}",
                          "url": "https://h:{{credential:api/port}}/x",
                          "oauth": "{{credential:api/oauth}}",
                          "scope": "{{credential:api/oauth/scopes/1}}",
                          "nested": [{"plain": "{{credential:plain}}"}, 1.50],
                          "literal": "{{!credential:plain}}"}}),
    )
    .await);
    let job = ok(&mock
        .client
        .call(DEMO_KEY, "jobs/get", json!({"id": created["job_id"]}))
        .await);
    assert_eq!(
        job["params"],
        json!({"auth": "Bearer demo-token-123",
               "port": 8443,
               "url": "https://h:8443/x",
               "oauth": {"client_id": "demo-client", "scopes": ["read", "write"]},
               "scope": "write",
               "nested": [{"plain": "plain-secret-value"}, 1.50],
               "literal": "{{credential:plain}}"})
    );
}

#[tokio::test]
async fn a_job_launched_through_the_sidecar_blocks_deleting_its_credential() {
    let (mock, sidecar) = mock_and_sidecar(never_config(), Options::default()).await;
    ok(&call(
        &sidecar,
        "jobs/create",
        json!({"workflow": "w", "params": {"p": "{{credential:portal-production/password}}"}}),
    )
    .await);
    let list = ok(&call(&sidecar, "credentials/list", json!({})).await);
    let id = list["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "portal-production")
        .unwrap()["credential_id"]
        .clone();
    let refused = call(&sidecar, "credentials/delete", json!({"id": id})).await;
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert_eq!(
        refused.json["json"]["data"]["job_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The credential not referenced by a job can be deleted through the sidecar.
    let plain_id = list["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "plain")
        .unwrap()["credential_id"]
        .clone();
    ok(&call(&sidecar, "credentials/delete", json!({"id": plain_id})).await);
    let gone = call(
        &sidecar,
        "jobs/create",
        json!({"workflow": "w", "params": {"p": "{{credential:plain}}"}}),
    )
    .await;
    assert_eq!(gone.status, 422);
    assert_eq!(gone.json["json"]["code"], "CREDENTIAL_NOT_FOUND");
    drop(mock);
}

#[tokio::test]
async fn the_built_in_mock_is_started_in_process() {
    let sidecar = start_sidecar(UpstreamChoice::Mock, Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let created = ok(&call(
        &client,
        "jobs/create",
        json!({"workflow": "portal-login",
               "params": {"password": "{{credential:portal-production/password}}"}}),
    )
    .await);
    let job = ok(&call(&client, "jobs/get", json!({"id": created["job_id"]})).await);
    // The echo through the sidecar shows what the app sent, never the value filled in.
    assert_eq!(
        job["params"],
        json!({"password": "{{credential:portal-production/password}}"})
    );
    assert!(!job.to_string().contains("demo-pa$$w0rd"));
}

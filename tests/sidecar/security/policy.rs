//! The policy (TOML and JSON) allows and denies before any lookup, and under a policy renames,
//! jobs by credential id and schedules moved to another workflow are refused.

use std::sync::Arc;

use libretto_sidecar::sidecar::guard::policy::Policy;
use libretto_sidecar::sidecar::guard::Guard;
use serde_json::json;

use super::credential_id;
use crate::support::http::{call, refused, TestClient};
use crate::support::mock::{fast_config, ok, start_demo, DEMO_KEY};
use crate::support::sidecar::{fake_and_sidecar, sidecar_for, Options};

fn policy_file(dir: &tempfile::TempDir, name: &str, text: &str) -> Arc<Policy> {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    Arc::new(Policy::load(&path).unwrap())
}

#[tokio::test]
async fn the_policy_allows_and_denies_before_any_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let toml = policy_file(
        &dir,
        "policy.toml",
        "[[rules]]\nworkflows = [\"portal-*\"]\ncredentials = [\"portal-production\"]\n",
    );
    let json_policy = policy_file(
        &dir,
        "policy.json",
        r#"{"rules": [{"workflows": ["portal-*"], "credentials": ["portal-*"]}]}"#,
    );
    for policy in [toml, json_policy] {
        let (fake, sidecar) = fake_and_sidecar(Options {
            guard: Guard {
                policy: Some(policy),
                ..Guard::default()
            },
            ..Options::default()
        })
        .await;
        let client = TestClient::new(&sidecar.url);
        let job = |workflow: &str| {
            json!({"workflow": workflow,
                   "params": {"password": "{{credential:portal-production/password}}"}})
        };
        ok(&call(&client, "jobs/create", job("portal-login")).await);
        assert_eq!(fake.lookups(), 1);

        let denied = call(&client, "jobs/create", job("exfiltrate")).await;
        let body = refused(&denied, 403, "CREDENTIAL_NOT_ALLOWED");
        assert_eq!(body["defined"], true);
        assert_eq!(
            body["data"],
            json!({"path": "/json/params/password", "credential": "portal-production",
                   "workflow": "exfiltrate"})
        );
        assert_eq!(fake.lookups(), 1, "a refused job fetches nothing");
        assert_eq!(
            fake.recorded_at("/v1/jobs/create").len(),
            1,
            "a refused job is never forwarded"
        );
    }
}

fn policy(dir: &tempfile::TempDir) -> Arc<Policy> {
    let path = dir.path().join("policy.toml");
    std::fs::write(
        &path,
        "[[rules]]\nworkflows = [\"echo-exfil\"]\ncredentials = [\"api\"]\n\
         [[rules]]\nworkflows = [\"portal-*\"]\ncredentials = [\"portal-production\"]\n",
    )
    .unwrap();
    Arc::new(Policy::load(&path).unwrap())
}

#[tokio::test]
async fn under_a_policy_renames_and_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_demo(fast_config()).await;
    let running = sidecar_for(
        &mock,
        Options {
            guard: Guard {
                policy: Some(policy(&dir)),
                ..Guard::default()
            },
            resolve_schedules: true,
            ..Options::default()
        },
    )
    .await;
    let sidecar = TestClient::new(&running.url);
    let listed = ok(&call(&sidecar, "credentials/list", json!({})).await);
    let api = credential_id(&listed, "api");
    let portal = credential_id(&listed, "portal-production");
    for (id, name) in [(&api, "api-old"), (&portal, "api")] {
        let renamed = call(
            &sidecar,
            "credentials/update",
            json!({"id": id, "name": name}),
        )
        .await;
        let body = refused(&renamed, 403, "POLICY_REFUSED");
        assert_eq!(body["defined"], true);
        assert!(body["message"].as_str().unwrap().contains("Renaming"));
    }
    let direct = ok(&mock
        .client
        .call(DEMO_KEY, "credentials/list", json!({}))
        .await);
    assert_eq!(credential_id(&direct, "api"), api, "nothing was renamed");
    // A value update without a rename passes.
    ok(&call(
        &sidecar,
        "credentials/update",
        json!({"id": api, "credentials": {"x": "y"}}),
    )
    .await);

    let by_id = call(
        &sidecar,
        "jobs/create",
        json!({"workflow": "echo-exfil", "params": {}, "credential_id": portal}),
    )
    .await;
    refused(&by_id, 403, "POLICY_REFUSED");

    let schedule = ok(&call(
        &sidecar,
        "schedules/create",
        json!({"workflow": "portal-login", "cron_expr": "0 * * * *",
               "params": {"p": "{{credential:portal-production/password}}"}}),
    )
    .await);
    let schedule_id = schedule["schedule"]["id"].as_str().unwrap().to_owned();
    let moved = call(
        &sidecar,
        "schedules/update",
        json!({"id": schedule_id, "workflow": "echo-exfil"}),
    )
    .await;
    refused(&moved, 403, "POLICY_REFUSED");
}

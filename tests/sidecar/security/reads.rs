//! Credential reads are refused (a disguised path too), other credential routes pass, and with
//! the flag reads pass unscrubbed.

use http::Method;
use libretto_sidecar::sidecar::guard::Guard;
use serde_json::json;

use super::{fast_mock_and_sidecar, holds_no_secret, portal_job_as, PASSWORD};
use crate::support::http::{call, refused};
use crate::support::mock::ok;

#[tokio::test]
async fn credential_reads_are_refused_and_other_credential_routes_pass() {
    let (_mock, sidecar) = fast_mock_and_sidecar(Guard::default()).await;
    let read = call(
        &sidecar,
        "credentials/get",
        json!({"name": "portal-production"}),
    )
    .await;
    let body = refused(&read, 403, "CREDENTIAL_READ_FORBIDDEN");
    assert_eq!(body["defined"], true);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("--allow-credential-reads"));
    holds_no_secret(&read.json.to_string());
    // A canonical spelling in other letter case is the same read; a disguised path is refused
    // as non-canonical. Neither gives the value.
    let shouted = sidecar
        .send(
            Method::POST,
            "/V1/Credentials/GET",
            &[("content-type", "application/json")],
            r#"{"json":{"name":"portal-production"}}"#,
        )
        .await;
    refused(&shouted, 403, "CREDENTIAL_READ_FORBIDDEN");
    holds_no_secret(&shouted.json.to_string());
    for path in [
        "/v1/credentials/g%65t",
        "//v1/credentials/./get",
        "/v1/credentials\\get",
        "/v1/credentials/get.",
    ] {
        let sneaky = sidecar
            .send(
                Method::POST,
                path,
                &[("content-type", "application/json")],
                r#"{"json":{"name":"portal-production"}}"#,
            )
            .await;
        refused(&sneaky, 400, "BAD_REQUEST");
        holds_no_secret(&String::from_utf8_lossy(&sneaky.bytes));
    }

    let listed = ok(&call(&sidecar, "credentials/list", json!({})).await);
    assert!(listed.to_string().contains("portal-production"));
    ok(&call(
        &sidecar,
        "credentials/create",
        json!({"name": "app-user-1", "credentials": {"password": "user-chosen-pass"}}),
    )
    .await);
    ok(&call(
        &sidecar,
        "credentials/upsert",
        json!({"name": "app-user-1", "value": {"password": "user-chosen-pass-2"}}),
    )
    .await);
}

#[tokio::test]
async fn reads_pass_unscrubbed_with_the_flag() {
    let guard = Guard {
        allow_credential_reads: true,
        ..Guard::default()
    };
    let (_mock, sidecar) = fast_mock_and_sidecar(guard).await;
    // Teach the sidecar the value first, so a scrub would show.
    ok(&call(&sidecar, "jobs/create", portal_job_as("portal-login")).await);
    let read = ok(&call(
        &sidecar,
        "credentials/get",
        json!({"name": "portal-production"}),
    )
    .await);
    assert_eq!(read["value"]["password"], PASSWORD);
}

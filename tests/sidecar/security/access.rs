//! Who may drive the sidecar: the client token is required and never forwarded, relayed
//! requests are refused unless allowed, and browser pages and DNS-rebound names are refused.

use http::Method;
use libretto_sidecar::sidecar::guard::access::ClientToken;
use libretto_sidecar::sidecar::guard::Guard;
use serde_json::json;

use crate::support::http::{call, call_with, refused, TestClient};
use crate::support::sidecar::{fake_and_sidecar, Options};

#[tokio::test]
async fn the_client_token_is_required_and_never_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "client-token-1\n").unwrap();
    let token = ClientToken::from_file(&path).unwrap();
    let (fake, sidecar) = fake_and_sidecar(Options {
        guard: Guard {
            token: token.clone(),
            ..Guard::default()
        },
        ..Options::default()
    })
    .await;
    let client = TestClient::new(&sidecar.url);
    let missing = call(&client, "jobs/list", json!({})).await;
    refused(&missing, 401, "UNAUTHORIZED");
    let wrong = call_with(
        &client,
        "jobs/list",
        &[("x-sidecar-token", "nope")],
        json!({}),
    )
    .await;
    refused(&wrong, 401, "UNAUTHORIZED");
    assert!(fake.recorded().is_empty(), "refused requests reach nobody");

    let right = call_with(
        &client,
        "jobs/list",
        &[("x-sidecar-token", "client-token-1")],
        json!({}),
    )
    .await;
    assert_eq!(right.status, 200, "{}", right.json);
    let recorded = fake.recorded_at("/v1/jobs/list");
    assert_eq!(recorded.len(), 1);
    assert!(!recorded[0].headers.contains_key("x-sidecar-token"));

    std::fs::write(&path, "client-token-2").unwrap();
    token.reload().unwrap();
    let old = call_with(
        &client,
        "jobs/list",
        &[("x-sidecar-token", "client-token-1")],
        json!({}),
    )
    .await;
    refused(&old, 401, "UNAUTHORIZED");
    let new = call_with(
        &client,
        "jobs/list",
        &[("x-sidecar-token", "client-token-2")],
        json!({}),
    )
    .await;
    assert_eq!(new.status, 200);
}

#[tokio::test]
async fn relayed_requests_are_refused_unless_allowed() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    for header in ["x-forwarded-for", "forwarded"] {
        let relayed = call_with(&client, "jobs/list", &[(header, "for=10.0.0.9")], json!({})).await;
        let body = refused(&relayed, 403, "FORBIDDEN");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("--allow-forwarded"));
    }
    assert!(fake.recorded().is_empty());

    let (_fake, sidecar) = fake_and_sidecar(Options {
        guard: Guard {
            allow_forwarded: true,
            ..Guard::default()
        },
        ..Options::default()
    })
    .await;
    let relayed = call_with(
        &TestClient::new(&sidecar.url),
        "jobs/list",
        &[("x-forwarded-for", "10.0.0.9")],
        json!({}),
    )
    .await;
    assert_eq!(relayed.status, 200);
}

#[tokio::test]
async fn browser_pages_and_rebound_names_are_refused() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let body =
        r#"{"json":{"workflow":"w","params":{"p":"{{credential:portal-production/password}}"}}}"#;
    let port = sidecar.addr.port();
    let rebound = format!("rebind.evil:{port}");
    for headers in [
        vec![("content-type", "text/plain"), ("origin", "http://evil")],
        vec![
            ("content-type", "application/json"),
            ("origin", "http://evil"),
        ],
        vec![
            ("content-type", "application/json"),
            ("sec-fetch-site", "cross-site"),
        ],
        vec![
            ("content-type", "application/json"),
            ("host", rebound.as_str()),
        ],
    ] {
        let answer = client
            .send(Method::POST, "/v1/jobs/create", &headers, body)
            .await;
        refused(&answer, 403, "FORBIDDEN");
    }
    // A cross-site "simple" POST without an Origin still never gets through: its type is refused.
    let simple = client
        .send(
            Method::POST,
            "/v1/jobs/create",
            &[("content-type", "text/plain")],
            body,
        )
        .await;
    refused(&simple, 415, "UNSUPPORTED_MEDIA_TYPE");
    assert!(fake.recorded().is_empty(), "nothing reached upstream");
    assert_eq!(fake.lookups(), 0);
    let fine = client
        .send(
            Method::POST,
            "/v1/jobs/list",
            &[
                ("content-type", "application/json"),
                ("host", &format!("localhost:{port}")),
            ],
            "{}",
        )
        .await;
    assert_eq!(fine.status, 200);
}

//! The sidecar's security layer over real HTTP: credential reads refused (and allowed with the
//! flag), the policy (TOML and JSON), job echoes shown with the app's placeholders while the
//! mock holds the values, log lines scrubbed, the client token, relayed requests, oversized
//! heads and bodies, the connection cap, and answers too large to check.

mod common;
mod mock_common;
mod sidecar_support;

use std::sync::Arc;
use std::time::Duration;

use common::{Answer, TestClient};
use http::Method;
use libretto_sidecar::http::server::{self, ServerOptions};
use libretto_sidecar::secret::Secret;
use libretto_sidecar::sidecar::answer::Answers;
use libretto_sidecar::sidecar::credentials::cache::{CacheConfig, CredentialCache};
use libretto_sidecar::sidecar::guard::access::ClientToken;
use libretto_sidecar::sidecar::guard::policy::Policy;
use libretto_sidecar::sidecar::guard::Guard;
use libretto_sidecar::sidecar::metrics::Metrics;
use libretto_sidecar::sidecar::proxy::{Proxy, ProxyConfig};
use libretto_sidecar::sidecar::upstream::{Upstream, UpstreamConfig};
use libretto_sidecar::sidecar::UpstreamChoice;
use mock_common::{fast_config, ok, start_demo, wait_for_status, MockServer, DEMO_KEY};
use serde_json::{json, Value};
use sidecar_support::{fake_and_sidecar, start_sidecar, FakeUpstream, Options, UPSTREAM_KEY};

const USERNAME: &str = "demo-user";
const PASSWORD: &str = "demo-pa$$w0rd \"quoted\" ü";
const TOKEN: &str = "demo-token-123";

/// A demo mock whose jobs finish within milliseconds, and a sidecar in front of it.
async fn mock_and_sidecar(guard: Guard) -> (MockServer, TestClient) {
    let mock = start_demo(fast_config()).await;
    let sidecar = start_sidecar(
        UpstreamChoice::Url(mock.base.clone()),
        Options {
            key: DEMO_KEY,
            guard,
            ..Options::default()
        },
    )
    .await;
    (mock, TestClient::new(sidecar.url))
}

/// POSTs `{"json": input}` without an API key, as an app would, with extra headers.
async fn call_with(
    client: &TestClient,
    route: &str,
    headers: &[(&str, &str)],
    input: Value,
) -> Answer {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    let body = serde_json::to_vec(&json!({ "json": input })).unwrap();
    client
        .send(Method::POST, &format!("/v1/{route}"), &all, body)
        .await
}

async fn call(client: &TestClient, route: &str, input: Value) -> Answer {
    call_with(client, route, &[], input).await
}

/// Asserts a sidecar refusal: status, code, `defined: true`.
fn refused(answer: &Answer, status: u16, code: &str) -> Value {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.json);
    let body = answer.json["json"].clone();
    assert_eq!(body["code"], code, "{}", answer.json);
    assert_eq!(body["status"], status);
    body
}

fn portal_job(workflow: &str) -> Value {
    json!({"workflow": workflow,
           "params": {"memberId": "12345",
                      "username": "{{credential:portal-production/username}}",
                      "password": "{{credential:portal-production/password}}",
                      "auth": "Bearer {{credential:api/token}}"}})
}

fn holds_no_secret(text: &str) {
    for secret in [USERNAME, "demo-pa$$w0rd", TOKEN, DEMO_KEY] {
        assert!(!text.contains(secret), "`{secret}` leaked in {text}");
    }
}

#[tokio::test]
async fn credential_reads_are_refused_and_other_credential_routes_pass() {
    let (_mock, sidecar) = mock_and_sidecar(Guard::default()).await;
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
    // A disguised path is the same read.
    let sneaky = sidecar
        .send(
            Method::POST,
            "/v1/credentials/g%65t",
            &[("content-type", "application/json")],
            r#"{"json":{"name":"portal-production"}}"#,
        )
        .await;
    refused(&sneaky, 403, "CREDENTIAL_READ_FORBIDDEN");

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
    let (_mock, sidecar) = mock_and_sidecar(guard).await;
    // Teach the sidecar the value first, so a scrub would show.
    ok(&call(&sidecar, "jobs/create", portal_job("portal-login")).await);
    let read = ok(&call(
        &sidecar,
        "credentials/get",
        json!({"name": "portal-production"}),
    )
    .await);
    assert_eq!(read["value"]["password"], PASSWORD);
}

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

/// Polls `logs/list` on `client` until a line of `job_id` starts with "Workflow input".
async fn input_line(client: &TestClient, key: Option<&str>, job_id: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = match key {
            Some(key) => {
                client
                    .call(key, "logs/list", json!({"jobId": job_id}))
                    .await
            }
            None => call(client, "logs/list", json!({"jobId": job_id})).await,
        };
        let logs = ok(&answer)["logs"].clone();
        let line = logs.as_array().unwrap().iter().find_map(|line| {
            line["message"]
                .as_str()
                .filter(|m| m.starts_with("Workflow input"))
                .map(str::to_owned)
        });
        if let Some(line) = line {
            return line;
        }
        assert!(tokio::time::Instant::now() < deadline, "no input line");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn echoes_show_placeholders_while_the_mock_holds_the_values() {
    let (mock, sidecar) = mock_and_sidecar(Guard::default()).await;
    let created = ok(&call(&sidecar, "jobs/create", portal_job("fail-login")).await);
    let job_id = created["job_id"].as_str().unwrap().to_owned();
    wait_for_status(&mock, DEMO_KEY, &job_id, "failed").await;

    let expected = portal_job("fail-login")["params"].clone();
    let through = ok(&call(&sidecar, "jobs/get", json!({"id": job_id})).await);
    assert_eq!(through["params"], expected);
    let report = ok(&call(&sidecar, "jobs/debugReport", json!({"id": job_id})).await);
    assert_eq!(report["job_params"], expected);
    holds_no_secret(&through.to_string());
    holds_no_secret(&report.to_string());

    let direct = ok(&mock
        .client
        .call(DEMO_KEY, "jobs/get", json!({"id": job_id}))
        .await);
    assert_eq!(direct["params"]["password"], PASSWORD);
    assert_eq!(direct["params"]["auth"], format!("Bearer {TOKEN}"));
    let direct = ok(&mock
        .client
        .call(DEMO_KEY, "jobs/debugReport", json!({"id": job_id}))
        .await);
    assert_eq!(direct["job_params"]["username"], USERNAME);
}

#[tokio::test]
async fn a_logged_secret_comes_back_redacted() {
    let (mock, sidecar) = mock_and_sidecar(Guard::default()).await;
    let created = ok(&call(&sidecar, "jobs/create", portal_job("echo-login")).await);
    let job_id = created["job_id"].as_str().unwrap().to_owned();

    let direct = input_line(&mock.client, Some(DEMO_KEY), &job_id).await;
    assert!(direct.contains(TOKEN), "{direct}");
    assert!(direct.contains(r#"demo-pa$$w0rd \"quoted\" ü"#), "{direct}");

    let through = input_line(&sidecar, None, &job_id).await;
    holds_no_secret(&through);
    assert!(through.contains(r#""password":"[redacted]""#), "{through}");
    assert!(
        through.contains(r#""auth":"Bearer [redacted]""#),
        "{through}"
    );
    assert!(through.contains(r#""memberId":"12345""#), "{through}");
}

#[tokio::test]
async fn error_answers_never_carry_a_secret() {
    let (_mock, sidecar) = mock_and_sidecar(Guard::default()).await;
    for params in [
        json!({"p": "{{credential:portal-production/nope}}"}),
        json!({"p": "x {{credential:api/oauth}}"}),
        json!({"p": "{{credential:missing}}"}),
        json!({"p": "{{credential:portal-production/password}}", "q": "{{credential:"}),
    ] {
        let answer = call(
            &sidecar,
            "jobs/create",
            json!({"workflow": "w", "params": params}),
        )
        .await;
        assert!(answer.status.is_client_error(), "{}", answer.json);
        assert_eq!(answer.json["json"]["defined"], true);
        holds_no_secret(&String::from_utf8_lossy(&answer.bytes));
        assert!(!answer.bytes.windows(11).any(|w| w == b"demo-client"));
    }
}

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
async fn oversized_heads_and_bodies_are_refused() {
    let (fake, sidecar) = fake_and_sidecar(Options {
        max_body: 1024,
        server: ServerOptions {
            max_header_bytes: 8192,
            ..ServerOptions::default()
        },
        ..Options::default()
    })
    .await;
    let client = TestClient::new(&sidecar.url);
    let big = "h".repeat(32 * 1024);
    let head = client
        .send(Method::POST, "/v1/jobs/list", &[("x-big", &big)], "{}")
        .await;
    assert_eq!(head.status, 431);

    let body = json!({"workflow": "w", "params": {"p": "{{credential:portal-production}}",
                                                  "pad": "x".repeat(4096)}});
    let answer = call(&TestClient::new(&sidecar.url), "jobs/create", body).await;
    refused(&answer, 413, "PAYLOAD_TOO_LARGE");
    assert!(fake.recorded().is_empty());
    assert_eq!(fake.lookups(), 0);
}

#[tokio::test]
async fn connections_beyond_the_cap_get_503() {
    let (fake, sidecar) = fake_and_sidecar(Options {
        server: ServerOptions {
            max_connections: 1,
            ..ServerOptions::default()
        },
        ..Options::default()
    })
    .await;
    // The first connection holds the only permit while its request waits on a slow upstream.
    let busy = TestClient::new(&sidecar.url);
    let held = tokio::spawn(async move {
        call_with(
            &busy,
            "jobs/list",
            &[("x-echo-delay-ms", "1500")],
            json!({}),
        )
        .await
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while fake.recorded_at("/v1/jobs/list").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let over = call(&TestClient::new(&sidecar.url), "jobs/list", json!({})).await;
    assert_eq!(over.status, 503);
    assert_eq!(over.json["json"]["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(
        held.await.unwrap().status,
        200,
        "the busy connection was served"
    );
}

#[tokio::test]
async fn a_json_answer_too_large_to_check_is_refused() {
    let fake = FakeUpstream::new();
    let base = fake.start().await;
    let upstream = Upstream::new(UpstreamConfig {
        base_url: base,
        timeout: Duration::from_secs(5),
        api_key: Secret::new(UPSTREAM_KEY),
        key_file: None,
        metrics: Metrics::new(),
        ca_file: None,
    })
    .unwrap();
    let answers = Answers {
        limit: 64,
        ..Answers::default()
    };
    let proxy = Proxy::secured(
        upstream,
        CredentialCache::new(CacheConfig::default()),
        ProxyConfig {
            max_body: 1 << 20,
            resolve_schedules: false,
        },
        Metrics::new(),
        Guard::default(),
        answers,
    );
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::serve(
        listener,
        proxy,
        ServerOptions::default(),
        std::future::pending(),
    ));
    // The fake echoes the request as JSON, far over 64 bytes.
    let answer = call(&TestClient::new(url), "things/echo", json!({})).await;
    let body = refused(&answer, 502, "UPSTREAM_ERROR");
    assert_eq!(body["data"]["reason"], "too_large");
}

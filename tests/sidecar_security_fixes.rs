//! The security layer against the ways an app could get a secret back or around the policy:
//! pushing a value out of the scrubber by rotating it, a prefetched value never learned, using
//! the scrubber as an oracle for guesses, renaming credentials under a policy, a browser page
//! or a DNS-rebound name driving the sidecar, and a secret equal to a word of the envelope.

mod common;
mod mock_common;
mod sidecar_support;

use std::sync::Arc;
use std::time::Duration;

use common::{Answer, TestClient};
use http::Method;
use libretto_sidecar::sidecar::guard::policy::Policy;
use libretto_sidecar::sidecar::guard::Guard;
use libretto_sidecar::sidecar::{OpsConfig, UpstreamChoice};
use mock_common::{fast_config, ok, start_demo, MockServer, DEMO_KEY};
use serde_json::{json, Value};
use sidecar_support::{fake_and_sidecar, start_sidecar, Options, Running};

const PASSWORD: &str = "demo-pa$$w0rd";

async fn sidecar_for(mock: &MockServer, options: Options) -> Running {
    start_sidecar(
        UpstreamChoice::Url(mock.base.clone()),
        Options {
            key: DEMO_KEY,
            ..options
        },
    )
    .await
}

/// POSTs `{"json": input}` as an app would.
async fn call(client: &TestClient, route: &str, input: Value) -> Answer {
    let body = serde_json::to_vec(&json!({ "json": input })).unwrap();
    client
        .send(
            Method::POST,
            &format!("/v1/{route}"),
            &[("content-type", "application/json")],
            body,
        )
        .await
}

fn refused(answer: &Answer, status: u16, code: &str) -> Value {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.json);
    assert_eq!(answer.json["json"]["code"], code, "{}", answer.json);
    answer.json["json"].clone()
}

/// All log messages of a job, read through `client` (with `key`, or as an app without one),
/// once its "Workflow input" line is there.
async fn job_logs(client: &TestClient, key: Option<&str>, job_id: &str) -> String {
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
        let logs = ok(&answer)["logs"].to_string();
        if logs.contains("Workflow input") {
            return logs;
        }
        assert!(tokio::time::Instant::now() < deadline, "no input line");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn credential_id(listed: &Value, name: &str) -> String {
    listed["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["credential_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn rotating_a_credential_does_not_push_its_old_value_out() {
    let mock = start_demo(fast_config()).await;
    let sidecar = TestClient::new(sidecar_for(&mock, Options::default()).await.url);
    let job = json!({"workflow": "echo-login",
                     "params": {"p": "{{credential:portal-production/password}}"}});
    let first = ok(&call(&sidecar, "jobs/create", job.clone()).await)["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(job_logs(&mock.client, Some(DEMO_KEY), &first)
        .await
        .contains(PASSWORD));
    let id = credential_id(
        &ok(&call(&sidecar, "credentials/list", json!({})).await),
        "portal-production",
    );
    for round in 0..6 {
        ok(&call(
            &sidecar,
            "credentials/update",
            json!({"id": id, "credentials": {"password": format!("junk-value-{round}")}}),
        )
        .await);
        ok(&call(&sidecar, "jobs/create", job.clone()).await);
    }
    let through = job_logs(&sidecar, None, &first).await;
    assert!(!through.contains(PASSWORD), "{through}");
    assert!(through.contains("[redacted]"), "{through}");
}

#[tokio::test]
async fn a_prefetched_value_is_scrubbed_before_any_job_uses_it() {
    let mock = start_demo(fast_config()).await;
    let running = sidecar_for(
        &mock,
        Options {
            ops: OpsConfig {
                prefetch: vec!["plain".into()],
                ..OpsConfig::default()
            },
            ..Options::default()
        },
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !running.readiness.is_ready() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "prefetch never finished"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A job launched elsewhere with the value in clear; its log is read through the sidecar.
    let job = mock_common::create_job(
        &mock,
        DEMO_KEY,
        json!({"workflow": "echo-other", "params": {"v": "plain-secret-value"}}),
    )
    .await;
    let sidecar = TestClient::new(&running.url);
    let through = job_logs(&sidecar, None, &job).await;
    assert!(!through.contains("plain-secret-value"), "{through}");
}

#[tokio::test]
async fn echoes_give_back_what_the_app_sent_and_reveal_no_guess() {
    let mock = start_demo(fast_config()).await;
    let sidecar = TestClient::new(sidecar_for(&mock, Options::default()).await.url);
    // The sidecar learns the username.
    let with = json!({"workflow": "w", "params": {"u": "{{credential:portal-production/username}}",
                                                   "note": "demo-user"}});
    let launched = ok(&call(&sidecar, "jobs/create", with.clone()).await);
    let got = ok(&call(&sidecar, "jobs/get", json!({"id": launched["job_id"]})).await);
    assert_eq!(
        got["params"], with["params"],
        "the app's own text is not scrubbed"
    );
    // Guesses in a job without placeholders: the echo does not say which one is right.
    let guesses = json!({"workflow": "fail-guess", "params": {"guesses": "alice demo-user root"}});
    let launched = ok(&call(&sidecar, "jobs/create", guesses.clone()).await);
    let job_id = launched["job_id"].as_str().unwrap().to_owned();
    let got = ok(&call(&sidecar, "jobs/get", json!({"id": job_id})).await);
    assert_eq!(got["params"], guesses["params"]);
    mock_common::wait_for_status(&mock, DEMO_KEY, &job_id, "failed").await;
    let report = ok(&call(&sidecar, "jobs/debugReport", json!({"id": job_id})).await);
    assert_eq!(report["job_params"], guesses["params"]);
    let listed = ok(&call(&sidecar, "jobs/list", json!({})).await);
    assert!(!listed.to_string().contains("alice [redacted]"), "{listed}");
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
        vec![("content-type", "text/plain")],
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

#[tokio::test]
async fn a_secret_equal_to_an_envelope_word_leaves_answers_intact() {
    let mock = start_demo(fast_config()).await;
    let sidecar = TestClient::new(sidecar_for(&mock, Options::default()).await.url);
    ok(&call(
        &sidecar,
        "credentials/create",
        json!({"name": "words", "credentials": {"a": "queued", "b": "success", "c": "params"}}),
    )
    .await);
    let job = json!({"workflow": "w", "params": {"a": "{{credential:words/a}}",
                                                 "b": "{{credential:words/b}}",
                                                 "c": "{{credential:words/c}}"}});
    let created = call(&sidecar, "jobs/create", job.clone()).await;
    let out = ok(&created);
    assert_eq!(out["status"], "queued");
    assert_eq!(out["success"], true);
    let got = ok(&call(&sidecar, "jobs/get", json!({"id": out["job_id"]})).await);
    assert_eq!(got["params"], job["params"]);
    assert!(
        got.to_string().contains(out["job_id"].as_str().unwrap()),
        "{got}"
    );
}

/// Sends `bytes` on a fresh TCP connection and then stays silent; returns the stream.
async fn silent_connection(addr: std::net::SocketAddr, bytes: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Waits until the sidecar closes `stream` (read returns 0 or an error); bounded.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!("the silent connection was not closed"),
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn silent_connections_are_closed_and_free_the_cap() {
    let (_fake, sidecar) = fake_and_sidecar(Options {
        server: libretto_sidecar::http::server::ServerOptions {
            max_connections: 2,
            header_read_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(600),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    // One sends nothing at all; one sends an HTTP/2 preface and an empty SETTINGS frame.
    let mut nothing = silent_connection(sidecar.addr, b"").await;
    let mut preface = silent_connection(
        sidecar.addr,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    )
    .await;
    let started = std::time::Instant::now();
    closed_within(&mut nothing, Duration::from_secs(3)).await;
    closed_within(&mut preface, Duration::from_secs(3)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    let answer = call(&TestClient::new(&sidecar.url), "jobs/list", json!({})).await;
    assert_eq!(answer.status, 200, "the cap is free again");
}

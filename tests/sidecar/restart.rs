//! A sidecar (re)started while upstream holds jobs launched before it: their echoes
//! (`jobs/get`, `jobs/list`, `logs/list`) never show a secret, neither while the first learning
//! pass runs (they are withheld with 503 `NOT_READY`, and `/readyz` answers 503) nor after it
//! (the values are known and scrubbed). Also the learning pass itself: its cap and its retries.

use std::time::Duration;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use libretto_sidecar::http::body::Body;
use libretto_sidecar::http::server::{self, Handler, ServerOptions};
use libretto_sidecar::mock::Mock;
use libretto_sidecar::sidecar::learn::{self, LearnConfig};
use libretto_sidecar::sidecar::{OpsConfig, UpstreamChoice};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::support::http::{call, refused, Answer, TestClient};
use crate::support::mock::{
    create_job, fast_config, start_demo, wait_for_status, MockServer, DEMO_KEY, DEMO_PASSWORD,
};
use crate::support::sidecar::{start_sidecar, Options, Running};
use crate::support::upstream::{FakeUpstream, PORTAL_PASSWORD, UPSTREAM_KEY};

/// The mock behind a gate: `credentials/list` waits until the gate opens, so the first
/// learning pass can be held while the test looks at the sidecar.
#[derive(Clone)]
struct Gated {
    mock: Mock,
    open: watch::Receiver<bool>,
}

impl Handler for Gated {
    async fn call(&self, request: Request<Incoming>) -> Response<Body> {
        if request.uri().path() == "/v1/credentials/list" {
            let mut open = self.open.clone();
            let _ = open.wait_for(|open| *open).await;
        }
        self.mock.call(request).await
    }
}

/// Starts the gated mock; returns its base URL and the gate.
async fn gated(mock: &MockServer) -> (String, watch::Sender<bool>) {
    let (gate, open) = watch::channel(false);
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handler = Gated {
        mock: mock.mock.clone(),
        open,
    };
    tokio::spawn(server::serve(
        listener,
        handler,
        ServerOptions::default(),
        std::future::pending::<()>(),
    ));
    (base, gate)
}

fn learning_options(key: &'static str) -> Options {
    Options {
        key,
        ops: OpsConfig {
            learn: Some(LearnConfig::default()),
            ..OpsConfig::default()
        },
        ..Options::default()
    }
}

/// Whether any form of the demo password is in an answer's raw bytes.
fn shows_secret(answer: &Answer) -> bool {
    let text = String::from_utf8_lossy(&answer.bytes);
    text.contains("demo-pa$$w0rd") || text.contains(DEMO_PASSWORD)
}

async fn ready(running: &Running) -> u16 {
    TestClient::new(running.admin_url.clone())
        .send(Method::GET, "/readyz", &[], "")
        .await
        .status
        .as_u16()
}

/// Polls `/readyz` until it answers 200; fails after fifteen seconds.
async fn wait_ready(running: &Running) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while ready(running).await != 200 {
        assert!(Instant::now() < deadline, "/readyz never turned ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn echoes_of_jobs_launched_before_a_restart_never_show_a_secret() {
    let mock = start_demo(fast_config()).await;
    // Launched "before the restart": upstream stores (and the echo workflow logs) the value.
    let old = create_job(
        &mock,
        DEMO_KEY,
        json!({"workflow": "echo-login",
               "params": {"username": "demo-user", "password": DEMO_PASSWORD}}),
    )
    .await;
    wait_for_status(&mock, DEMO_KEY, &old, "completed").await;
    let (base, gate) = gated(&mock).await;
    let running = start_sidecar(UpstreamChoice::Url(base), learning_options(DEMO_KEY)).await;
    let client = TestClient::new(running.url.clone());

    // The first pass is held: not ready, and every echo of the old job is withheld.
    assert_eq!(ready(&running).await, 503);
    let echoes = [
        ("jobs/get", json!({"id": old})),
        ("jobs/debugReport", json!({"id": old})),
        ("jobs/list", json!({})),
        ("logs/list", json!({"jobId": old})),
        ("logs/list", json!({})),
    ];
    for (route, input) in &echoes {
        let answer = call(&client, route, input.clone()).await;
        assert!(!shows_secret(&answer), "{route}: {}", answer.json);
        if *route != "jobs/debugReport" {
            let body = refused(&answer, 503, "NOT_READY");
            assert_eq!(body["defined"], true);
        }
    }

    // A job launched through this sidecar meanwhile is its own: its echoes pass.
    let created = call(
        &client,
        "jobs/create",
        json!({"workflow": "echo-login",
               "params": {"password": "{{credential:portal-production/password}}"}}),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.json);
    let new = created.json["json"]["job_id"].as_str().unwrap().to_owned();
    wait_for_status(&mock, DEMO_KEY, &new, "completed").await;
    let got = call(&client, "jobs/get", json!({"id": new})).await;
    assert_eq!(got.status, 200, "{}", got.json);
    assert_eq!(
        got.json["json"]["params"]["password"],
        "{{credential:portal-production/password}}"
    );
    let logs = call(&client, "logs/list", json!({"jobId": new})).await;
    assert_eq!(logs.status, 200, "{}", logs.json);
    assert!(!shows_secret(&logs), "{}", logs.json);
    assert_eq!(ready(&running).await, 503, "ready before learning");

    // Learning done: ready, and the old job's echoes come through scrubbed.
    gate.send(true).unwrap();
    wait_ready(&running).await;
    let got = call(&client, "jobs/get", json!({"id": old})).await;
    assert_eq!(got.status, 200, "{}", got.json);
    assert!(!shows_secret(&got), "{}", got.json);
    assert_eq!(got.json["json"]["params"]["password"], "[redacted]");
    let logs = call(&client, "logs/list", json!({"jobId": old})).await;
    assert_eq!(logs.status, 200, "{}", logs.json);
    assert!(!shows_secret(&logs), "{}", logs.json);
    let messages: Vec<&str> = logs.json["json"]["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|line| line["message"].as_str())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("[redacted]")),
        "{messages:?}"
    );
    for (route, input) in echoes {
        let answer = call(&client, route, input).await;
        assert!(!shows_secret(&answer), "{route}: {}", answer.json);
        assert_ne!(answer.status, 503, "{route}: {}", answer.json);
    }
}

#[tokio::test]
async fn a_pass_learns_every_listed_credential_up_to_the_cap() {
    let fake = FakeUpstream::portal()
        .with_credential(
            "b",
            "22222222-2222-4222-8222-222222222222",
            json!("bee-secret"),
        )
        .with_credential(
            "c",
            "33333333-3333-4333-8333-333333333333",
            json!("sea-secret"),
        );
    let base = fake.start().await;
    let running = start_sidecar(UpstreamChoice::Url(base), Options::default()).await;
    let credentials = running.proxy.credentials();
    let done = learn::pass(credentials, 2).await.unwrap();
    assert_eq!((done.learned, done.failed, done.truncated), (2, 0, true));
    assert_eq!(fake.lookups(), 2);
    let done = learn::pass(credentials, 10).await.unwrap();
    assert_eq!((done.learned, done.truncated), (3, false));
    // The two already cached were answered by the cache; only the third was fetched.
    assert_eq!(fake.lookups(), 3);
    let scrubbed = credentials.known().scrubber().scrub_str("x sea-secret x");
    assert_eq!(scrubbed.as_deref(), Some("x [redacted] x"));
}

#[tokio::test]
async fn failing_lookups_are_retried_and_readiness_waits_for_them() {
    let fake = FakeUpstream::portal();
    // More failures than one pass tries (3 fetches of up to 4 lookups each), so the first
    // pass is incomplete and runs again.
    fake.fail_next_lookups(13);
    let base = fake.start().await;
    let running = start_sidecar(UpstreamChoice::Url(base), learning_options(UPSTREAM_KEY)).await;
    wait_ready(&running).await;
    assert!(fake.lookups() >= 14, "lookups: {}", fake.lookups());
    let value: Value = json!({"password": PORTAL_PASSWORD});
    let mut scrubbed = value.clone();
    assert!(
        running
            .proxy
            .answers()
            .known
            .scrubber()
            .scrub_value(&mut scrubbed)
            > 0
    );
    assert_ne!(scrubbed, value);
}

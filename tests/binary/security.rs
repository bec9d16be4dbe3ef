//! The shipped binary's security behaviour: it refuses to listen beyond loopback without a
//! client token, re-reads the token file on SIGHUP, accepts an `--allowed-origin` (and stops
//! at a malformed one), and — the leak test — a whole flow at
//! `RUST_LOG=trace` leaves no credential value and not the API key in its output, while the
//! request and audit lines are there.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::process::Child;

use crate::support::binary::{command, refused_start};
use crate::support::http::{call, call_with, TestClient};

/// Every secret of the demo fixtures (a distinctive part of each) and the demo API key.
const SECRETS: &[&str] = &[
    "demo-user",
    "demo-pa$$w0rd",
    "demo-token-123",
    "demo-client",
    "plain-secret-value",
    "demo-api-key",
];

/// How long the binary may take to start or to do one step.
const STEP: Duration = Duration::from_secs(20);

/// Starts `serve --mock` with `args`, stdout and stderr into files under `dir`; returns the
/// child and the base URL from its `listening on` line.
async fn start(dir: &Path, args: &[&str], log: &str) -> (Child, String) {
    let stdout = std::fs::File::create(dir.join("stdout")).unwrap();
    let stderr = std::fs::File::create(dir.join("stderr")).unwrap();
    let child = command()
        .args([
            "serve",
            "--mock",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .env("RUST_LOG", log)
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("the binary starts");
    let url = wait_for(STEP, || {
        let out = std::fs::read_to_string(dir.join("stdout")).unwrap_or_default();
        out.lines()
            .find_map(|line| line.strip_prefix("listening on "))
            .map(str::to_owned)
    })
    .await
    .expect("the listening line arrives in time");
    (child, url)
}

/// Polls `check` every 20ms until it gives a value or `limit` passes.
async fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "`{secret}` appears in {what}");
    }
}

#[tokio::test]
async fn a_remote_listen_address_needs_a_token() {
    let stderr = refused_start(command().args(["serve", "--mock", "--listen", "0.0.0.0:0"])).await;
    assert!(stderr.contains("--client-token-file"), "{stderr}");
    assert!(stderr.contains("--allow-remote"), "{stderr}");
}

#[tokio::test]
async fn an_allowed_origin_is_accepted_and_a_malformed_one_stops_the_start() {
    let stderr = refused_start(command().args([
        "serve",
        "--mock",
        "--listen",
        "127.0.0.1:0",
        "--allowed-origin",
        "https://console.example/app",
    ]))
    .await;
    assert!(
        stderr.contains("--allowed-origin https://console.example/app is not an origin"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start(
        dir.path(),
        &["--allowed-origin", "https://Console.Example:443"],
        "info",
    )
    .await;
    let client = TestClient::new(&url);
    let port = url.rsplit(':').next().unwrap().trim_end_matches('/');
    let json = ("content-type", "application/json");
    for (origin, status) in [
        ("https://console.example", 200),
        (&*format!("http://localhost:{port}"), 200),
        ("https://evil.example", 403),
        ("http://console.example", 403),
    ] {
        let answer = client
            .send(
                http::Method::POST,
                "/v1/jobs/list",
                &[json, ("origin", origin)],
                "{}",
            )
            .await;
        assert_eq!(answer.status, status, "{origin}: {}", answer.json);
    }
    child.kill().await.unwrap();
}

/// The core size limit of a running process, from `/proc/<pid>/limits`.
#[cfg(target_os = "linux")]
fn core_limit(pid: u32) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max core file size"))
        .unwrap()
        .to_owned();
    line.split_whitespace()
        .skip(4)
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_running_binary_cannot_dump_core() {
    use std::os::unix::fs::MetadataExt;

    let dir = tempfile::tempdir().unwrap();
    let (child, _) = start(dir.path(), &[], "info").await;
    assert_eq!(core_limit(child.id().unwrap()), "0 0");

    // A process marked not dumpable has its /proc files owned by root, whatever user it runs
    // as: run it as `nobody` (possible when the tests run as root) and look.
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        return;
    }
    let stdout = std::fs::File::create(dir.path().join("nobody-stdout")).unwrap();
    let mut child = command()
        .args([
            "serve",
            "--mock",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .uid(65534)
        .gid(65534)
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let listening = wait_for(STEP, || {
        std::fs::read_to_string(dir.path().join("nobody-stdout"))
            .unwrap_or_default()
            .contains("listening on ")
            .then_some(())
    })
    .await;
    assert!(listening.is_some(), "the binary starts as nobody");
    let status = std::fs::metadata(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status.uid(), 0, "not dumpable: /proc files belong to root");
    let real_uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("Uid:").map(str::to_owned))
        .unwrap();
    assert!(
        real_uid.split_whitespace().all(|uid| uid == "65534"),
        "{real_uid}"
    );
    assert_eq!(core_limit(pid), "0 0");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn the_client_token_is_re_read_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "first-token\n").unwrap();
    let (child, url) = start(
        dir.path(),
        &["--client-token-file", token_file.to_str().unwrap()],
        "info",
    )
    .await;
    let client = TestClient::new(url);
    let with = |token: &'static str| {
        let client = client.clone();
        async move {
            call_with(
                &client,
                "credentials/list",
                &[("x-sidecar-token", token)],
                json!({}),
            )
            .await
            .status
            .as_u16()
        }
    };
    assert_eq!(with("first-token").await, 200);
    assert_eq!(with("second-token").await, 401);
    let missing = call(&client, "credentials/list", json!({})).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json["json"]["code"], "UNAUTHORIZED");

    std::fs::write(&token_file, "second-token\n").unwrap();
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = tokio::time::Instant::now() + STEP;
    while with("second-token").await != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "token never rotated"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(with("first-token").await, 401);
    // The log writer runs on a thread of its own: the line follows the rotation closely.
    let stderr = wait_for(STEP, || {
        let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
        stderr.contains("Client token re-read").then_some(stderr)
    })
    .await
    .expect("the re-read is logged");
    assert!(!stderr.contains("second-token") && !stderr.contains("first-token"));
    drop(child);
}

#[tokio::test]
async fn nothing_secret_reaches_the_output_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    // Learning off: the jobs below must meet a cold cache, so their lookups are logged.
    let (mut child, url) = start(dir.path(), &["--learn-credentials=false"], "trace").await;
    let client = TestClient::new(url);
    let mut answers = Vec::new();

    let params = json!({"memberId": "12345",
        "username": "{{credential:portal-production/username}}",
        "password": "{{credential:portal-production/password}}",
        "auth": "Bearer {{credential:api/token}}",
        "client": "{{credential:api/oauth/client_id}}",
        "oauth": "{{credential:api/oauth}}",
        "plain": "{{credential:plain}}"});
    let echo = call(
        &client,
        "jobs/create",
        json!({"workflow": "echo-login", "params": params}),
    )
    .await;
    assert_eq!(echo.status, 200, "{}", echo.json);
    let echo_id = echo.json["json"]["job_id"].as_str().unwrap().to_owned();
    let failing = call(
        &client,
        "jobs/create",
        json!({"workflow": "fail-login", "params": params}),
    )
    .await;
    let fail_id = failing.json["json"]["job_id"].as_str().unwrap().to_owned();
    answers.push(echo);
    answers.push(failing);

    let got = call(&client, "jobs/get", json!({"id": echo_id})).await;
    assert_eq!(got.json["json"]["params"], params);
    answers.push(got);
    answers.push(call(&client, "jobs/list", json!({})).await);

    // The echo workflow logs its input once it starts; the failing one fails after its run.
    let mut logged = None;
    let mut report = None;
    let deadline = tokio::time::Instant::now() + STEP;
    while logged.is_none() || report.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs did not progress"
        );
        if logged.is_none() {
            let logs = call(&client, "logs/list", json!({"jobId": echo_id})).await;
            if logs.bytes.windows(14).any(|w| w == b"Workflow input") {
                logged = Some(logs);
            }
        }
        if report.is_none() {
            let answer = call(&client, "jobs/debugReport", json!({"id": fail_id})).await;
            if answer.status == 200 {
                assert_eq!(answer.json["json"]["job_params"], params);
                report = Some(answer);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logged = logged.unwrap();
    assert!(
        String::from_utf8_lossy(&logged.bytes).contains("[redacted]"),
        "{}",
        logged.json
    );
    answers.push(logged);
    answers.extend(report);

    let read = call(&client, "credentials/get", json!({"name": "plain"})).await;
    assert_eq!(read.status, 403);
    answers.push(read);
    answers.push(call(&client, "credentials/list", json!({})).await);
    for params in [
        json!({"p": "{{credential:portal-production/nope}}"}),
        json!({"p": "x {{credential:api/oauth}}"}),
        json!({"p": "{{credential:nope}}"}),
    ] {
        let refused = call(
            &client,
            "jobs/create",
            json!({"workflow": "w", "params": params}),
        )
        .await;
        assert_eq!(refused.status, 422);
        answers.push(refused);
    }
    for answer in &answers {
        assert_clean("an answer", &String::from_utf8_lossy(&answer.bytes));
    }

    // SIGTERM, so that the log lines still queued for the writer thread are written out.
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exited = tokio::time::timeout(STEP, child.wait()).await;
    assert!(exited.is_ok(), "the process exits after SIGTERM");
    let stdout = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert_clean("stdout", &stdout);
    assert_clean("stderr", &stderr);
    assert!(
        stderr.contains("DEBUG") && stderr.contains("Credential cache miss"),
        "the verbose levels were on"
    );
    // The logs are there, only without values: per request, and per resolution.
    assert!(
        stderr.lines().any(|line| line.contains("Request finished")
            && line.contains("placeholders=6")
            && line.contains("cache_misses=3")),
        "{}",
        stderr
            .lines()
            .filter(|l| l.contains("Request finished"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        stderr
            .lines()
            .any(|line| line.contains("Credential resolved")
                && line.contains("credential=portal-production")
                && line.contains("field=\"password\"")
                && line.contains(&echo_id)),
        "{}",
        stderr
            .lines()
            .filter(|l| l.contains("Credential resolved"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn the_audit_trail_has_one_event_per_credential_field_a_job_used() {
    let dir = tempfile::tempdir().unwrap();
    let (child, url) = start(dir.path(), &[], "audit=info").await;
    let client = TestClient::new(url);
    let params = json!({
        "first": "{{credential:portal-production/password}}",
        "user": "{{credential:portal-production/username}}",
        "list": ["x", "{{credential:portal-production/password}}"],
        "a,b": "pw: {{credential:portal-production/password}}"});
    let job = call(
        &client,
        "jobs/create",
        json!({"workflow": "audit-login", "params": params}),
    )
    .await;
    assert_eq!(job.status, 200, "{}", job.json);
    let job_id = job.json["json"]["job_id"].as_str().unwrap().to_owned();
    let stderr = wait_for(STEP, || {
        let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
        (stderr.matches("Credential resolved").count() >= 2).then_some(stderr)
    })
    .await
    .expect("the audit events are logged");
    let events: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("Credential resolved"))
        .collect();
    assert_eq!(events.len(), 2, "{events:#?}");
    let password = events
        .iter()
        .find(|line| line.contains("field=\"password\""))
        .expect("the password's event");
    assert!(
        password.contains(
            r#"params_paths=["/json/params/first","/json/params/list/1","/json/params/a,b"]"#
        ) && password.contains("placeholders=3")
            && password.contains("credential=portal-production")
            && password.contains("workflow=\"audit-login\"")
            && password.contains(&job_id),
        "{password}"
    );
    let username = events
        .iter()
        .find(|line| line.contains("field=\"username\""))
        .expect("the username's event");
    assert!(
        username.contains(r#"params_paths=["/json/params/user"]"#)
            && username.contains("placeholders=1"),
        "{username}"
    );
    assert_clean("stderr", &stderr);
    drop(child);
}

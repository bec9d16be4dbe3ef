//! What comes back through the sidecar holds no secret: job echoes show the app's placeholders
//! while the mock holds the values, logged secrets are redacted (also after the credential is
//! rotated, and when only prefetched), error answers carry none, the scrubber is no oracle for
//! guesses, a secret equal to an envelope word leaves answers intact, and an answer too large
//! to check is refused.

use std::time::Duration;

use libretto_sidecar::http::server::{self, ServerOptions};
use libretto_sidecar::secret::Secret;
use libretto_sidecar::sidecar::answer::Answers;
use libretto_sidecar::sidecar::credentials::cache::{CacheConfig, CredentialCache};
use libretto_sidecar::sidecar::guard::Guard;
use libretto_sidecar::sidecar::metrics::Metrics;
use libretto_sidecar::sidecar::proxy::{Proxy, ProxyConfig};
use libretto_sidecar::sidecar::upstream::{Upstream, UpstreamConfig};
use libretto_sidecar::sidecar::OpsConfig;
use serde_json::json;

use super::{
    credential_id, fast_mock_and_sidecar, holds_no_secret, portal_job_as, PASSWORD, PASSWORD_PART,
    TOKEN, USERNAME,
};
use crate::support::http::{call, refused, TestClient};
use crate::support::mock::{create_job, fast_config, ok, start_demo, wait_for_status, DEMO_KEY};
use crate::support::sidecar::{sidecar_for, Options};
use crate::support::upstream::{FakeUpstream, UPSTREAM_KEY};

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
    let (mock, sidecar) = fast_mock_and_sidecar(Guard::default()).await;
    let created = ok(&call(&sidecar, "jobs/create", portal_job_as("fail-login")).await);
    let job_id = created["job_id"].as_str().unwrap().to_owned();
    wait_for_status(&mock, DEMO_KEY, &job_id, "failed").await;

    let expected = portal_job_as("fail-login")["params"].clone();
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
    let (mock, sidecar) = fast_mock_and_sidecar(Guard::default()).await;
    let created = ok(&call(&sidecar, "jobs/create", portal_job_as("echo-login")).await);
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
    let (_mock, sidecar) = fast_mock_and_sidecar(Guard::default()).await;
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
        .contains(PASSWORD_PART));
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
    assert!(!through.contains(PASSWORD_PART), "{through}");
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
    let job = create_job(
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
    wait_for_status(&mock, DEMO_KEY, &job_id, "failed").await;
    let report = ok(&call(&sidecar, "jobs/debugReport", json!({"id": job_id})).await);
    assert_eq!(report["job_params"], guesses["params"]);
    let listed = ok(&call(&sidecar, "jobs/list", json!({})).await);
    assert!(!listed.to_string().contains("alice [redacted]"), "{listed}");
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
        lookups: Default::default(),
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
            max_body_memory: libretto_sidecar::http::budget::DEFAULT_MAX_BODY_MEMORY,
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

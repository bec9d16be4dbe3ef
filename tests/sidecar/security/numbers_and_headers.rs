//! Secrets that are not JSON strings, and secrets outside the body: a credential field that is
//! a number is scrubbed from answers holding it as a number (job echoes, a job re-sent with
//! the same `nonce`, resolved schedules), and a response header echoing a secret is redacted
//! on buffered and streamed answers alike.

use http::Method;
use serde_json::{json, Value};

use crate::support::http::{call, call_with, TestClient};
use crate::support::mock::{fast_config, ok, start_demo};
use crate::support::sidecar::{fake_and_sidecar, portal_job, sidecar_for, Options};

const PIN: &str = "12345678";

/// A mock holding the credential `pins` (`{"pin": 12345678}`, a number) and a sidecar in
/// front of it.
async fn pins(resolve_schedules: bool) -> (crate::support::mock::MockServer, TestClient) {
    let mock = start_demo(fast_config()).await;
    let options = Options {
        resolve_schedules,
        ..Options::default()
    };
    let sidecar = TestClient::new(sidecar_for(&mock, options).await.url);
    ok(&call(
        &sidecar,
        "credentials/create",
        json!({"name": "pins", "credentials": {"pin": 12345678, "flag": true}}),
    )
    .await);
    (mock, sidecar)
}

fn holds_no_pin(answer: &Value) {
    assert!(
        !answer.to_string().contains(PIN),
        "the PIN leaked in {answer}"
    );
}

#[tokio::test]
async fn a_job_resent_with_its_nonce_cannot_uncover_a_numeric_secret() {
    let (_mock, sidecar) = pins(false).await;
    let first = json!({"workflow": "w", "nonce": "n-pin",
                       "params": {"pin": "{{credential:pins/pin}}", "note": "first"}});
    let created = ok(&call(&sidecar, "jobs/create", first.clone()).await);
    let job_id = created["job_id"].as_str().unwrap().to_owned();
    // The same nonce with params too large to keep whole: upstream answers with the first job.
    let second = json!({"workflow": "w", "nonce": "n-pin",
                        "params": {"pad": "x".repeat(70 << 10),
                                   "other": "{{credential:pins/pin}}"}});
    let again = ok(&call(&sidecar, "jobs/create", second).await);
    assert_eq!(again["job_id"], job_id.as_str());
    let got = ok(&call(&sidecar, "jobs/get", json!({"id": job_id})).await);
    assert_eq!(got["params"], first["params"], "the first job's own params");
    holds_no_pin(&got);
    let listed = ok(&call(&sidecar, "jobs/list", json!({})).await);
    holds_no_pin(&listed);
}

#[tokio::test]
async fn a_numeric_secret_is_scrubbed_from_answers_that_hold_it_as_a_number() {
    let (mock, sidecar) = pins(true).await;
    let schedule = json!({"workflow": "w", "cron_expr": "0 * * * *",
                          "params": {"pin": "{{credential:pins/pin}}"}});
    let created = call(&sidecar, "schedules/create", schedule).await;
    holds_no_pin(&created.json);
    assert_eq!(created.status, 200, "{}", created.json);
    let listed = call(&sidecar, "schedules/list", json!({})).await;
    assert_eq!(listed.status, 200, "{}", listed.json);
    holds_no_pin(&listed.json);
    assert!(
        listed.json.to_string().contains("[redacted]"),
        "{}",
        listed.json
    );
    // The mock holds the number itself: it is the answer that was scrubbed.
    let direct = mock
        .client
        .call(crate::support::mock::DEMO_KEY, "schedules/list", json!({}))
        .await;
    assert!(direct.json.to_string().contains(PIN), "{}", direct.json);

    // A job launched elsewhere (not remembered) echoing the number is scrubbed too.
    let job = json!({"workflow": "w", "params": {"pin": 12345678, "n": 42}});
    let job_id = ok(&mock
        .client
        .call(crate::support::mock::DEMO_KEY, "jobs/create", job)
        .await)["job_id"]
        .clone();
    let got = ok(&call(&sidecar, "jobs/get", json!({"id": job_id})).await);
    assert_eq!(got["params"], json!({"pin": "[redacted]", "n": 42}));
}

#[tokio::test]
async fn a_response_header_echoing_a_secret_is_redacted() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    // The job teaches the sidecar the portal credential (username `alice@example.com`).
    assert_eq!(call(&client, "jobs/create", portal_job()).await.status, 200);
    let echo = [("x-echo-header", "user=alice@example.com")];
    // A buffered JSON answer.
    let buffered = call_with(&client, "jobs/get", &echo, json!({"id": "x"})).await;
    assert_eq!(buffered.status, 200);
    assert_eq!(buffered.headers["x-echoed"], "[redacted]");
    assert_eq!(
        buffered.headers["x-upstream-kept"], "1",
        "other headers kept"
    );
    assert!(!String::from_utf8_lossy(&buffered.bytes).contains("alice@example.com"));
    // A streamed text answer.
    fake.release_stream();
    let streamed = client.send(Method::GET, "/v1/stream", &echo, "").await;
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.headers["x-echoed"], "[redacted]");
    assert_eq!(streamed.bytes, "first;second");
    // A header without a secret is left alone.
    let plain = call_with(
        &client,
        "jobs/get",
        &[("x-echo-header", "nothing")],
        json!({}),
    )
    .await;
    assert_eq!(plain.headers["x-echoed"], "nothing");
}

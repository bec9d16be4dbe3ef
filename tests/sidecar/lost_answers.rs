//! A `jobs/create` whose answer is lost after it was sent: the 502 says the outcome is
//! unknown, a job with a `nonce` is sent once more by the sidecar, one without never is; a job
//! that could not be sent at all says so (`not_sent`).

use serde_json::json;

use crate::support::dropping::{DroppingFront, Drops};
use crate::support::http::{call, refused, TestClient};
use crate::support::sidecar::{start_sidecar, Options};
use crate::support::upstream::{closed_port, FakeUpstream};
use libretto_sidecar::sidecar::UpstreamChoice;

async fn front(drops: Drops) -> (FakeUpstream, DroppingFront, TestClient) {
    let fake = FakeUpstream::portal();
    let backend = fake.start().await;
    let (front, url) = DroppingFront::start(&backend, drops).await;
    let sidecar = start_sidecar(UpstreamChoice::Url(url), Options::default()).await;
    (fake, front, TestClient::new(&sidecar.url))
}

#[tokio::test]
async fn a_lost_answer_without_a_nonce_is_unknown_and_not_retried() {
    let (fake, front, client) = front(Drops::Always).await;
    let job = json!({"workflow": "w", "params": {"memberId": "12345"}});
    let answer = call(&client, "jobs/create", job).await;
    let error = refused(&answer, 502, "UPSTREAM_ERROR");
    assert_eq!(error["defined"], true);
    assert_eq!(error["data"]["outcome"], "unknown", "{error}");
    assert_eq!(error["data"]["reason"], "answer_lost");
    assert_eq!(error["data"]["retried"], false);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("nonce"), "{message}");
    assert!(message.contains("not retried"), "{message}");
    assert_eq!(front.attempts(), 1, "a job without a nonce is sent once");
    assert!(fake.recorded_at("/v1/jobs/create").is_empty());
}

#[tokio::test]
async fn a_lost_answer_with_a_nonce_is_retried_once_with_it() {
    let (fake, front, client) = front(Drops::Once).await;
    let job = json!({"workflow": "w", "params": {"memberId": "12345"}, "nonce": "launch-1"});
    let answer = call(&client, "jobs/create", job).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["json"]["success"], true, "{}", answer.json);
    assert_eq!(front.attempts(), 2, "sent, lost, sent once more");
    let reached = fake.recorded_at("/v1/jobs/create");
    assert_eq!(reached.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&reached[0].body).unwrap();
    assert_eq!(
        body["json"]["nonce"], "launch-1",
        "the retry carries the same nonce"
    );
}

#[tokio::test]
async fn a_nonce_is_retried_only_once() {
    let (_fake, front, client) = front(Drops::Always).await;
    let job = json!({"workflow": "w", "params": {}, "nonce": "launch-2"});
    let answer = call(&client, "jobs/create", job).await;
    let error = refused(&answer, 502, "UPSTREAM_ERROR");
    assert_eq!(error["data"]["outcome"], "unknown", "{error}");
    assert_eq!(error["data"]["retried"], true);
    assert!(error["message"].as_str().unwrap().contains("same nonce"));
    assert_eq!(front.attempts(), 2);
}

#[tokio::test]
async fn a_job_that_could_not_be_sent_says_so() {
    let dead = closed_port().await;
    let sidecar = start_sidecar(
        UpstreamChoice::Url(format!("http://{dead}")),
        Options::default(),
    )
    .await;
    let client = TestClient::new(&sidecar.url);
    let job = json!({"workflow": "w", "params": {}, "nonce": "launch-3"});
    let answer = call(&client, "jobs/create", job).await;
    let error = refused(&answer, 502, "UPSTREAM_ERROR");
    assert_eq!(error["data"]["outcome"], "not_sent", "{error}");
    assert_eq!(error["data"]["reason"], "unreachable");
    assert!(error["data"].get("retried").is_none());
    assert!(error["message"].as_str().unwrap().contains("not sent"));
}

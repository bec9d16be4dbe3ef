//! The mock's `logs/list` over real HTTP: lifecycle lines, camelCase fields, filters, paging
//! and the `echo*` workflow that logs its input.

use serde_json::{json, Value};

use crate::snap;
use crate::support::mock::*;

const KEY: &str = "logs-key";

fn messages(logs: &Value) -> Vec<String> {
    logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_job_logs_its_lifecycle() {
    let server = start(fast_config()).await;
    let id = create_job(&server, KEY, json!({"workflow": "portal-login"})).await;
    wait_for_status(&server, KEY, &id, "completed").await;
    let answer = server
        .client
        .call(KEY, "logs/list", json!({"jobId": id}))
        .await;
    snap!("mock_logs_list", &answer);
    let logs = ok(&answer);
    assert_eq!(
        messages(&logs),
        [
            "Job queued",
            "Job started: workflow portal-login",
            "Job completed"
        ]
    );
    let line = logs["logs"][0].as_object().unwrap();
    let keys: Vec<&String> = line.keys().collect();
    assert_eq!(keys, ["jobId", "workflow", "level", "message", "timestamp"]);
    assert_eq!(line["jobId"], id);
    assert!(logs["nextPageToken"].is_null());
}

#[tokio::test]
async fn cancelled_and_failed_jobs_log_their_end() {
    let server = start(never_config()).await;
    let id = create_job(&server, KEY, json!({"workflow": "w"})).await;
    ok(&server
        .client
        .call(KEY, "jobs/cancel", json!({"id": id}))
        .await);
    let logs = ok(&server
        .client
        .call(KEY, "logs/list", json!({"jobId": id, "level": "warn"}))
        .await);
    assert_eq!(messages(&logs), ["Job cancelled"]);

    let server = start(fast_config()).await;
    let id = create_job(&server, KEY, json!({"workflow": "fail-x"})).await;
    wait_for_status(&server, KEY, &id, "failed").await;
    let logs = ok(&server
        .client
        .call(KEY, "logs/list", json!({"level": "error"}))
        .await);
    assert_eq!(logs["logs"].as_array().unwrap().len(), 1);
    assert!(messages(&logs)[0].starts_with("Job failed"));
}

#[tokio::test]
async fn echo_workflows_log_their_params_as_compact_json() {
    let server = start(never_config()).await;
    let id = create_job(
        &server,
        KEY,
        json!({"workflow": "echo-input", "params": {"user": "u", "nested": {"n": [1, 2]}}}),
    )
    .await;
    wait_for_status(&server, KEY, &id, "running").await;
    let logs = ok(&server
        .client
        .call(KEY, "logs/list", json!({"workflow": "echo-input"}))
        .await);
    assert!(
        messages(&logs)
            .iter()
            .any(|m| m.contains(r#"{"user":"u","nested":{"n":[1,2]}}"#)),
        "{logs}"
    );
}

#[tokio::test]
async fn filters_and_paging() {
    let server = start(never_config()).await;
    let a = create_job(&server, KEY, json!({"workflow": "a"})).await;
    let b = create_job(&server, KEY, json!({"workflow": "b"})).await;
    wait_for_status(&server, KEY, &a, "running").await;
    wait_for_status(&server, KEY, &b, "running").await;
    ok(&server
        .client
        .call(KEY, "jobs/cancel", json!({"id": a}))
        .await);

    let all = ok(&server.client.call(KEY, "logs/list", json!({})).await);
    assert_eq!(all["logs"].as_array().unwrap().len(), 5);
    let only_b = ok(&server
        .client
        .call(KEY, "logs/list", json!({"workflow": "b"}))
        .await);
    assert!(only_b["logs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["jobId"] == b));
    let only_a = ok(&server
        .client
        .call(KEY, "logs/list", json!({"jobId": a}))
        .await);
    assert_eq!(only_a["logs"].as_array().unwrap().len(), 3);

    let mut seen = Vec::new();
    let mut token = Value::Null;
    for _ in 0..10 {
        let mut input = json!({"limit": 2});
        if !token.is_null() {
            input["pageToken"] = token.clone();
        }
        let page = ok(&server.client.call(KEY, "logs/list", input).await);
        assert!(page["logs"].as_array().unwrap().len() <= 2);
        seen.extend(messages(&page));
        token = page["nextPageToken"].clone();
        if token.is_null() {
            break;
        }
    }
    assert!(token.is_null(), "paging ends");
    assert_eq!(
        seen,
        messages(&all),
        "pages cover every line once, in order"
    );

    for bad in [
        json!({"limit": 0}),
        json!({"limit": 1001}),
        json!({"level": "debug"}),
        json!({"jobId": "nope"}),
        json!({"pageToken": "garbage"}),
    ] {
        let answer = server.client.call(KEY, "logs/list", bad.clone()).await;
        assert_eq!(issues(&answer).as_array().unwrap().len(), 1, "{bad}");
    }
    ok(&server
        .client
        .call(KEY, "logs/list", json!({"limit": 1000}))
        .await);
}

//! The mock's jobs routes over real HTTP: validation, lifecycle and outcomes, listing and
//! paging, cancel, debug reports, nonces, credential references and the delete guard (with
//! its race against `jobs/create`), bounded memory and tenant isolation.

use std::collections::{HashMap, HashSet};

use libretto_sidecar::mock::MockConfig;
use serde_json::{json, Value};

use crate::snap;
use crate::support::http::{call_with, Answer};
use crate::support::mock::*;

const KEY: &str = "jobs-key";
const OTHER: &str = "jobs-other-key";
const MISSING_ID: &str = "00000000-0000-4000-8000-000000000000";

/// `jobs/create` with `key` and a forged credential-ids header.
async fn call_with_refs(server: &MockServer, key: &str, refs: &str, input: Value) -> Answer {
    call_with(
        &server.client,
        "jobs/create",
        &[("x-api-key", key), ("x-libretto-credential-ids", refs)],
        input,
    )
    .await
}

#[tokio::test]
async fn create_validation() {
    let server = start(never_config()).await;
    let client = &server.client;
    let missing = client.call(KEY, "jobs/create", json!({"params": {}})).await;
    assert_eq!(
        issues(&missing),
        json!([{"code": "invalid_type", "expected": "string", "received": "undefined", "message": "Required", "path": ["workflow"]}])
    );
    let all_wrong = client
        .call(
            KEY,
            "jobs/create",
            json!({"workflow": 1, "params": [], "timeout_seconds": 0, "callback_url": "https://example.test/hook",
                   "credential_id": "nope", "skip_callbacks": "yes"}),
        )
        .await;
    snap!("mock_jobs_create_invalid", &all_wrong);
    let found = issues(&all_wrong);
    let paths: Vec<&Value> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["path"])
        .collect();
    for path in [
        json!(["workflow"]),
        json!(["params"]),
        json!(["timeout_seconds"]),
        json!(["callback_secret"]),
        json!(["credential_id"]),
        json!(["skip_callbacks"]),
    ] {
        assert!(paths.contains(&&path), "no issue at {path}: {found}");
    }
    for (timeout, code) in [
        (json!(3601), "too_big"),
        (json!(1.5), "invalid_type"),
        (json!("9"), "invalid_type"),
    ] {
        let answer = client
            .call(
                KEY,
                "jobs/create",
                json!({"workflow": "w", "timeout_seconds": timeout}),
            )
            .await;
        assert_eq!(issues(&answer)[0]["code"], code);
    }
    let edges = [json!(1), json!(3600)];
    for timeout in edges {
        ok(&client
            .call(
                KEY,
                "jobs/create",
                json!({"workflow": "w", "timeout_seconds": timeout}),
            )
            .await);
    }
    let with_secret = client
        .call(
            KEY,
            "jobs/create",
            json!({"workflow": "w", "callback_url": "https://example.test/hook", "callback_secret": "s"}),
        )
        .await;
    ok(&with_secret);
    let bad_header = call_with_refs(&server, KEY, "not-a-uuid", json!({"workflow": "w"})).await;
    assert_eq!(
        issues(&bad_header),
        json!([{"code": "invalid_string", "validation": "uuid", "message": "Invalid uuid",
                "path": ["x-libretto-credential-ids", 0]}])
    );
}

#[tokio::test]
async fn lifecycle_to_completed_with_all_fields() {
    let server = start(fast_config()).await;
    let created = server
        .client
        .call(
            KEY,
            "jobs/create",
            json!({"workflow": "portal-login", "params": {"memberId": "12345"}}),
        )
        .await;
    snap!("mock_jobs_create", &created);
    let created = ok(&created);
    assert_eq!(created["status"], "queued");
    let id = created["job_id"].as_str().unwrap();
    wait_for_status(&server, KEY, id, "running").await;
    let job = wait_for_status(&server, KEY, id, "completed").await;
    for field in [
        "job_id",
        "deployment_id",
        "deployment_version",
        "workflow_id",
        "workflow",
        "params",
        "status",
        "created_at",
        "started_at",
        "completed_at",
        "result",
        "error",
        "mapped_stack",
    ] {
        assert!(job.get(field).is_some(), "missing {field}: {job}");
    }
    assert!(job["result"].is_object());
    assert!(job["error"].is_null() && job["mapped_stack"].is_null());
    assert_eq!(job["deployment_version"], json!(1));
    let answer = server.client.call(KEY, "jobs/get", json!({"id": id})).await;
    snap!("mock_jobs_get_completed", &answer);

    // Deployment and workflow ids are stable per workflow.
    let again = create_job(&server, KEY, json!({"workflow": "portal-login"})).await;
    let again = ok(&server
        .client
        .call(KEY, "jobs/get", json!({"id": again}))
        .await);
    assert_eq!(again["deployment_id"], job["deployment_id"]);
    assert_eq!(again["workflow_id"], job["workflow_id"]);
    let other = create_job(&server, KEY, json!({"workflow": "another"})).await;
    let other = ok(&server
        .client
        .call(KEY, "jobs/get", json!({"id": other}))
        .await);
    assert_ne!(other["workflow_id"], job["workflow_id"]);
}

#[tokio::test]
async fn params_come_back_exactly_as_received() {
    let server = start(never_config()).await;
    let raw = r#"{"json":{"workflow":"w","params":{"zeta":1.50,"alpha":{"big":123456789012345678901234567890,"s":"ü \"q\""},"list":[3,2,1]}}}"#;
    let answer = server
        .client
        .send(
            http::Method::POST,
            "/v1/jobs/create",
            &[("x-api-key", KEY), ("content-type", "application/json")],
            raw,
        )
        .await;
    let id = ok(&answer)["job_id"].as_str().unwrap().to_string();
    let got = server.client.call(KEY, "jobs/get", json!({"id": id})).await;
    let text = String::from_utf8(got.bytes.to_vec()).unwrap();
    assert!(
        text.contains(r#""params":{"zeta":1.50,"alpha":{"big":123456789012345678901234567890,"s":"ü \"q\""},"list":[3,2,1]}"#),
        "{text}"
    );
    // Without params, a job has empty params.
    let bare = create_job(&server, KEY, json!({"workflow": "w"})).await;
    let bare = ok(&server
        .client
        .call(KEY, "jobs/get", json!({"id": bare}))
        .await);
    assert_eq!(bare["params"], json!({}));
}

#[tokio::test]
async fn fail_workflows_fail_and_have_a_debug_report() {
    let server = start(fast_config()).await;
    let params = json!({"memberId": "12345", "password": "hunter2"});
    let id = create_job(
        &server,
        KEY,
        json!({"workflow": "fail-login", "params": params}),
    )
    .await;
    let job = wait_for_status(&server, KEY, &id, "failed").await;
    assert!(job["error"]
        .as_str()
        .is_some_and(|e| e.contains("fail-login")));
    assert!(job["mapped_stack"].is_string());
    assert!(job["result"].is_null());

    let report = server
        .client
        .call(KEY, "jobs/debugReport", json!({"id": id}))
        .await;
    snap!("mock_jobs_debug_report", &report);
    let report = ok(&report);
    assert_eq!(report["job_id"], id);
    assert_eq!(report["workflow"], "fail-login");
    assert_eq!(report["status"], "failed");
    assert_eq!(report["error"], job["error"]);
    assert_eq!(report["mapped_stack"], job["mapped_stack"]);
    assert_eq!(report["job_params"], params);
    let levels: Vec<&str> = report["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["info", "info", "error"]);

    let completed = create_job(&server, KEY, json!({"workflow": "ok"})).await;
    wait_for_status(&server, KEY, &completed, "completed").await;
    let refused = server
        .client
        .call(KEY, "jobs/debugReport", json!({"id": completed}))
        .await;
    let body = error(&refused, 409, "CONFLICT");
    assert!(body["message"].as_str().unwrap().contains("failed"));
    snap!("mock_jobs_debug_report_not_failed", &refused);
    error(
        &server
            .client
            .call(KEY, "jobs/debugReport", json!({"id": MISSING_ID}))
            .await,
        404,
        "NOT_FOUND",
    );
    assert_eq!(
        issues(
            &server
                .client
                .call(KEY, "jobs/debugReport", json!({"id": "x"}))
                .await
        )[0]["message"],
        "Invalid uuid"
    );
}

#[tokio::test]
async fn never_ending_jobs_run_until_cancelled() {
    let server = start(never_config()).await;
    let id = create_job(&server, KEY, json!({"workflow": "long"})).await;
    wait_for_status(&server, KEY, &id, "running").await;
    let cancelled = server
        .client
        .call(KEY, "jobs/cancel", json!({"id": id}))
        .await;
    snap!("mock_jobs_cancel", &cancelled);
    ok(&cancelled);
    let job = ok(&server.client.call(KEY, "jobs/get", json!({"id": id})).await);
    assert_eq!(job["status"], "cancelled");
    assert!(job["completed_at"].is_string());
    let again = server
        .client
        .call(KEY, "jobs/cancel", json!({"id": id}))
        .await;
    error(&again, 409, "CONFLICT");
    snap!("mock_jobs_cancel_conflict", &again);
    error(
        &server
            .client
            .call(KEY, "jobs/cancel", json!({"id": MISSING_ID}))
            .await,
        404,
        "NOT_FOUND",
    );
    error(
        &server
            .client
            .call(KEY, "jobs/get", json!({"id": MISSING_ID}))
            .await,
        404,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn queued_jobs_can_be_cancelled_and_never_start() {
    let server = start(MockConfig {
        start_delay: std::time::Duration::from_millis(200),
        ..fast_config()
    })
    .await;
    let id = create_job(&server, KEY, json!({"workflow": "w"})).await;
    ok(&server
        .client
        .call(KEY, "jobs/cancel", json!({"id": id}))
        .await);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let job = ok(&server.client.call(KEY, "jobs/get", json!({"id": id})).await);
    assert_eq!(job["status"], "cancelled");
    assert!(job["started_at"].is_null());
}

#[tokio::test]
async fn completed_jobs_cannot_be_cancelled() {
    let server = start(fast_config()).await;
    let id = create_job(&server, KEY, json!({"workflow": "w"})).await;
    wait_for_status(&server, KEY, &id, "completed").await;
    error(
        &server
            .client
            .call(KEY, "jobs/cancel", json!({"id": id}))
            .await,
        409,
        "CONFLICT",
    );
}

#[tokio::test]
async fn list_is_newest_first_with_filters_and_paging() {
    let server = start(never_config()).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(create_job(&server, KEY, json!({"workflow": format!("w{i}")})).await);
    }
    ok(&server
        .client
        .call(KEY, "jobs/cancel", json!({"id": ids[3]}))
        .await);

    let first = ok(&server.client.call(KEY, "jobs/list", json!({})).await);
    let page: Vec<&str> = first["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(page.len(), 20, "default limit");
    assert_eq!(page[0], ids[24]);
    let mut seen: Vec<String> = page.iter().map(|s| s.to_string()).collect();
    let mut cursor = first["next_cursor"].clone();
    let mut pages = 1;
    while let Some(token) = cursor.as_str() {
        let next = ok(&server
            .client
            .call(KEY, "jobs/list", json!({"limit": 2, "cursor": token}))
            .await);
        seen.extend(
            next["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["job_id"].as_str().unwrap().to_string()),
        );
        cursor = next["next_cursor"].clone();
        pages += 1;
        assert!(pages < 20, "paging must end");
    }
    assert!(cursor.is_null());
    let expected: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, expected, "every job once, newest first");

    let cancelled = ok(&server
        .client
        .call(KEY, "jobs/list", json!({"status": "cancelled"}))
        .await);
    assert_eq!(cancelled["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(cancelled["jobs"][0]["job_id"], ids[3]);
    assert!(cancelled["next_cursor"].is_null());

    let small = server
        .client
        .call(KEY, "jobs/list", json!({"limit": 1, "status": "cancelled"}))
        .await;
    snap!("mock_jobs_list", &small);
    let summary = &ok(&small)["jobs"][0];
    let keys: Vec<&String> = summary.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "job_id",
            "deployment_id",
            "workflow_id",
            "workflow",
            "status",
            "created_at",
            "completed_at"
        ]
    );

    let hundred = ok(&server
        .client
        .call(KEY, "jobs/list", json!({"limit": 100}))
        .await);
    assert_eq!(hundred["jobs"].as_array().unwrap().len(), 25);
    for bad in [
        json!({"limit": 0}),
        json!({"limit": 101}),
        json!({"status": "sleeping"}),
        json!({"cursor": "garbage"}),
    ] {
        let answer = server.client.call(KEY, "jobs/list", bad.clone()).await;
        assert_eq!(issues(&answer).as_array().unwrap().len(), 1, "{bad}");
    }
}

#[tokio::test]
async fn a_repeated_nonce_returns_the_first_job() {
    let server = start(never_config()).await;
    let input = json!({"workflow": "w", "nonce": "order-42", "params": {"n": 1}});
    let first = ok(&server.client.call(KEY, "jobs/create", input.clone()).await);
    let second = ok(&server
        .client
        .call(
            KEY,
            "jobs/create",
            json!({"workflow": "w", "nonce": "order-42", "params": {"n": 2}}),
        )
        .await);
    assert_eq!(first["job_id"], second["job_id"]);
    let listed = ok(&server.client.call(KEY, "jobs/list", json!({})).await);
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1);
    let job = ok(&server
        .client
        .call(KEY, "jobs/get", json!({"id": first["job_id"]}))
        .await);
    assert_eq!(job["params"], json!({"n": 1}));
    // Another tenant's nonce is its own.
    let theirs = ok(&server.client.call(OTHER, "jobs/create", input).await);
    assert_ne!(theirs["job_id"], first["job_id"]);
}

#[tokio::test]
async fn unknown_credential_references_are_409_and_create_nothing() {
    let server = start(never_config()).await;
    let known = create_credential(&server, KEY, "c", json!({})).await;
    let via_header = call_with_refs(
        &server,
        KEY,
        &format!("{known}, {MISSING_ID}"),
        json!({"workflow": "w"}),
    )
    .await;
    let body = error(&via_header, 409, "CONFLICT");
    assert_eq!(body["data"]["credential_ids"], json!([MISSING_ID]));
    snap!("mock_jobs_create_unknown_credential", &via_header);
    let via_body = server
        .client
        .call(
            KEY,
            "jobs/create",
            json!({"workflow": "w", "credential_id": MISSING_ID}),
        )
        .await;
    error(&via_body, 409, "CONFLICT");
    // Another tenant's credential does not exist for this one.
    let foreign = call_with_refs(&server, OTHER, &known, json!({"workflow": "w"})).await;
    error(&foreign, 409, "CONFLICT");
    let listed = ok(&server.client.call(KEY, "jobs/list", json!({})).await);
    assert_eq!(listed["jobs"], json!([]));
}

#[tokio::test]
async fn delete_is_blocked_while_a_job_runs_and_allowed_after() {
    let server = start(MockConfig {
        job_duration: libretto_sidecar::cli::JobDuration::After(std::time::Duration::from_millis(
            300,
        )),
        ..fast_config()
    })
    .await;
    let by_header = create_credential(&server, KEY, "by-header", json!({})).await;
    let by_body = create_credential(&server, KEY, "by-body", json!({})).await;
    let unused = create_credential(&server, KEY, "unused", json!({})).await;
    let job = ok(&call_with_refs(
        &server,
        KEY,
        &by_header,
        json!({"workflow": "w", "credential_id": by_body}),
    )
    .await)["job_id"]
        .as_str()
        .unwrap()
        .to_string();

    for id in [&by_header, &by_body] {
        let blocked = server
            .client
            .call(KEY, "credentials/delete", json!({"id": id}))
            .await;
        let body = error(&blocked, 409, "CONFLICT");
        assert_eq!(body["data"], json!({"job_ids": [job]}));
    }
    let blocked = server
        .client
        .call(KEY, "credentials/delete", json!({"id": by_header}))
        .await;
    snap!("mock_credentials_delete_blocked", &blocked);
    ok(&server
        .client
        .call(KEY, "credentials/delete", json!({"id": unused}))
        .await);

    wait_for_status(&server, KEY, &job, "completed").await;
    for id in [&by_header, &by_body] {
        ok(&server
            .client
            .call(KEY, "credentials/delete", json!({"id": id}))
            .await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_create_never_leave_a_live_job_on_a_deleted_credential() {
    let server = start(never_config()).await;
    const MIN_ROUNDS: usize = 200;
    const MAX_ROUNDS: usize = 2000;
    let (mut deletes_won, mut jobs_won) = (0usize, 0usize);
    // Which credential each created job references, and the credentials deleted.
    let mut job_credential: HashMap<String, String> = HashMap::new();
    let mut deleted: Vec<String> = Vec::new();
    let mut round = 0;
    // Both requests of a round race on their own connections; which one is polled first
    // alternates, so both outcomes happen. Rounds go on (up to a bound) until each has.
    while round < MIN_ROUNDS || (round < MAX_ROUNDS && (deletes_won == 0 || jobs_won == 0)) {
        let name = format!("race-{round}");
        let credential = create_credential(&server, KEY, &name, json!({})).await;
        let create = {
            let client = server.client.clone();
            let credential = credential.clone();
            async move {
                let body = serde_json::to_vec(&json!({"json": {"workflow": "race"}})).unwrap();
                client
                    .send(
                        http::Method::POST,
                        "/v1/jobs/create",
                        &[
                            ("x-api-key", KEY),
                            ("content-type", "application/json"),
                            ("x-libretto-credential-ids", credential.as_str()),
                        ],
                        body,
                    )
                    .await
            }
        };
        let delete = {
            let client = server.client.clone();
            let credential = credential.clone();
            async move {
                client
                    .call(KEY, "credentials/delete", json!({"id": credential}))
                    .await
            }
        };
        let (created, deleted_answer) = if round % 2 == 0 {
            let create = tokio::spawn(create);
            let delete = tokio::spawn(delete);
            (create.await.unwrap(), delete.await.unwrap())
        } else {
            let delete = tokio::spawn(delete);
            let create = tokio::spawn(create);
            (create.await.unwrap(), delete.await.unwrap())
        };
        match (created.status.as_u16(), deleted_answer.status.as_u16()) {
            (200, 409) => {
                jobs_won += 1;
                let job_id = created.json["json"]["job_id"].as_str().unwrap().to_string();
                assert_eq!(
                    deleted_answer.json["json"]["data"]["job_ids"],
                    json!([job_id])
                );
                job_credential.insert(job_id, name);
            }
            (409, 200) => {
                deletes_won += 1;
                assert_eq!(
                    created.json["json"]["data"]["credential_ids"],
                    json!([credential])
                );
                deleted.push(name);
            }
            other => panic!(
                "round {round}: impossible outcome {other:?}: {} / {}",
                created.json, deleted_answer.json
            ),
        }
        round += 1;
    }
    assert_eq!(deletes_won + jobs_won, round);
    assert!(
        deletes_won > 0 && jobs_won > 0,
        "only one outcome in {round} rounds: deletes {deletes_won}, jobs {jobs_won}"
    );

    // Every job of the tenant, all statuses, page by page: exactly the jobs that won.
    let mut listed: Vec<Value> = Vec::new();
    let mut cursor = Value::Null;
    for _ in 0..=(MAX_ROUNDS / 100 + 1) {
        let page = ok(&server
            .client
            .call(KEY, "jobs/list", json!({"limit": 100, "cursor": cursor}))
            .await);
        listed.extend(page["jobs"].as_array().unwrap().iter().cloned());
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert!(cursor.is_null(), "paging did not end");
    assert_eq!(listed.len(), jobs_won);
    let listed_ids: HashSet<&str> = listed
        .iter()
        .map(|job| job["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed_ids.len(), jobs_won, "a job was listed twice");
    // Every live job's credential still exists; every deleted one is gone.
    for job in &listed {
        let id = job["job_id"].as_str().unwrap();
        assert!(
            job["status"] == "queued" || job["status"] == "running",
            "{job}"
        );
        let name = &job_credential[id];
        ok(&server
            .client
            .call(KEY, "credentials/get", json!({"name": name}))
            .await);
    }
    for name in &deleted {
        error(
            &server
                .client
                .call(KEY, "credentials/get", json!({"name": name}))
                .await,
            404,
            "NOT_FOUND",
        );
    }
}

#[tokio::test]
async fn finished_jobs_beyond_the_limit_are_dropped_oldest_first() {
    let server = start(MockConfig {
        max_jobs: 3,
        ..fast_config()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let id = create_job(
            &server,
            KEY,
            json!({"workflow": "w", "nonce": format!("n{i}")}),
        )
        .await;
        wait_for_status(&server, KEY, &id, "completed").await;
        ids.push(id);
    }
    let listed = ok(&server.client.call(KEY, "jobs/list", json!({})).await);
    let kept: Vec<&str> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(kept, [ids[5].as_str(), ids[4].as_str(), ids[3].as_str()]);
    for dropped in &ids[..3] {
        error(
            &server
                .client
                .call(KEY, "jobs/get", json!({"id": dropped}))
                .await,
            404,
            "NOT_FOUND",
        );
        let logs = ok(&server
            .client
            .call(KEY, "logs/list", json!({"jobId": dropped}))
            .await);
        assert_eq!(logs["logs"], json!([]), "logs leave with their job");
    }
    // The nonce of a dropped job is forgotten: it makes a new job.
    let reused = create_job(&server, KEY, json!({"workflow": "w", "nonce": "n0"})).await;
    assert_ne!(reused, ids[0]);
    // The nonce of a kept job still answers with that job.
    let kept_again = create_job(&server, KEY, json!({"workflow": "w", "nonce": "n5"})).await;
    assert_eq!(kept_again, ids[5]);
}

#[tokio::test]
async fn live_jobs_are_never_dropped() {
    let server = start(MockConfig {
        max_jobs: 1,
        ..never_config()
    })
    .await;
    let live: Vec<String> = futures_util::future::join_all(
        (0..3).map(|_| create_job(&server, KEY, json!({"workflow": "w"}))),
    )
    .await;
    let first_cancelled = create_job(&server, KEY, json!({"workflow": "w"})).await;
    let second_cancelled = create_job(&server, KEY, json!({"workflow": "w"})).await;
    ok(&server
        .client
        .call(KEY, "jobs/cancel", json!({"id": first_cancelled}))
        .await);
    ok(&server
        .client
        .call(KEY, "jobs/cancel", json!({"id": second_cancelled}))
        .await);
    for id in &live {
        ok(&server.client.call(KEY, "jobs/get", json!({"id": id})).await);
    }
    error(
        &server
            .client
            .call(KEY, "jobs/get", json!({"id": first_cancelled}))
            .await,
        404,
        "NOT_FOUND",
    );
    ok(&server
        .client
        .call(KEY, "jobs/get", json!({"id": second_cancelled}))
        .await);
}

#[tokio::test]
async fn tenants_do_not_see_each_others_jobs() {
    let server = start(never_config()).await;
    let id = create_job(&server, KEY, json!({"workflow": "mine"})).await;
    error(
        &server
            .client
            .call(OTHER, "jobs/get", json!({"id": id}))
            .await,
        404,
        "NOT_FOUND",
    );
    error(
        &server
            .client
            .call(OTHER, "jobs/cancel", json!({"id": id}))
            .await,
        404,
        "NOT_FOUND",
    );
    error(
        &server
            .client
            .call(OTHER, "jobs/debugReport", json!({"id": id}))
            .await,
        404,
        "NOT_FOUND",
    );
    let listed = ok(&server.client.call(OTHER, "jobs/list", json!({})).await);
    assert_eq!(listed["jobs"], json!([]));
    let logs = ok(&server.client.call(OTHER, "logs/list", json!({})).await);
    assert_eq!(logs["logs"], json!([]));
    ok(&server.client.call(KEY, "jobs/get", json!({"id": id})).await);
}

/// POSTs a route with the body given as raw JSON text (so number spellings such as `1e3`
/// reach the mock exactly).
async fn call_raw(server: &MockServer, key: &str, route: &str, body: &str) -> Answer {
    server
        .client
        .send(
            http::Method::POST,
            &format!("/v1/{route}"),
            &[("x-api-key", key), ("content-type", "application/json")],
            body.to_string(),
        )
        .await
}

#[tokio::test]
async fn whole_numbers_in_any_spelling_are_accepted() {
    let server = start(never_config()).await;
    for timeout in ["1e3", "10.0", "3.6e3", "1.0"] {
        let body = format!(r#"{{"json": {{"workflow": "w", "timeout_seconds": {timeout}}}}}"#);
        ok(&call_raw(&server, KEY, "jobs/create", &body).await);
    }
    let listed = ok(&call_raw(&server, KEY, "jobs/list", r#"{"json": {"limit": 2.0}}"#).await);
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 2);
    assert!(listed["next_cursor"].is_string());
    let logs = ok(&call_raw(&server, KEY, "logs/list", r#"{"json": {"limit": 1e0}}"#).await);
    assert_eq!(logs["logs"].as_array().unwrap().len(), 1);

    for (route, body, code, message) in [
        (
            "logs/list",
            r#"{"json": {"limit": -1.0}}"#,
            "too_small",
            "Number must be greater than or equal to 1",
        ),
        (
            "jobs/list",
            r#"{"json": {"limit": 5.5}}"#,
            "invalid_type",
            "Expected integer, received float",
        ),
        (
            "jobs/create",
            r#"{"json": {"workflow": "w", "timeout_seconds": 3.601e3}}"#,
            "too_big",
            "Number must be less than or equal to 3600",
        ),
        (
            "jobs/create",
            r#"{"json": {"workflow": "w", "timeout_seconds": 0.0}}"#,
            "too_small",
            "Number must be greater than or equal to 1",
        ),
        (
            "jobs/create",
            r#"{"json": {"workflow": "w", "timeout_seconds": -1e400}}"#,
            "too_small",
            "Number must be greater than or equal to 1",
        ),
    ] {
        let answer = call_raw(&server, KEY, route, body).await;
        let found = issues(&answer);
        assert_eq!(found.as_array().unwrap().len(), 1, "{body}: {found}");
        assert_eq!(found[0]["code"], code, "{body}: {found}");
        assert_eq!(found[0]["message"], message, "{body}: {found}");
    }
}

#[tokio::test]
async fn a_job_that_outlives_its_timeout_fails() {
    let server = start(MockConfig {
        job_duration: libretto_sidecar::cli::JobDuration::After(std::time::Duration::from_secs(2)),
        ..fast_config()
    })
    .await;
    let never = start(never_config()).await;
    for server in [&server, &never] {
        let id = create_job(server, KEY, json!({"workflow": "w", "timeout_seconds": 1})).await;
        let job = wait_for_status(server, KEY, &id, "failed").await;
        assert_eq!(job["error"], "Job timed out after 1s");
        assert_eq!(job["result"], Value::Null);
        assert!(job["completed_at"].is_string());
        let logs = ok(&server
            .client
            .call(KEY, "logs/list", json!({"jobId": id, "level": "error"}))
            .await);
        assert_eq!(
            logs["logs"][0]["message"],
            "Job failed: Job timed out after 1s"
        );
        // A failed job has a debug report, and cannot be cancelled any more.
        ok(&server
            .client
            .call(KEY, "jobs/debugReport", json!({"id": id}))
            .await);
        error(
            &server
                .client
                .call(KEY, "jobs/cancel", json!({"id": id}))
                .await,
            409,
            "CONFLICT",
        );
    }
    // A job whose timeout is longer than its run completes.
    let fast = start(fast_config()).await;
    let id = create_job(&fast, KEY, json!({"workflow": "w", "timeout_seconds": 1})).await;
    wait_for_status(&fast, KEY, &id, "completed").await;
}

#[tokio::test]
async fn a_repeated_nonce_after_the_job_ended_says_it_already_exists() {
    let server = start(fast_config()).await;
    let input = json!({"workflow": "w", "nonce": "order-7"});
    let first = ok(&server.client.call(KEY, "jobs/create", input.clone()).await);
    assert_eq!(first["message"], "Job queued successfully");
    let id = first["job_id"].as_str().unwrap();
    wait_for_status(&server, KEY, id, "completed").await;
    let again = server.client.call(KEY, "jobs/create", input).await;
    snap!("mock_jobs_create_repeated_nonce", &again);
    let again = ok(&again);
    assert_eq!(
        again,
        json!({"success": true, "job_id": id, "status": "completed",
               "message": "Job already exists for this nonce"})
    );
}

#[tokio::test]
async fn callbacks_need_a_valid_url_and_a_secret() {
    let server = start(never_config()).await;
    let client = &server.client;
    let url = "https://example.test/hook";
    for (input, path, code) in [
        (
            json!({"workflow": "w", "callback_url": url, "callback_secret": ""}),
            "callback_secret",
            "too_small",
        ),
        (
            json!({"workflow": "w", "callback_url": url, "callback_secret": "s".repeat(2049)}),
            "callback_secret",
            "too_big",
        ),
        (
            json!({"workflow": "w", "callback_url": url}),
            "callback_secret",
            "custom",
        ),
        (
            json!({"workflow": "w", "callback_url": "ftp://example.test/x", "callback_secret": "s"}),
            "callback_url",
            "invalid_string",
        ),
        (
            json!({"workflow": "w", "callback_url": "http:///nohost", "callback_secret": "s"}),
            "callback_url",
            "invalid_string",
        ),
        (
            json!({"workflow": "w", "callback_url": format!("{url}/{}", "x".repeat(2048)), "callback_secret": "s"}),
            "callback_url",
            "too_big",
        ),
    ] {
        let answer = client.call(KEY, "jobs/create", input.clone()).await;
        let found = issues(&answer);
        assert_eq!(
            found,
            json!([{"code": code, "message": found[0]["message"], "path": [path]}]),
            "{input}"
        );
    }
    ok(&client
        .call(
            KEY,
            "jobs/create",
            json!({"workflow": "w", "callback_url": url, "callback_secret": "s".repeat(2048)}),
        )
        .await);
    let listed = ok(&client.call(KEY, "jobs/list", json!({})).await);
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn each_tenant_keeps_its_own_finished_jobs() {
    let server = start(MockConfig {
        max_jobs: 2,
        ..fast_config()
    })
    .await;
    let mine: Vec<String> = futures_util::future::join_all(
        (0..2).map(|_| create_job(&server, KEY, json!({"workflow": "w"}))),
    )
    .await;
    for id in &mine {
        wait_for_status(&server, KEY, id, "completed").await;
    }
    // Another tenant's burst of finished jobs, more than the limit.
    for _ in 0..5 {
        let id = create_job(&server, OTHER, json!({"workflow": "w"})).await;
        wait_for_status(&server, OTHER, &id, "completed").await;
    }
    for id in &mine {
        ok(&server.client.call(KEY, "jobs/get", json!({"id": id})).await);
    }
    let kept = ok(&server.client.call(OTHER, "jobs/list", json!({})).await);
    assert_eq!(kept["jobs"].as_array().unwrap().len(), 2);
    // Past its own limit, a tenant drops its own oldest.
    let third = create_job(&server, KEY, json!({"workflow": "w"})).await;
    wait_for_status(&server, KEY, &third, "completed").await;
    let listed = ok(&server.client.call(KEY, "jobs/list", json!({})).await);
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn viewport_sides_are_whole_numbers_in_any_spelling() {
    let server = start(never_config()).await;
    for viewport in [
        r#"{"width": 1280.0, "height": 7.2e2}"#,
        r#"{"width": 1280, "height": 18446744073709551615}"#,
    ] {
        let body = format!(r#"{{"json": {{"workflow": "w", "viewport": {viewport}}}}}"#);
        ok(&call_raw(&server, KEY, "jobs/create", &body).await);
        let body = format!(
            r#"{{"json": {{"workflow": "w", "cron_expr": "0 9 * * *", "viewport": {viewport}}}}}"#
        );
        ok(&call_raw(&server, KEY, "schedules/create", &body).await);
    }
    for viewport in [
        r#"{"width": 0.5, "height": 720}"#,
        r#"{"width": 0.0, "height": 720}"#,
        r#"{"width": -1280, "height": 720}"#,
        r#"{"width": "1280", "height": 720}"#,
        r#"{"width": 1e400, "height": 720}"#,
    ] {
        let body = format!(r#"{{"json": {{"workflow": "w", "viewport": {viewport}}}}}"#);
        let answer = call_raw(&server, KEY, "jobs/create", &body).await;
        let found = issues(&answer);
        assert_eq!(found.as_array().unwrap().len(), 1, "{viewport}: {found}");
        assert_eq!(found[0]["path"], json!(["viewport", "width"]), "{viewport}");
        assert_eq!(
            found[0]["message"], "Expected a positive integer",
            "{viewport}"
        );
    }
}

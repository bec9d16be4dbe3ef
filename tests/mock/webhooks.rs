//! The mock's webhooks over real HTTP: endpoint routes and validation, signed delivery of job
//! results to a test receiver, precedence of a job's own callback, `skip_callbacks`, inactive
//! endpoints, retries that show in `logs/list`, a generated secret that signs deliveries, the
//! per-tenant endpoint cap, and a hanging receiver that never slows the API while the bounded
//! queue drops what does not fit.

use std::time::Duration;

use libretto_sidecar::mock::{DeliveryConfig, MockConfig};
use libretto_sidecar::runtime::backoff::Backoff;
use serde_json::{json, Value};

use crate::support::mock::*;
use crate::support::webhook_receiver::{hmac_hex, Receiver, DEADLINE};

const KEY: &str = "webhooks-key";
const OTHER: &str = "webhooks-other-key";
const MISSING_ID: &str = "00000000-0000-4000-8000-000000000000";

/// Fast jobs and fast retries: 20ms backoff base, 1s per attempt.
fn config() -> MockConfig {
    MockConfig {
        delivery: DeliveryConfig {
            backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(100)),
            attempt_timeout: Duration::from_secs(1),
            total_timeout: Duration::from_secs(4),
            ..DeliveryConfig::default()
        },
        ..fast_config()
    }
}

async fn register(server: &MockServer, key: &str, input: Value) -> Value {
    ok(&server.client.call(key, "webhooks/create", input).await)
}

/// A short wait for deliveries that must not happen, after the ones that must have.
async fn grace() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn endpoint_routes_validate_and_never_list_secrets() {
    let server = start(config()).await;
    let bad = server
        .client
        .call(
            KEY,
            "webhooks/create",
            json!({"url": "ftp://example.com/x"}),
        )
        .await;
    assert_eq!(issues(&bad)[0]["path"], json!(["url"]));
    let missing = server.client.call(KEY, "webhooks/create", json!({})).await;
    assert_eq!(issues(&missing)[0]["path"], json!(["url"]));
    for url in [
        "http://127.0.0.1:99999/x",
        "http://:80/x",
        "http://127.0.0.1:0/x",
    ] {
        let answer = server
            .client
            .call(KEY, "webhooks/create", json!({"url": url}))
            .await;
        let found = issues(&answer);
        assert_eq!(found[0]["path"], json!(["url"]), "{url}");
        assert_eq!(found[0]["message"], "Invalid url", "{url}");
    }
    let long = server
        .client
        .call(
            KEY,
            "webhooks/create",
            json!({"url": "http://127.0.0.1:9/a", "description": "d".repeat(2049)}),
        )
        .await;
    assert_eq!(issues(&long)[0]["path"], json!(["description"]));

    let given = register(
        &server,
        KEY,
        json!({"url": "http://127.0.0.1:9/a", "signing_secret": "given-secret", "description": "A"}),
    )
    .await;
    assert_eq!(given["success"], true);
    assert!(
        given.get("signing_secret").is_none(),
        "a given secret is not echoed"
    );
    let made = register(
        &server,
        KEY,
        json!({"url": "https://hooks.example/b", "active": false}),
    )
    .await;
    let made_secret = made["signing_secret"].as_str().unwrap().to_string();
    assert!(made_secret.starts_with("whsec_") && made_secret.len() == 70);

    let list = server.client.call(KEY, "webhooks/list", json!({})).await;
    let text = String::from_utf8(list.bytes.to_vec()).unwrap();
    assert!(!text.contains("given-secret") && !text.contains(&made_secret));
    let endpoints = ok(&list)["webhook_endpoints"].clone();
    assert_eq!(endpoints.as_array().unwrap().len(), 2);
    assert_eq!(endpoints[0]["url"], "http://127.0.0.1:9/a");
    assert_eq!(endpoints[0]["description"], "A");
    assert_eq!(endpoints[0]["active"], true);
    assert_eq!(endpoints[1]["active"], false);
    assert_eq!(endpoints[1]["description"], Value::Null);
    let keys: Vec<&String> = endpoints[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "webhook_endpoint_id",
            "url",
            "description",
            "active",
            "created_at",
            "updated_at"
        ]
    );
    let other = ok(&server.client.call(OTHER, "webhooks/list", json!({})).await);
    assert_eq!(other["webhook_endpoints"], json!([]), "tenants are apart");

    let id = given["webhook_endpoint_id"].as_str().unwrap();
    let updated = server
        .client
        .call(
            KEY,
            "webhooks/update",
            json!({"id": id, "active": false, "url": "http://127.0.0.1:9/c"}),
        )
        .await;
    assert_eq!(ok(&updated)["success"], true);
    let endpoints =
        ok(&server.client.call(KEY, "webhooks/list", json!({})).await)["webhook_endpoints"].clone();
    assert_eq!(endpoints[0]["url"], "http://127.0.0.1:9/c");
    assert_eq!(endpoints[0]["active"], false);
    assert_eq!(endpoints[0]["description"], "A", "kept when not named");
    ok(&server
        .client
        .call(
            KEY,
            "webhooks/update",
            json!({"id": id, "description": null}),
        )
        .await);
    let endpoints =
        ok(&server.client.call(KEY, "webhooks/list", json!({})).await)["webhook_endpoints"].clone();
    assert_eq!(endpoints[0]["description"], Value::Null, "null clears it");
    assert_eq!(endpoints[0]["url"], "http://127.0.0.1:9/c");
    let bad_url = server
        .client
        .call(KEY, "webhooks/update", json!({"id": id, "url": "nope"}))
        .await;
    assert_eq!(issues(&bad_url)[0]["path"], json!(["url"]));
    let unknown = server
        .client
        .call(
            KEY,
            "webhooks/update",
            json!({"id": MISSING_ID, "active": true}),
        )
        .await;
    error(&unknown, 404, "NOT_FOUND");
    let foreign = server
        .client
        .call(OTHER, "webhooks/delete", json!({"id": id}))
        .await;
    error(&foreign, 404, "NOT_FOUND");
    let not_uuid = server
        .client
        .call(KEY, "webhooks/delete", json!({"id": "x"}))
        .await;
    assert_eq!(issues(&not_uuid)[0]["path"], json!(["id"]));
    let deleted = server
        .client
        .call(KEY, "webhooks/delete", json!({"id": id}))
        .await;
    assert_eq!(ok(&deleted)["success"], true);
    let again = server
        .client
        .call(KEY, "webhooks/delete", json!({"id": id}))
        .await;
    error(&again, 404, "NOT_FOUND");
}

#[tokio::test]
async fn active_endpoints_get_signed_results_and_inactive_ones_nothing() {
    let server = start(config()).await;
    let active = Receiver::start(0).await;
    let inactive = Receiver::start(0).await;
    register(
        &server,
        KEY,
        json!({"url": active.url, "signing_secret": "active-secret"}),
    )
    .await;
    register(
        &server,
        KEY,
        json!({"url": inactive.url, "signing_secret": "x", "active": false}),
    )
    .await;

    let job_id = create_job(&server, KEY, json!({"workflow": "portal", "nonce": "n-1"})).await;
    let received = active.wait_for(1).await;
    let delivery = &received[0];
    assert_eq!(delivery.event, "job.completed");
    assert_eq!(delivery.content_type, "application/json");
    assert_eq!(
        delivery.signature,
        hmac_hex("active-secret", &delivery.body)
    );
    let payload = delivery.json();
    assert_eq!(payload["job_id"], job_id.as_str());
    assert_eq!(payload["status"], "completed");
    let job = ok(&server
        .client
        .call(KEY, "jobs/get", json!({"id": job_id}))
        .await);
    assert_eq!(payload["deployment_id"], job["deployment_id"]);
    assert_eq!(payload["result"], job["result"]);
    insta::with_settings!({snapshot_path => "../../snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
        insta::assert_snapshot!(
            "mock_webhooks_delivered_payload",
            serde_json::to_string_pretty(&redact(&payload)).unwrap()
        );
    });

    let failed_id = create_job(&server, KEY, json!({"workflow": "fail-login"})).await;
    let received = active.wait_for(2).await;
    let failed = &received[1];
    assert_eq!(failed.event, "job.failed");
    assert_eq!(failed.signature, hmac_hex("active-secret", &failed.body));
    let payload = failed.json();
    assert_eq!(payload["event"], "job.failed");
    assert_eq!(payload["job_id"], failed_id.as_str());
    assert_eq!(payload["status"], "failed");
    assert!(payload["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(payload["mapped_stack"].is_string());

    grace().await;
    assert!(
        inactive.requests().is_empty(),
        "an inactive endpoint gets nothing"
    );
    assert_eq!(active.requests().len(), 2);
}

#[tokio::test]
async fn a_job_callback_wins_over_endpoints_and_skip_sends_nothing() {
    let server = start(config()).await;
    let endpoint = Receiver::start(0).await;
    let callback = Receiver::start(0).await;
    register(
        &server,
        KEY,
        json!({"url": endpoint.url, "signing_secret": "endpoint-secret"}),
    )
    .await;

    let own = create_job(
        &server,
        KEY,
        json!({"workflow": "portal", "callback_url": callback.url, "callback_secret": "job-secret"}),
    )
    .await;
    let skipped = create_job(
        &server,
        KEY,
        json!({"workflow": "portal", "skip_callbacks": true}),
    )
    .await;
    // Another tenant's job never reaches this tenant's endpoint.
    create_job(&server, OTHER, json!({"workflow": "portal"})).await;
    let received = callback.wait_for(1).await;
    assert_eq!(received[0].json()["job_id"], own.as_str());
    assert_eq!(
        received[0].signature,
        hmac_hex("job-secret", &received[0].body)
    );
    wait_for_status(&server, KEY, &skipped, "completed").await;

    let plain = create_job(&server, KEY, json!({"workflow": "portal"})).await;
    let received = endpoint.wait_for(1).await;
    grace().await;
    let endpoint_jobs: Vec<Value> = endpoint
        .requests()
        .iter()
        .map(|r| r.json()["job_id"].clone())
        .collect();
    assert_eq!(
        endpoint_jobs,
        vec![json!(plain)],
        "only the plain job reaches the endpoint"
    );
    assert_eq!(
        received[0].signature,
        hmac_hex("endpoint-secret", &received[0].body)
    );
    assert_eq!(callback.requests().len(), 1);
}

#[tokio::test]
async fn failed_attempts_are_retried_and_logged() {
    let server = start(config()).await;
    let flaky = Receiver::start(2).await;
    register(
        &server,
        KEY,
        json!({"url": flaky.url, "signing_secret": "s"}),
    )
    .await;
    let job_id = create_job(&server, KEY, json!({"workflow": "portal"})).await;
    let received = flaky.wait_for(3).await;
    assert_eq!(received.len(), 3);
    assert!(
        received.iter().all(|r| r.body == received[0].body),
        "same body every attempt"
    );
    assert!(received
        .iter()
        .all(|r| r.signature == hmac_hex("s", &r.body)));

    let logs = tokio::time::timeout(DEADLINE, async {
        loop {
            let logs = ok(&server
                .client
                .call(KEY, "logs/list", json!({"jobId": job_id}))
                .await)["logs"]
                .clone();
            if logs
                .as_array()
                .unwrap()
                .iter()
                .any(|line| line["message"].as_str().unwrap().contains("delivered"))
            {
                return logs;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let webhook_lines: Vec<(String, String)> = logs
        .as_array()
        .unwrap()
        .iter()
        .filter(|line| line["message"].as_str().unwrap().starts_with("Webhook"))
        .map(|line| {
            (
                line["level"].as_str().unwrap().to_string(),
                line["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let target = flaky.url.clone();
    assert_eq!(
        webhook_lines,
        vec![
            (
                "warn".into(),
                format!(
                    "Webhook job.completed to {target} failed (attempt 1/5, HTTP 500); retrying"
                )
            ),
            (
                "warn".into(),
                format!(
                    "Webhook job.completed to {target} failed (attempt 2/5, HTTP 500); retrying"
                )
            ),
            (
                "info".into(),
                format!("Webhook job.completed delivered to {target} (attempt 3/5, HTTP 200)")
            ),
        ]
    );
}

/// A receiver that accepts connections and never answers.
async fn hanging_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    url
}

async fn timed(server: &MockServer, route: &str, input: Value) -> Value {
    let begun = std::time::Instant::now();
    let answer = ok(&server.client.call(KEY, route, input).await);
    assert!(
        begun.elapsed() < Duration::from_millis(500),
        "{route} took {:?}",
        begun.elapsed()
    );
    answer
}

#[tokio::test]
async fn a_hanging_receiver_never_slows_the_api_and_a_full_queue_drops() {
    // Two sending slots and two waiting places, all taken by a receiver that never answers.
    let server = start(MockConfig {
        delivery: DeliveryConfig {
            concurrency: 2,
            group_concurrency: 2,
            queue_capacity: 2,
            attempt_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(10),
            ..DeliveryConfig::default()
        },
        ..fast_config()
    })
    .await;
    let hanging = hanging_receiver().await;
    register(&server, KEY, json!({"url": hanging, "signing_secret": "s"})).await;

    let mut ids = Vec::new();
    for n in 0..20 {
        let created = timed(
            &server,
            "jobs/create",
            json!({"workflow": "portal", "nonce": format!("hang-{n}")}),
        )
        .await;
        ids.push(created["job_id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        wait_for_status(&server, KEY, id, "completed").await;
    }
    // Every job has ended and queued its delivery; the API still answers at once.
    let dropped = tokio::time::timeout(DEADLINE, async {
        loop {
            let mut dropped = 0;
            for id in &ids {
                timed(&server, "jobs/get", json!({"id": id})).await;
                let logs = timed(
                    &server,
                    "logs/list",
                    json!({"jobId": id, "level": "error"}),
                )
                .await;
                dropped += logs["logs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|line| {
                        line["message"]
                            == format!(
                                "Webhook job.completed to {hanging} dropped: the delivery queue is full"
                            )
                            .as_str()
                    })
                    .count();
            }
            if dropped >= 16 {
                return dropped;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the deliveries that did not fit were dropped and logged");
    assert_eq!(dropped, 16, "two sending and two waiting, the rest dropped");
    timed(&server, "jobs/create", json!({"workflow": "portal"})).await;
}

#[tokio::test]
async fn a_generated_secret_signs_the_deliveries() {
    let server = start(config()).await;
    let receiver = Receiver::start(0).await;
    let made = register(&server, KEY, json!({"url": receiver.url})).await;
    let secret = made["signing_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let job_id = create_job(&server, KEY, json!({"workflow": "portal"})).await;
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].json()["job_id"], job_id.as_str());
    assert_eq!(received[0].signature, hmac_hex(&secret, &received[0].body));
    assert!(libretto_sidecar::mock::verify_webhook(
        secret.as_bytes(),
        &received[0].body,
        &received[0].signature
    ));
}

#[tokio::test]
async fn a_tenant_keeps_at_most_100_endpoints() {
    let server = start(config()).await;
    let mut first = None;
    for n in 0..100 {
        let made = register(
            &server,
            KEY,
            json!({"url": format!("http://127.0.0.1:9/{n}"), "signing_secret": "s", "active": false}),
        )
        .await;
        first.get_or_insert(made["webhook_endpoint_id"].clone());
    }
    let refused = server
        .client
        .call(
            KEY,
            "webhooks/create",
            json!({"url": "http://127.0.0.1:9/x"}),
        )
        .await;
    let body = error(&refused, 409, "CONFLICT");
    assert!(body["message"].as_str().unwrap().contains("at most 100"));
    // Another tenant is not affected, and deleting one makes room.
    register(&server, OTHER, json!({"url": "http://127.0.0.1:9/x"})).await;
    ok(&server
        .client
        .call(KEY, "webhooks/delete", json!({"id": first.unwrap()}))
        .await);
    register(&server, KEY, json!({"url": "http://127.0.0.1:9/x"})).await;
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_given_up() {
    let server = start(config()).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/hook", dead.local_addr().unwrap());
    drop(dead);
    register(
        &server,
        KEY,
        json!({"url": dead_url, "signing_secret": "s"}),
    )
    .await;
    let job_id = create_job(&server, KEY, json!({"workflow": "portal"})).await;
    let gave_up = tokio::time::timeout(DEADLINE, async {
        loop {
            let logs = ok(&server
                .client
                .call(KEY, "logs/list", json!({"jobId": job_id, "level": "error"}))
                .await)["logs"]
                .clone();
            if let Some(line) = logs.as_array().unwrap().first() {
                return line["message"].as_str().unwrap().to_string();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert!(
        gave_up.contains("attempt 5/5, could not connect); giving up"),
        "{gave_up}"
    );
}

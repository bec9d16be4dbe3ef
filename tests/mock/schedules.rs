//! The mock's schedules over real HTTP: the schedule object and its validation, `next_fire_at`
//! in a zone across daylight-saving changes, a seconds-level schedule launching jobs that show
//! in `jobs/list`, fire bookkeeping, and disabled or deleted schedules that stop at once; the
//! schedule's own signed callback and its secret's rotation; launch options and
//! `credential_id` checked like `jobs/create`'s, and the delete guard on a scheduled job's
//! credential; fires skipped over the live-job limit.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use libretto_sidecar::cli::JobDuration;
use libretto_sidecar::mock::next_fire_after;
use libretto_sidecar::mock::MockConfig;
use serde_json::{json, Value};

use crate::support::mock::*;
use crate::support::webhook_receiver::{hmac_hex, Received, Receiver};

const KEY: &str = "schedules-key";
const OTHER: &str = "schedules-other-key";
const MISSING_ID: &str = "00000000-0000-4000-8000-000000000000";

async fn create(server: &MockServer, input: Value) -> Value {
    ok(&server.client.call(KEY, "schedules/create", input).await)["schedule"].clone()
}

async fn get(server: &MockServer, id: &str) -> Value {
    ok(&server
        .client
        .call(KEY, "schedules/get", json!({"id": id}))
        .await)["schedule"]
        .clone()
}

async fn jobs_of(server: &MockServer, workflow: &str) -> Vec<Value> {
    let listed = ok(&server
        .client
        .call(KEY, "jobs/list", json!({"limit": 100}))
        .await);
    listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|job| job["workflow"] == workflow)
        .cloned()
        .collect()
}

/// Waits until `check` holds for the schedule; fails after five seconds.
async fn wait_for(
    server: &MockServer,
    id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let schedule = get(server, id).await;
            if check(&schedule) {
                return schedule;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("schedule {id} never showed {what}"))
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn invalid_timing_and_options_are_400_on_their_path() {
    let server = start(fast_config()).await;
    let cases = [
        (
            json!({"workflow": "w", "cron_expr": "61 * * * *"}),
            vec![json!(["cron_expr"])],
        ),
        (
            json!({"workflow": "w", "cron_expr": "* * *"}),
            vec![json!(["cron_expr"])],
        ),
        (
            json!({"workflow": "w", "cron_expr": "0 9 * * *", "timezone": "Mars/Olympus"}),
            vec![json!(["timezone"])],
        ),
        (
            json!({"workflow": "w", "cron_expr": "bad", "timezone": "Nowhere"}),
            vec![json!(["cron_expr"]), json!(["timezone"])],
        ),
        (
            json!({"workflow": "w", "cron_expr": "0 9 * * *", "callback_url": "http://127.0.0.1:9/x"}),
            vec![json!(["callback_secret"])],
        ),
        (
            json!({"workflow": "w", "cron_expr": "0 9 * * *", "timeout_seconds": 0}),
            vec![json!(["timeout_seconds"])],
        ),
        (
            json!({"workflow": "w", "cron_expr": "0 9 * * *", "callback_secret": "s"}),
            vec![json!(["callback_secret"])],
        ),
        (
            json!({"workflow": "w", "cron_expr": "0 9 * * *", "callback_url": "http://127.0.0.1:99999/x", "callback_secret": "s"}),
            vec![json!(["callback_url"])],
        ),
        (
            json!({"workflow": "w", "cron_expr": "0 9 * * *", "headless": "yes", "gpu": 1}),
            vec![json!(["headless"]), json!(["gpu"])],
        ),
        (
            json!({"workflow": "w", "cron_expr": "0 9 * * *", "viewport": {"width": 0}}),
            vec![json!(["viewport", "width"]), json!(["viewport", "height"])],
        ),
        (
            json!({"workflow": "w", "cron_expr": "0 9 * * *", "start_url": 5, "disable_default_proxy": "no"}),
            vec![json!(["disable_default_proxy"]), json!(["start_url"])],
        ),
        (
            json!({"workflow": "w", "cron_expr": "0 9 * * *", "credential_id": "nope"}),
            vec![json!(["credential_id"])],
        ),
        (json!({"cron_expr": "0 9 * * *"}), vec![json!(["workflow"])]),
        (json!({"workflow": "w"}), vec![json!(["cron_expr"])]),
    ];
    for (input, paths) in cases {
        let answer = server
            .client
            .call(KEY, "schedules/create", input.clone())
            .await;
        let found: Vec<Value> = issues(&answer)
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["path"].clone())
            .collect();
        assert_eq!(found, paths, "{input}");
    }
    let listed = ok(&server.client.call(KEY, "schedules/list", json!({})).await);
    assert_eq!(listed["schedules"], json!([]), "nothing was created");
    let too_many = server
        .client
        .call(KEY, "schedules/list", json!({"limit": 201}))
        .await;
    assert_eq!(issues(&too_many)[0]["path"], json!(["limit"]));
}

#[tokio::test]
async fn the_schedule_object_and_its_routes() {
    let server = start(fast_config()).await;
    let schedule = create(
        &server,
        json!({
            "workflow": "morning-report",
            "params": {"region": "us"},
            "cron_expr": "0 9 * * *",
            "timezone": "America/New_York",
            "callback_url": "http://127.0.0.1:9/cb",
            "callback_secret": "never-shown",
        }),
    )
    .await;
    insta::with_settings!({snapshot_path => "../../snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
        insta::assert_snapshot!("mock_schedules_object", serde_json::to_string_pretty(&redact(&schedule)).unwrap());
    });
    let id = schedule["id"].as_str().unwrap().to_string();
    assert!(!schedule.to_string().contains("never-shown"));

    // next_fire_at is the next 09:00 in New York, whatever today's offset is.
    let next = utc(schedule["next_fire_at"].as_str().unwrap());
    let local = next.with_timezone(&chrono_tz::America::New_York);
    assert_eq!(local.format("%H:%M:%S").to_string(), "09:00:00");
    assert!(next > Utc::now() && next - Utc::now() <= chrono::Duration::hours(25));

    assert_eq!(get(&server, &id).await, schedule);
    error(
        &server
            .client
            .call(OTHER, "schedules/get", json!({"id": id}))
            .await,
        404,
        "NOT_FOUND",
    );
    error(
        &server
            .client
            .call(KEY, "schedules/get", json!({"id": MISSING_ID}))
            .await,
        404,
        "NOT_FOUND",
    );

    let other = create(
        &server,
        json!({"workflow": "other", "cron_expr": "*/5 * * * *", "enabled": false}),
    )
    .await;
    assert_eq!(
        other["next_fire_at"],
        Value::Null,
        "a disabled schedule has no next fire"
    );
    assert_eq!(other["timezone"], "UTC");
    assert_eq!(other["timeout_seconds"], 900);
    let list = |input: Value| {
        let server = &server;
        async move {
            let listed = ok(&server.client.call(KEY, "schedules/list", input).await);
            listed["schedules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["workflow"].clone())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(json!({})).await,
        vec![json!("other"), json!("morning-report")]
    );
    assert_eq!(
        list(json!({"enabled": true})).await,
        vec![json!("morning-report")]
    );
    assert_eq!(
        list(json!({"workflow": "other"})).await,
        vec![json!("other")]
    );
    assert_eq!(list(json!({"limit": 1})).await, vec![json!("other")]);

    let updated = ok(&server
        .client
        .call(KEY, "schedules/update", json!({"id": id, "callback_url": null, "cron_expr": "30 7 * * 1-5", "timezone": "Europe/Paris"}))
        .await)["schedule"]
        .clone();
    assert_eq!(
        updated["callback_url"],
        Value::Null,
        "null clears the callback"
    );
    assert_eq!(updated["cron_expr"], "30 7 * * 1-5");
    let local =
        utc(updated["next_fire_at"].as_str().unwrap()).with_timezone(&chrono_tz::Europe::Paris);
    assert_eq!(local.format("%H:%M").to_string(), "07:30");
    let bad = server
        .client
        .call(
            KEY,
            "schedules/update",
            json!({"id": id, "timezone": "Nowhere"}),
        )
        .await;
    assert_eq!(issues(&bad)[0]["path"], json!(["timezone"]));
    let no_secret = server
        .client
        .call(
            KEY,
            "schedules/update",
            json!({"id": id, "callback_url": "http://127.0.0.1:9/new"}),
        )
        .await;
    assert_eq!(issues(&no_secret)[0]["path"], json!(["callback_secret"]));
    let rotate_nothing = server
        .client
        .call(
            KEY,
            "schedules/update",
            json!({"id": id, "callback_secret": "new"}),
        )
        .await;
    assert_eq!(
        issues(&rotate_nothing)[0]["path"],
        json!(["callback_secret"]),
        "no callback to rotate"
    );
    let null_with_secret = server
        .client
        .call(
            KEY,
            "schedules/update",
            json!({"id": id, "callback_url": null, "callback_secret": "new"}),
        )
        .await;
    assert_eq!(
        issues(&null_with_secret)[0]["path"],
        json!(["callback_secret"])
    );

    let deleted = ok(&server
        .client
        .call(KEY, "schedules/delete", json!({"id": id}))
        .await);
    assert_eq!(deleted, json!({"success": true, "id": id}));
    error(
        &server
            .client
            .call(KEY, "schedules/delete", json!({"id": id}))
            .await,
        404,
        "NOT_FOUND",
    );
    error(
        &server
            .client
            .call(KEY, "schedules/update", json!({"id": id, "enabled": true}))
            .await,
        404,
        "NOT_FOUND",
    );
}

#[test]
fn next_fire_at_follows_new_york_across_daylight_saving_changes() {
    let tz = "America/New_York";
    let next = |after: &str| next_fire_after("0 9 * * *", tz, utc(after)).unwrap();
    // March 8, 2026: EST (UTC-5) becomes EDT (UTC-4); 09:00 local moves from 14:00Z to 13:00Z.
    assert_eq!(
        next("2026-03-07T12:00:00Z"),
        Utc.with_ymd_and_hms(2026, 3, 7, 14, 0, 0).unwrap()
    );
    assert_eq!(
        next("2026-03-07T15:00:00Z"),
        Utc.with_ymd_and_hms(2026, 3, 8, 13, 0, 0).unwrap()
    );
    // November 1, 2026: back to EST; 09:00 local moves from 13:00Z to 14:00Z.
    assert_eq!(
        next("2026-10-31T12:00:00Z"),
        Utc.with_ymd_and_hms(2026, 10, 31, 13, 0, 0).unwrap()
    );
    assert_eq!(
        next("2026-10-31T14:00:00Z"),
        Utc.with_ymd_and_hms(2026, 11, 1, 14, 0, 0).unwrap()
    );
}

#[tokio::test]
async fn seconds_level_schedules_launch_jobs_and_stop_when_disabled_or_deleted() {
    let server = start(fast_config()).await;
    let to_disable = create(
        &server,
        json!({"workflow": "tick-a", "cron_expr": "*/1 * * * * *", "params": {"n": 1}}),
    )
    .await;
    let to_delete = create(
        &server,
        json!({"workflow": "tick-b", "cron_expr": "*/1 * * * * *"}),
    )
    .await;
    let failing = create(
        &server,
        json!({"workflow": "fail-tick", "cron_expr": "*/1 * * * * *"}),
    )
    .await;
    let (a, b, f) = (
        to_disable["id"].as_str().unwrap().to_string(),
        to_delete["id"].as_str().unwrap().to_string(),
        failing["id"].as_str().unwrap().to_string(),
    );

    let fired = wait_for(&server, &a, "a fire", |s| s["last_job_id"].is_string()).await;
    assert!(fired["last_fire_at"].is_string());
    let job_id = fired["last_job_id"].as_str().unwrap().to_string();
    let jobs = jobs_of(&server, "tick-a").await;
    assert!(
        jobs.iter().any(|job| job["job_id"] == job_id.as_str()),
        "{jobs:?}"
    );
    let job = wait_for_status(&server, KEY, &job_id, "completed").await;
    assert_eq!(job["params"], json!({"n": 1}), "the schedule's params");
    let logs = ok(&server
        .client
        .call(KEY, "logs/list", json!({"jobId": job_id}))
        .await);
    assert!(logs["logs"]
        .to_string()
        .contains(&format!("Launched by schedule {a}")));
    wait_for(&server, &b, "a fire", |s| s["last_job_id"].is_string()).await;
    let failed = wait_for(&server, &f, "a failure", |s| {
        s["consecutive_failures"].as_u64() >= Some(1)
    })
    .await;
    assert!(failed["last_error"]
        .as_str()
        .is_some_and(|e| e.contains("fail-tick")));

    let disabled = ok(&server
        .client
        .call(KEY, "schedules/update", json!({"id": a, "enabled": false}))
        .await);
    assert_eq!(disabled["schedule"]["next_fire_at"], Value::Null);
    ok(&server
        .client
        .call(KEY, "schedules/delete", json!({"id": b}))
        .await);
    let (count_a, count_b) = (
        jobs_of(&server, "tick-a").await.len(),
        jobs_of(&server, "tick-b").await.len(),
    );
    // Long enough for at least two more fires of a live seconds-level schedule.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        jobs_of(&server, "tick-a").await.len(),
        count_a,
        "a disabled schedule stops"
    );
    assert_eq!(
        jobs_of(&server, "tick-b").await.len(),
        count_b,
        "a deleted schedule stops"
    );
    assert!(
        jobs_of(&server, "fail-tick").await.len() >= 2,
        "the live schedule kept firing"
    );
    let still_disabled = get(&server, &a).await;
    assert_eq!(still_disabled["next_fire_at"], Value::Null);

    // Enabled again, it fires again.
    ok(&server
        .client
        .call(KEY, "schedules/update", json!({"id": a, "enabled": true}))
        .await);
    let before = still_disabled["last_job_id"].clone();
    wait_for(&server, &a, "a new fire", |s| s["last_job_id"] != before).await;
}

#[tokio::test]
async fn a_schedule_callback_is_signed_and_its_secret_rotates() {
    let server = start(fast_config()).await;
    let receiver = Receiver::start(0).await;
    let schedule = create(
        &server,
        json!({"workflow": "cb-tick", "cron_expr": "*/1 * * * * *",
               "callback_url": receiver.url, "callback_secret": "first-secret"}),
    )
    .await;
    let id = schedule["id"].as_str().unwrap().to_string();
    let first = receiver.wait_for(1).await;
    assert_eq!(first[0].event, "job.completed");
    assert_eq!(first[0].signature, hmac_hex("first-secret", &first[0].body));
    let payload = first[0].json();
    assert_eq!(payload["workflow"], "cb-tick");
    let job = ok(&server
        .client
        .call(KEY, "jobs/get", json!({"id": payload["job_id"]}))
        .await);
    assert_eq!(job["workflow"], "cb-tick", "a job the schedule launched");

    // A secret alone rotates the secret and keeps the URL.
    let rotated = ok(&server
        .client
        .call(
            KEY,
            "schedules/update",
            json!({"id": id, "callback_secret": "second-secret"}),
        )
        .await)["schedule"]
        .clone();
    assert_eq!(rotated["callback_url"], receiver.url.as_str());
    assert!(!rotated.to_string().contains("second-secret"));
    let signed_with =
        |secret: &str, received: &Received| received.signature == hmac_hex(secret, &received.body);
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if receiver
                .requests()
                .iter()
                .any(|r| signed_with("second-secret", r))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a delivery signed with the rotated secret");
    ok(&server
        .client
        .call(KEY, "schedules/update", json!({"id": id, "enabled": false}))
        .await);
    let all = receiver.requests();
    assert!(all
        .iter()
        .all(|r| signed_with("first-secret", r) || signed_with("second-secret", r)));
    // Once one job was signed with the new secret, no later job uses the old one.
    let switched = all
        .iter()
        .position(|r| signed_with("second-secret", r))
        .unwrap();
    assert!(all[switched..]
        .iter()
        .all(|r| signed_with("second-secret", r)));
}

#[tokio::test]
async fn launch_options_and_credential_are_kept_and_the_credential_is_guarded() {
    let server = start(never_config()).await;
    let credential = create_credential(&server, KEY, "portal", json!({"password": "p"})).await;
    let unknown = server
        .client
        .call(
            KEY,
            "schedules/create",
            json!({"workflow": "w", "cron_expr": "0 9 * * *", "credential_id": MISSING_ID}),
        )
        .await;
    let body = error(&unknown, 409, "CONFLICT");
    assert_eq!(body["data"]["credential_ids"], json!([MISSING_ID]));

    let schedule = create(
        &server,
        json!({"workflow": "guarded", "cron_expr": "*/1 * * * * *", "credential_id": credential,
               "residential_proxy": true, "timeout_seconds": 60, "headless": false,
               "viewport": {"width": 1280, "height": 720}, "start_url": "https://portal.example/"}),
    )
    .await;
    assert_eq!(schedule["residential_proxy"], true);
    assert_eq!(schedule["timeout_seconds"], 60);
    assert!(
        schedule.get("credential_id").is_none(),
        "not in upstream's object"
    );
    let id = schedule["id"].as_str().unwrap().to_string();
    let fired = wait_for(&server, &id, "a fire", |s| s["last_job_id"].is_string()).await;
    let job_id = fired["last_job_id"].as_str().unwrap().to_string();
    wait_for_status(&server, KEY, &job_id, "running").await;
    ok(&server
        .client
        .call(KEY, "schedules/update", json!({"id": id, "enabled": false}))
        .await);

    // The running scheduled job holds its credential.
    let blocked = server
        .client
        .call(KEY, "credentials/delete", json!({"id": credential}))
        .await;
    let body = error(&blocked, 409, "CONFLICT");
    assert!(body["data"]["job_ids"]
        .as_array()
        .unwrap()
        .contains(&json!(job_id)));

    // Once its jobs are cancelled the credential can go, and the next fire launches nothing.
    let listed = ok(&server
        .client
        .call(KEY, "jobs/list", json!({"limit": 100}))
        .await);
    for job in listed["jobs"].as_array().unwrap() {
        if job["status"] == "queued" || job["status"] == "running" {
            ok(&server
                .client
                .call(KEY, "jobs/cancel", json!({"id": job["job_id"]}))
                .await);
        }
    }
    ok(&server
        .client
        .call(KEY, "credentials/delete", json!({"id": credential}))
        .await);
    let before = jobs_of(&server, "guarded").await.len();
    let failures = fired["consecutive_failures"].as_u64().unwrap();
    ok(&server
        .client
        .call(KEY, "schedules/update", json!({"id": id, "enabled": true}))
        .await);
    let missed = wait_for(&server, &id, "a fire without its credential", |s| {
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no longer exists"))
    })
    .await;
    assert!(missed["consecutive_failures"].as_u64().unwrap() > failures);
    assert!(missed["last_error"].as_str().unwrap().contains(&credential));
    assert_eq!(
        jobs_of(&server, "guarded").await.len(),
        before,
        "no job launched"
    );
}

#[tokio::test]
async fn a_schedule_does_not_fire_over_the_live_job_limit() {
    let server = start(MockConfig {
        schedule_live_job_limit: 2,
        job_duration: JobDuration::Never,
        ..fast_config()
    })
    .await;
    let schedule = create(
        &server,
        json!({"workflow": "busy", "cron_expr": "*/1 * * * * *"}),
    )
    .await;
    let id = schedule["id"].as_str().unwrap().to_string();
    let refused = wait_for(&server, &id, "a refused fire", |s| {
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("queued or running jobs"))
    })
    .await;
    assert!(refused["consecutive_failures"].as_u64().unwrap() >= 1);
    assert_eq!(
        jobs_of(&server, "busy").await.len(),
        2,
        "two live jobs, no more"
    );
}

//! The mock's memory budget over real HTTP: finished jobs are dropped oldest first to stay
//! under `--max-memory` and `--max-tenant-bytes`, data that may not be dropped (credentials,
//! live jobs) is refused with a clear envelope error, idle tenants are forgotten at
//! `--max-tenants`, and the process's peak resident memory (VmHWM, mock in process) stays
//! under the budget plus the transient cost of the requests themselves.

use libretto_sidecar::mock::{MemoryLimits, MockConfig};
use serde_json::{json, Value};

use crate::support::mock::{error, never_config, ok, start, MockServer};

const MIB: usize = 1 << 20;

/// The peak is the process's: the tests that measure it take turns.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A string of `len` bytes unlike any other (so nothing can be shared or compressed).
fn filler(len: usize, seed: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + ((i * 7 + seed * 13) % 26) as u8))
        .collect()
}

/// The process's peak resident set so far, in bytes, from `/proc/self/status`.
fn peak_resident() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("VmHWM line");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB");
    kib * 1024
}

fn limited(max_memory: usize, max_tenant_bytes: usize, max_tenants: usize) -> MockConfig {
    MockConfig {
        memory: MemoryLimits {
            max_memory,
            max_tenant_bytes,
            max_tenants,
        },
        ..never_config()
    }
}

/// Creates a job with `len` bytes of params and cancels it, so it is finished at once.
async fn finished_job(server: &MockServer, key: &str, len: usize, seed: usize) -> String {
    let created = ok(&server
        .client
        .call(
            key,
            "jobs/create",
            json!({"workflow": "portal", "params": {"blob": filler(len, seed)}}),
        )
        .await);
    let id = created["job_id"].as_str().unwrap().to_string();
    ok(&server
        .client
        .call(key, "jobs/cancel", json!({"id": id}))
        .await);
    id
}

async fn job_status(server: &MockServer, key: &str, id: &str) -> (u16, Value) {
    let answer = server.client.call(key, "jobs/get", json!({"id": id})).await;
    (answer.status.as_u16(), answer.json["json"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_large_finished_jobs_stay_within_the_budget() {
    let budget = 8 * MIB;
    let _turn = MEASURING.lock().await;
    let server = start(limited(budget, 4 * MIB, 100)).await;
    let before = peak_resident();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut first = Vec::new();
    let mut last = Vec::new();
    // 120 jobs of 900 KB over four tenants: 108 MB if every finished job were kept.
    for n in 0..120 {
        let key = format!("memory-jobs-{}", n % 4);
        let id = finished_job(&server, &key, 900_000, n).await;
        if n < 4 {
            first.push((key.clone(), id.clone()));
        }
        if n >= 116 {
            last.push((key, id, n));
        }
        assert!(
            server.mock.memory_used() <= budget,
            "counted over the budget"
        );
        assert!(tokio::time::Instant::now() < deadline, "took too long");
    }
    let grown = peak_resident().saturating_sub(before);
    eprintln!("jobs: peak resident grew by {grown} bytes");
    assert!(
        grown < budget + 24 * MIB,
        "peak resident memory grew by {grown} bytes over a {budget}-byte budget"
    );
    for (key, id) in &first {
        let (status, body) = job_status(&server, key, id).await;
        assert_eq!(status, 404, "the oldest jobs are dropped first: {body}");
    }
    for (key, id, n) in &last {
        let (status, body) = job_status(&server, key, id).await;
        assert_eq!(status, 200, "the newest jobs are kept");
        assert_eq!(body["status"], "cancelled");
        assert_eq!(
            body["params"]["blob"],
            filler(900_000, *n),
            "params as sent"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_past_the_budget_are_refused_and_kept() {
    let budget = 6 * MIB;
    let _turn = MEASURING.lock().await;
    let server = start(limited(budget, 2 * MIB, 1000)).await;
    let before = peak_resident();
    let mut stored = Vec::new();
    let mut refused_tenant = 0;
    let mut refused_mock = 0;
    // 40 credentials of 600 KB, four per tenant: 24 MB asked for, 6 MiB allowed.
    for n in 0..40 {
        let key = format!("memory-credentials-{}", n / 4);
        let name = format!("secret-{n}");
        let answer = server
            .client
            .call(
                &key,
                "credentials/upsert",
                json!({"name": name, "value": filler(600_000, n)}),
            )
            .await;
        match answer.status.as_u16() {
            200 => stored.push((key, name, n)),
            409 => {
                let body = error(&answer, 409, "CONFLICT");
                assert_eq!(body["data"]["limit"], 2 * MIB);
                refused_tenant += 1;
            }
            503 => {
                error(&answer, 503, "SERVICE_UNAVAILABLE");
                refused_mock += 1;
            }
            other => panic!("unexpected answer {other}: {}", answer.json),
        }
        assert!(server.mock.memory_used() <= budget);
    }
    assert!(
        refused_tenant > 0 && refused_mock > 0,
        "{refused_tenant} {refused_mock}"
    );
    assert!(stored.len() >= 8, "{} stored", stored.len());
    let grown = peak_resident().saturating_sub(before);
    eprintln!("credentials: peak resident grew by {grown} bytes");
    assert!(grown < budget + 24 * MIB, "peak grew by {grown} bytes");
    // Nothing stored was dropped to make room.
    for (key, name, n) in &stored {
        let got = ok(&server
            .client
            .call(key, "credentials/get", json!({"name": name}))
            .await);
        assert_eq!(got["value"], filler(600_000, *n));
    }
    // A value larger than a tenant may ever keep is too large, whatever is stored.
    let small = start(limited(budget, 512 << 10, 10)).await;
    let answer = small
        .client
        .call(
            "memory-too-large",
            "credentials/create",
            json!({"name": "big", "credentials": {"v": filler(600_000, 1)}}),
        )
        .await;
    let body = error(&answer, 413, "PAYLOAD_TOO_LARGE");
    assert_eq!(body["data"]["limit"], 512 << 10);
}

#[tokio::test]
async fn live_jobs_are_refused_not_dropped() {
    let server = start(limited(64 * MIB, 3 * MIB, 10)).await;
    let key = "memory-live";
    let mut live = Vec::new();
    let refusal = loop {
        let answer = server
            .client
            .call(
                key,
                "jobs/create",
                json!({"workflow": "portal", "params": {"blob": filler(900_000, live.len())}}),
            )
            .await;
        if answer.status.as_u16() != 200 {
            break answer;
        }
        live.push(answer.json["json"]["job_id"].as_str().unwrap().to_string());
        assert!(live.len() < 10, "the tenant limit never refused");
    };
    error(&refusal, 409, "CONFLICT");
    assert_eq!(live.len(), 3);
    for id in &live {
        let (status, body) = job_status(&server, key, id).await;
        assert_eq!(status, 200);
        assert!(["queued", "running"].contains(&body["status"].as_str().unwrap()));
    }
    // Once one ends, its room is taken by the next job: the finished one is dropped.
    ok(&server
        .client
        .call(key, "jobs/cancel", json!({"id": live[0]}))
        .await);
    ok(&server
        .client
        .call(
            key,
            "jobs/create",
            json!({"workflow": "portal", "params": {"blob": filler(900_000, 99)}}),
        )
        .await);
    assert_eq!(job_status(&server, key, &live[0]).await.0, 404);
}

#[tokio::test]
async fn idle_tenants_make_room_and_busy_ones_refuse() {
    let server = start(limited(64 * MIB, 4 * MIB, 3)).await;
    // Two tenants with a credential each: never forgotten.
    for key in ["memory-keep-a", "memory-keep-b"] {
        ok(&server
            .client
            .call(
                key,
                "credentials/upsert",
                json!({"name": "c", "value": "v"}),
            )
            .await);
    }
    // Tenants with only finished jobs take the third place in turn.
    for n in 0..10 {
        finished_job(&server, &format!("memory-idle-{n}"), 1000, n).await;
        assert!(server.mock.tenant_count() <= 3);
    }
    // A third tenant with a credential takes the idle one's place; then nothing is idle.
    ok(&server
        .client
        .call(
            "memory-keep-c",
            "credentials/upsert",
            json!({"name": "c", "value": "v"}),
        )
        .await);
    let answer = server
        .client
        .call(
            "memory-keep-d",
            "credentials/upsert",
            json!({"name": "c", "value": "v"}),
        )
        .await;
    error(&answer, 503, "SERVICE_UNAVAILABLE");
    assert_eq!(server.mock.tenant_count(), 3);
    for key in ["memory-keep-a", "memory-keep-b", "memory-keep-c"] {
        let got = ok(&server
            .client
            .call(key, "credentials/get", json!({"name": "c"}))
            .await);
        assert_eq!(got["value"], "v");
    }
    // A request that only reads still answers for a new key.
    ok(&server
        .client
        .call("memory-keep-d", "credentials/list", json!({}))
        .await);
}

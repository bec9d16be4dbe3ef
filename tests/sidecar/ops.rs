//! Operations of the sidecar in process, over real HTTP against a counting fake upstream:
//! probes and metrics as a flow runs, request ids end to end, lookups retried on 5xx and never
//! for writes, the API key re-read after a 401 (lookups, and buffered forwards sent once more)
//! and picked up from the polled key file, stale-if-error inside and past its window and on a
//! lookup timeout, and the gauges (of requests, connections and the stores held) and refusals
//! seen over `/metrics`.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{json, Value};

use crate::support::http::{call, call_with, TestClient};
use crate::support::sidecar::{fake_and_sidecar, portal_job, start_sidecar, Options};
use crate::support::upstream::{FakeUpstream, LookupMode, UPSTREAM_KEY};

use libretto_sidecar::http::server::ServerOptions;
use libretto_sidecar::sidecar::credentials::cache::CacheConfig;
use libretto_sidecar::sidecar::upstream::LOOKUP_ATTEMPTS;
use libretto_sidecar::sidecar::{OpsConfig, UpstreamChoice};

const PORTAL: &str = "portal-production";

/// The value of one sample in Prometheus text (`name{labels}`), or 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

async fn scrape(admin: &TestClient) -> String {
    let answer = admin.send(Method::GET, "/metrics", &[], "").await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    String::from_utf8(answer.bytes.to_vec()).unwrap()
}

/// Polls `/readyz` until it answers `status`, for at most five seconds.
async fn wait_ready(admin: &TestClient, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = admin.send(Method::GET, "/readyz", &[], "").await;
        if answer.status == status {
            return;
        }
        assert!(Instant::now() < deadline, "readyz stayed {}", answer.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn probes_and_metrics_follow_the_flow() {
    let fake = FakeUpstream::new().with_credential(
        PORTAL,
        "id-portal",
        json!({"username": "alice", "password": "pw"}),
    );
    fake.set_mode(LookupMode::Fail500);
    let url = fake.start().await;
    let running = start_sidecar(
        UpstreamChoice::Url(url),
        Options {
            ops: OpsConfig {
                prefetch: vec![PORTAL.into()],
                ..OpsConfig::default()
            },
            ..Options::default()
        },
    )
    .await;
    let admin = TestClient::new(&running.admin_url);
    let health = admin.send(Method::GET, "/healthz", &[], "").await;
    assert_eq!(health.status, 200);
    let ready = admin.send(Method::GET, "/readyz", &[], "").await;
    assert_eq!(ready.status, 503, "not ready while the prefetch fails");

    fake.set_mode(LookupMode::Normal);
    wait_ready(&admin, 200).await;
    let lookups_after_warmup = fake.lookups();

    let client = TestClient::new(&running.url);
    let job = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(job.status, 200, "{}", job.json);
    assert_eq!(
        fake.lookups(),
        lookups_after_warmup,
        "prefetched: no lookup"
    );
    let missing = json!({"workflow": "w", "params": {"p": "{{credential:nope}}"}});
    let refused = call(&client, "jobs/create", missing).await;
    assert_eq!(refused.status, 422);
    let upsert = json!({"name": PORTAL, "credentials": {"username": "bob", "password": "pw2"}});
    assert_eq!(
        call(&client, "credentials/upsert", upsert).await.status,
        200
    );
    assert_eq!(call(&client, "jobs/list", json!({})).await.status, 200);

    let text = scrape(&admin).await;
    let series = |s: &str| sample(&text, &format!("libretto_sidecar_{s}"));
    assert_eq!(
        series(r#"requests_total{route="jobs/create",status="200"}"#),
        1.0,
        "{text}"
    );
    assert_eq!(
        series(r#"requests_total{route="jobs/create",status="422"}"#),
        1.0
    );
    assert_eq!(
        series(r#"requests_total{route="jobs/list",status="200"}"#),
        1.0
    );
    assert_eq!(series(r#"errors_total{code="CREDENTIAL_NOT_FOUND"}"#), 1.0);
    assert_eq!(series("placeholders_resolved_total"), 2.0);
    assert!(series("cache_hits_total") >= 1.0);
    assert!(series("cache_misses_total") >= 2.0, "prefetch and `nope`");
    assert!(
        series("cache_evictions_total") >= 1.0,
        "the upsert dropped one"
    );
    assert_eq!(series("stale_serves_total"), 0.0);
    assert_eq!(
        series(r#"upstream_request_duration_seconds_count{route="jobs/create",status="2xx"}"#),
        1.0
    );
    let lookups: f64 = ["2xx", "4xx", "5xx", "error"]
        .iter()
        .map(|class| {
            series(&format!(
                r#"upstream_request_duration_seconds_count{{route="credentials/get",status="{class}"}}"#
            ))
        })
        .sum();
    assert!(lookups >= 2.0, "{text}");
    assert!(series(r#"upstream_requests_total{route="credentials/get",status="2xx"}"#) >= 1.0);
    assert!(
        series(r#"upstream_requests_total{route="credentials/get",status="5xx"}"#) >= 1.0,
        "the failed prefetch"
    );
    assert_eq!(series("requests_in_flight"), 0.0);
    assert!(
        series("open_connections") >= 1.0,
        "the client keeps one open"
    );

    running.readiness.begin_shutdown();
    let stopping = admin.send(Method::GET, "/readyz", &[], "").await;
    assert_eq!(stopping.status, 503);
}

#[tokio::test]
async fn the_stores_the_sidecar_holds_are_gauged() {
    let fake = FakeUpstream::new().with_credential(
        PORTAL,
        "id-portal",
        json!({"username": "alice", "password": "pw-of-alice"}),
    );
    let url = fake.start().await;
    let running = start_sidecar(UpstreamChoice::Url(url), Options::default()).await;
    let admin = TestClient::new(&running.admin_url);
    let text = scrape(&admin).await;
    let series = |text: &str, s: &str| sample(text, &format!("libretto_sidecar_{s}"));
    assert_eq!(series(&text, "job_memory_entries"), 0.0, "{text}");
    assert_eq!(series(&text, "known_secret_values"), 0.0);
    assert_eq!(series(&text, "known_secret_bytes"), 0.0);

    let client = TestClient::new(&running.url);
    let job = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(job.status, 200, "{}", job.json);
    let text = scrape(&admin).await;
    assert_eq!(series(&text, "job_memory_entries"), 1.0, "{text}");
    assert!(series(&text, "job_memory_weight_kib") >= 1.0);
    assert_eq!(series(&text, "known_secret_values"), 1.0);
    assert!(
        series(&text, "known_secret_bytes") >= "pw-of-alice".len() as f64,
        "{text}"
    );

    // The cache counts as moka catches up, which later lookups make it do.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = scrape(&admin).await;
        if series(&text, "cache_entries") == 1.0 {
            assert!(series(&text, "cache_weight_kib") >= 1.0, "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "no cache entry counted: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(call(&client, "jobs/create", portal_job()).await.status, 200);
    }
}

#[tokio::test]
async fn request_ids_go_upstream_and_come_back() {
    let (fake, running) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&running.url);
    let sent = call_with(
        &client,
        "jobs/create",
        &[("x-request-id", "trace-abc-123")],
        portal_job(),
    )
    .await;
    assert_eq!(sent.status, 200);
    assert_eq!(sent.headers["x-request-id"], "trace-abc-123");
    for path in ["/v1/credentials/get", "/v1/jobs/create"] {
        let recorded = fake.recorded_at(path);
        assert_eq!(
            recorded[0].headers["x-request-id"], "trace-abc-123",
            "{path}"
        );
    }

    let made = call(&client, "jobs/list", json!({})).await;
    let id = made.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID is made when none is sent");
    assert_eq!(
        fake.recorded_at("/v1/jobs/list")[0].headers["x-request-id"],
        id
    );
}

#[tokio::test]
async fn lookups_are_retried_on_5xx_then_succeed() {
    let (fake, running) = fake_and_sidecar(Options::default()).await;
    fake.fail_next_lookups(2);
    let client = TestClient::new(&running.url);
    let job = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(job.status, 200, "{}", job.json);
    assert_eq!(fake.lookups(), 3);
}

#[tokio::test]
async fn lookups_give_up_after_a_bounded_number_of_attempts() {
    let (fake, running) = fake_and_sidecar(Options::default()).await;
    fake.set_mode(LookupMode::Fail500);
    let client = TestClient::new(&running.url);
    let job = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(job.status, 502);
    assert_eq!(job.json["json"]["code"], "UPSTREAM_ERROR");
    assert_eq!(fake.lookups(), LOOKUP_ATTEMPTS as usize);
    assert!(fake.recorded_at("/v1/jobs/create").is_empty());
}

#[tokio::test]
async fn retries_stay_within_the_upstream_timeout() {
    let (fake, running) = fake_and_sidecar(Options {
        timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    fake.set_mode(LookupMode::Hang);
    let client = TestClient::new(&running.url);
    let started = Instant::now();
    let job = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(job.status, 504);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.lookups(), 1, "the hung attempt used up the time");
}

#[tokio::test]
async fn writes_are_never_retried() {
    let (fake, running) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&running.url);
    let job = call_with(
        &client,
        "jobs/create",
        &[("x-echo-status", "503")],
        portal_job(),
    )
    .await;
    assert_eq!(job.status, 503, "the upstream's answer is passed on");
    assert_eq!(fake.recorded_at("/v1/jobs/create").len(), 1);
    let plain = call_with(
        &client,
        "jobs/create",
        &[("x-echo-status", "502")],
        json!({"workflow": "w", "params": {}}),
    )
    .await;
    assert_eq!(plain.status, 502);
    assert_eq!(fake.recorded_at("/v1/jobs/create").len(), 2);
}

/// A sidecar whose key comes from a file holding `key`; the file is not polled within a test.
async fn with_key_file(key: &'static str) -> (FakeUpstream, TestClient, tempfile::TempDir) {
    with_polled_key_file(key, Duration::from_secs(3600)).await
}

/// A sidecar whose key comes from a file holding `key`, checked every `poll`.
async fn with_polled_key_file(
    key: &'static str,
    poll: Duration,
) -> (FakeUpstream, TestClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api-key");
    std::fs::write(&path, format!("{key}\n")).unwrap();
    let fake = FakeUpstream::new().with_credential(
        PORTAL,
        "id-portal",
        json!({"username": "alice", "password": "pw"}),
    );
    let url = fake.start().await;
    let running = start_sidecar(
        UpstreamChoice::Url(url),
        Options {
            key,
            ops: OpsConfig {
                key_file: Some(path),
                key_poll: poll,
                ..OpsConfig::default()
            },
            ..Options::default()
        },
    )
    .await;
    (fake, TestClient::new(&running.url), dir)
}

#[tokio::test]
async fn a_401_rereads_the_key_file_and_retries_once() {
    let (fake, client, dir) = with_key_file("revoked-key").await;
    std::fs::write(dir.path().join("api-key"), UPSTREAM_KEY).unwrap();
    let job = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(job.status, 200, "{}", job.json);
    let lookups = fake.recorded_at("/v1/credentials/get");
    assert_eq!(lookups.len(), 2);
    assert_eq!(lookups[0].headers["x-api-key"], "revoked-key");
    assert_eq!(lookups[1].headers["x-api-key"], UPSTREAM_KEY);
    assert_eq!(
        fake.recorded_at("/v1/jobs/create")[0].headers["x-api-key"],
        UPSTREAM_KEY
    );
}

#[tokio::test]
async fn a_401_that_persists_is_retried_once_then_refused() {
    let (fake, client, _dir) = with_key_file("revoked-key").await;
    let job = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(job.status, 502);
    assert_eq!(job.json["json"]["data"]["upstream_status"], 401);
    assert_eq!(
        fake.recorded_at("/v1/credentials/get").len(),
        2,
        "one re-read, one retry"
    );
}

#[tokio::test]
async fn without_a_key_file_a_401_is_not_retried() {
    let (fake, running) = fake_and_sidecar(Options {
        key: "revoked-key",
        ..Options::default()
    })
    .await;
    let client = TestClient::new(&running.url);
    let job = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(job.status, 502);
    assert_eq!(fake.recorded_at("/v1/credentials/get").len(), 1);
}

fn stale_options(ttl: Duration, window: Duration) -> Options {
    Options {
        timeout: Duration::from_secs(2),
        cache: CacheConfig {
            ttl,
            negative_ttl: Duration::from_millis(100),
            stale_if_error: Some(window),
            ..CacheConfig::default()
        },
        ..Options::default()
    }
}

#[tokio::test]
async fn stale_values_are_served_within_the_window_and_not_after() {
    let ttl = Duration::from_millis(300);
    let window = Duration::from_secs(3);
    let (fake, running) = fake_and_sidecar(stale_options(ttl, window)).await;
    let client = TestClient::new(&running.url);
    let warmed_at = Instant::now();
    let warm = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(warm.status, 200);
    assert!(warm.headers.get("x-libretto-sidecar-stale").is_none());

    // The credentials service goes down; jobs still reach the upstream.
    fake.set_mode(LookupMode::Fail500);
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    for _ in 0..3 {
        let job = call(&client, "jobs/create", portal_job()).await;
        assert_eq!(job.status, 200, "{}", job.json);
        assert_eq!(job.headers["x-libretto-sidecar-stale"], "1");
    }
    assert!(
        warmed_at.elapsed() < ttl + window,
        "still inside the window"
    );
    let username = |index: usize| {
        let jobs = fake.recorded_at("/v1/jobs/create");
        let body: Value = serde_json::from_slice(&jobs[index].body).unwrap();
        body["json"]["params"]["username"].clone()
    };
    assert_eq!(username(3), "alice@example.com");
    let metrics = running.metrics.encode();
    assert!(
        metrics.contains("libretto_sidecar_stale_serves_total 3"),
        "{metrics}"
    );

    tokio::time::sleep(
        (ttl + window + Duration::from_millis(200)).saturating_sub(warmed_at.elapsed()),
    )
    .await;
    let late = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(late.status, 502, "past the window");
    assert!(late.headers.get("x-libretto-sidecar-stale").is_none());

    fake.set_mode(LookupMode::Normal);
    let back = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(back.status, 200);
    assert!(back.headers.get("x-libretto-sidecar-stale").is_none());
}

#[tokio::test]
async fn never_stale_on_404_or_401() {
    let ttl = Duration::from_millis(100);
    let (fake, running) = fake_and_sidecar(stale_options(ttl, Duration::from_secs(60))).await;
    let client = TestClient::new(&running.url);
    assert_eq!(call(&client, "jobs/create", portal_job()).await.status, 200);
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;

    fake.set_mode(LookupMode::Unauthorized);
    let refused = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(refused.status, 502);
    assert_eq!(refused.json["json"]["data"]["upstream_status"], 401);
    assert!(refused.headers.get("x-libretto-sidecar-stale").is_none());

    fake.set_mode(LookupMode::Normal);
    fake.remove_credential(PORTAL);
    let gone = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(gone.status, 422);
    assert_eq!(gone.json["json"]["code"], "CREDENTIAL_NOT_FOUND");
    assert!(gone.headers.get("x-libretto-sidecar-stale").is_none());

    // Deleted upstream, then the upstream fails: the stale copy is gone too.
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.set_mode(LookupMode::Fail500);
    let failing = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(failing.status, 502);
    assert!(failing.headers.get("x-libretto-sidecar-stale").is_none());
}

/// Replaces the key file the way a Kubernetes Secret volume does: a new file moved into place.
fn rotate_key_file(dir: &tempfile::TempDir, key: &str) {
    let staged = dir.path().join("api-key.new");
    std::fs::write(&staged, format!("{key}\n")).unwrap();
    std::fs::rename(&staged, dir.path().join("api-key")).unwrap();
}

/// The `x-api-key` of every request the fake received at `path`.
fn keys_at(fake: &FakeUpstream, path: &str) -> Vec<String> {
    fake.recorded_at(path)
        .iter()
        .map(|r| r.headers["x-api-key"].to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_changed_key_file_is_picked_up_without_a_signal_or_a_401() {
    let (fake, client, dir) = with_polled_key_file("key-one", Duration::from_millis(50)).await;
    fake.accept_key("key-one");
    fake.accept_key("key-two");
    let list = || call(&client, "jobs/list", json!({}));
    assert_eq!(list().await.status, 200);
    rotate_key_file(&dir, "key-two");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert_eq!(list().await.status, 200, "no request fails");
        if keys_at(&fake, "/v1/jobs/list").last().unwrap() == "key-two" {
            break;
        }
        assert!(Instant::now() < deadline, "the new key was never used");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(keys_at(&fake, "/v1/jobs/list")[0], "key-one");
}

#[tokio::test]
async fn a_401_on_a_buffered_forward_rereads_the_key_and_sends_it_once_more() {
    let (fake, client, dir) = with_key_file("revoked-key").await;
    rotate_key_file(&dir, UPSTREAM_KEY);

    // A streamed request cannot be replayed: its 401 is passed on as it came.
    let listed = call(&client, "jobs/list", json!({})).await;
    assert_eq!(listed.status, 401);
    assert_eq!(keys_at(&fake, "/v1/jobs/list"), ["revoked-key"]);

    // A job without placeholders makes no lookup: the forward itself meets the 401.
    let plain = json!({"workflow": "w", "params": {"memberId": "1"}});
    let job = call(&client, "jobs/create", plain).await;
    assert_eq!(job.status, 200, "{}", job.json);
    assert_eq!(
        keys_at(&fake, "/v1/jobs/create"),
        ["revoked-key", UPSTREAM_KEY]
    );
    let bodies: Vec<_> = fake
        .recorded_at("/v1/jobs/create")
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies[0], bodies[1], "the same body, sent again");
    assert!(fake.recorded_at("/v1/credentials/get").is_empty());
}

#[tokio::test]
async fn a_401_on_a_credential_write_is_sent_once_more_with_the_new_key() {
    let (fake, client, dir) = with_key_file("revoked-key").await;
    rotate_key_file(&dir, UPSTREAM_KEY);
    let upsert = json!({"name": "api", "credentials": {"token": "t0k3n-value"}});
    let written = call(&client, "credentials/upsert", upsert).await;
    assert_eq!(written.status, 200, "{}", written.json);
    assert_eq!(
        keys_at(&fake, "/v1/credentials/upsert"),
        ["revoked-key", UPSTREAM_KEY]
    );
}

#[tokio::test]
async fn a_401_with_an_unchanged_key_file_is_passed_on_without_a_second_send() {
    let (fake, client, _dir) = with_key_file("revoked-key").await;
    let plain = json!({"workflow": "w", "params": {}});
    let job = call(&client, "jobs/create", plain).await;
    assert_eq!(job.status, 401, "the upstream's own answer");
    assert_eq!(fake.recorded_at("/v1/jobs/create").len(), 1);
}

#[tokio::test]
async fn a_lookup_timeout_is_covered_by_a_stale_value_and_counted_once_forwarded() {
    let ttl = Duration::from_millis(200);
    let (fake, running) = fake_and_sidecar(Options {
        timeout: Duration::from_millis(400),
        ..stale_options(ttl, Duration::from_secs(30))
    })
    .await;
    let client = TestClient::new(&running.url);
    let admin = TestClient::new(&running.admin_url);
    assert_eq!(call(&client, "jobs/create", portal_job()).await.status, 200);
    // The credentials service turns slow beyond the timeout; jobs still go through.
    fake.set_lookup_delay(Duration::from_secs(2));
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    let job = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(job.status, 200, "{}", job.json);
    assert_eq!(job.headers["x-libretto-sidecar-stale"], "1");
    assert_eq!(fake.recorded_at("/v1/jobs/create").len(), 2);
    let text = scrape(&admin).await;
    assert_eq!(
        sample(&text, "libretto_sidecar_stale_serves_total"),
        1.0,
        "{text}"
    );

    // Just after a stale serve the stale value is used at once: no new lookup, no wait.
    let lookups = fake.lookups();
    let started = Instant::now();
    let next = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(next.status, 200, "{}", next.json);
    assert_eq!(next.headers["x-libretto-sidecar-stale"], "1");
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "no timeout paid"
    );
    assert_eq!(fake.lookups(), lookups);
    let text = scrape(&admin).await;
    assert_eq!(sample(&text, "libretto_sidecar_stale_serves_total"), 2.0);
}

#[tokio::test]
async fn a_stale_value_that_never_reaches_the_upstream_is_not_counted() {
    let fake = FakeUpstream::new().with_credential(
        PORTAL,
        "id-portal",
        json!({"username": "alice", "password": "pw"}),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let url = fake
        .start_until(async move {
            let _ = stopped.await;
        })
        .await;
    let ttl = Duration::from_millis(200);
    let running = start_sidecar(
        UpstreamChoice::Url(url),
        stale_options(ttl, Duration::from_secs(30)),
    )
    .await;
    let client = TestClient::new(&running.url);
    assert_eq!(call(&client, "jobs/create", portal_job()).await.status, 200);
    // The whole upstream goes away: the lookup is covered, the job cannot be.
    stop.send(()).unwrap();
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    let job = call(&client, "jobs/create", portal_job()).await;
    assert_eq!(job.status, 502, "{}", job.json);
    assert_eq!(job.json["json"]["code"], "UPSTREAM_ERROR");
    let text = scrape(&TestClient::new(&running.admin_url)).await;
    assert_eq!(
        sample(&text, "libretto_sidecar_stale_serves_total"),
        0.0,
        "{text}"
    );
}

#[tokio::test]
async fn in_flight_requests_are_seen_while_a_slow_request_runs() {
    let (_fake, running) = fake_and_sidecar(Options::default()).await;
    let admin = TestClient::new(&running.admin_url);
    let client = TestClient::new(&running.url);
    let slow = tokio::spawn(async move {
        call_with(
            &client,
            "jobs/list",
            &[("x-echo-delay-ms", "1500")],
            json!({}),
        )
        .await
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = scrape(&admin).await;
        if sample(&text, "libretto_sidecar_requests_in_flight") == 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "never in flight: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(slow.await.unwrap().status, 200);
    let text = scrape(&admin).await;
    assert_eq!(sample(&text, "libretto_sidecar_requests_in_flight"), 0.0);
}

#[tokio::test]
async fn a_streamed_answer_stays_in_flight_until_its_body_ends() {
    use http_body_util::BodyExt;
    let (fake, running) = fake_and_sidecar(Options::default()).await;
    let admin = TestClient::new(&running.admin_url);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let request = http::Request::post(format!("{}/v1/stream", running.url))
        .header("content-type", "application/json")
        .body(http_body_util::Empty::new())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .unwrap()
        .unwrap();
    let mut body = response.into_body();
    let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "first;");
    // The head has been answered, the body is still streaming: still in flight.
    let text = scrape(&admin).await;
    assert_eq!(
        sample(&text, "libretto_sidecar_requests_in_flight"),
        1.0,
        "{text}"
    );
    fake.release_stream();
    tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .unwrap()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = scrape(&admin).await;
        if sample(&text, "libretto_sidecar_requests_in_flight") == 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still in flight after the body ended: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn refusals_at_the_connection_cap_are_counted_and_carry_a_request_id() {
    let (_fake, running) = fake_and_sidecar(Options {
        server: ServerOptions {
            max_connections: 1,
            ..ServerOptions::default()
        },
        ..Options::default()
    })
    .await;
    // The first connection holds the only permit while it stays open.
    let held = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    let over = call_with(
        &TestClient::new(&running.url),
        "jobs/list",
        &[("x-request-id", "over-cap-1")],
        json!({}),
    )
    .await;
    assert_eq!(over.status, 503);
    assert_eq!(over.headers["x-request-id"], "over-cap-1");
    let text = scrape(&TestClient::new(&running.admin_url)).await;
    let series = |s: &str| sample(&text, &format!("libretto_sidecar_{s}"));
    assert_eq!(
        series(r#"errors_total{code="SERVICE_UNAVAILABLE"}"#),
        1.0,
        "{text}"
    );
    assert_eq!(
        series(r#"requests_total{route="jobs/list",status="503"}"#),
        1.0
    );
    drop(held);
}

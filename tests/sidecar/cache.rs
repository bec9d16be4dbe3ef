//! The credential cache over real HTTP: TTL and negative TTL on a paused clock, an update that
//! lands while a lookup is in flight, renames and upserts of names remembered as missing, a
//! forged credential-ids header, and the same cold burst and invalidations in front of the
//! real mock (its lookups counted by a wrapping handler).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use serde_json::{json, Value};

use crate::support::http::{call, call_with, Answer, TestClient};
use crate::support::mock::{never_config, ok, DEMO_KEY};
use crate::support::sidecar::{fake_and_sidecar, start_sidecar, Options};
use crate::support::upstream::PORTAL_ID;

use libretto_sidecar::http::body::Body;
use libretto_sidecar::http::server::{self, Handler, ServerOptions};
use libretto_sidecar::mock::Mock;
use libretto_sidecar::sidecar::credentials::cache::CacheConfig;
use libretto_sidecar::sidecar::UpstreamChoice;

fn job(placeholder: &str) -> Value {
    json!({"workflow": "w", "params": {"p": placeholder}})
}

/// Keeps tokio's paused clock from jumping ahead on its own while real sockets are busy: a
/// blocking task in flight stops auto-advance, so time moves only by `advance`.
fn hold_the_clock() -> std::sync::mpsc::Sender<()> {
    let (release, held) = std::sync::mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        let _ = held.recv();
    });
    release
}

#[tokio::test(start_paused = true)]
async fn entries_expire_after_the_ttl_and_misses_after_the_negative_ttl() {
    let _held = hold_the_clock();
    let options = Options {
        cache: CacheConfig {
            ttl: Duration::from_secs(3),
            negative_ttl: Duration::from_secs(1),
            ..CacheConfig::default()
        },
        // The paused clock is this runtime's: the connections are served on it.
        server: ServerOptions::default(),
        ..Options::default()
    };
    let (fake, sidecar) = fake_and_sidecar(options).await;
    let client = TestClient::new(&sidecar.url);
    let found = job("{{credential:portal-production/username}}");
    let missing = job("{{credential:nope}}");
    for _ in 0..2 {
        assert_eq!(
            call(&client, "jobs/create", found.clone()).await.status,
            200
        );
        assert_eq!(
            call(&client, "jobs/create", missing.clone()).await.status,
            422
        );
    }
    assert_eq!(fake.lookups(), 2, "one lookup per name");

    tokio::time::advance(Duration::from_millis(1500)).await;
    assert_eq!(
        call(&client, "jobs/create", found.clone()).await.status,
        200
    );
    assert_eq!(
        call(&client, "jobs/create", missing.clone()).await.status,
        422
    );
    assert_eq!(fake.lookups(), 3, "only the miss expired");

    tokio::time::advance(Duration::from_millis(1600)).await;
    assert_eq!(call(&client, "jobs/create", found).await.status, 200);
    assert_eq!(fake.lookups(), 4, "the found entry expired");
}

#[tokio::test]
async fn an_update_during_a_lookup_in_flight_is_not_undone() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    fake.set_lookup_delay(Duration::from_millis(300));
    let client = TestClient::new(&sidecar.url);
    let password = job("{{credential:portal-production/password}}");
    let first = {
        let client = client.clone();
        let password = password.clone();
        tokio::spawn(async move { call(&client, "jobs/create", password).await })
    };
    // Wait (bounded) until the slow lookup has read the old value.
    for _ in 0..200 {
        if fake.lookups() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(fake.lookups(), 1);
    let updated = call(
        &client,
        "credentials/update",
        json!({"id": PORTAL_ID, "credentials": {"password": "rotated"}}),
    )
    .await;
    assert_eq!(updated.status, 200);
    assert_eq!(first.await.unwrap().status, 200);
    fake.set_lookup_delay(Duration::ZERO);
    assert_eq!(call(&client, "jobs/create", password).await.status, 200);
    let jobs = fake.recorded_at("/v1/jobs/create");
    let last: Value = serde_json::from_slice(&jobs[1].body).unwrap();
    assert_eq!(last["json"]["params"]["p"], "rotated");
    assert_eq!(fake.lookups(), 2);
}

#[tokio::test]
async fn a_rename_or_upsert_ends_a_remembered_miss() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let renamed = job("{{credential:portal-renamed/username}}");
    assert_eq!(
        call(&client, "jobs/create", renamed.clone()).await.status,
        422
    );
    let update = json!({"id": PORTAL_ID, "name": "portal-renamed"});
    assert_eq!(
        call(&client, "credentials/update", update).await.status,
        200
    );
    let answer = call(&client, "jobs/create", renamed).await;
    assert_eq!(answer.status, 200, "{}", answer.json);

    let upserted = job("{{credential:fresh/key}}");
    assert_eq!(
        call(&client, "jobs/create", upserted.clone()).await.status,
        422
    );
    let upsert = json!({"name": "fresh", "credentials": {"key": "k"}});
    assert_eq!(
        call(&client, "credentials/upsert", upsert).await.status,
        200
    );
    let answer = call(&client, "jobs/create", upserted).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(fake.lookups(), 4);
}

#[tokio::test]
async fn a_forged_credential_ids_header_never_reaches_upstream() {
    let (fake, sidecar) = fake_and_sidecar(Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let forged = [("x-libretto-credential-ids", "forged-id")];
    let with = job("{{credential:portal-production/username}}");
    assert_eq!(
        call_with(&client, "jobs/create", &forged, with)
            .await
            .status,
        200
    );
    let without = job("no placeholder");
    assert_eq!(
        call_with(&client, "jobs/create", &forged, without)
            .await
            .status,
        200
    );
    let jobs = fake.recorded_at("/v1/jobs/create");
    let ids: Vec<_> = jobs
        .iter()
        .map(|job| {
            job.headers
                .get_all("x-libretto-credential-ids")
                .iter()
                .count()
        })
        .collect();
    assert_eq!(ids, [1, 0]);
    assert_eq!(jobs[0].headers["x-libretto-credential-ids"], PORTAL_ID);
}

/// The real mock, with its `credentials/get` calls counted and slowed so a burst overlaps.
#[derive(Clone)]
struct CountingMock {
    mock: Mock,
    lookups: Arc<AtomicUsize>,
    delay: Duration,
}

impl Handler for CountingMock {
    async fn call(&self, request: Request<Incoming>) -> Response<Body> {
        if request.uri().path() == "/v1/credentials/get" {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
        }
        self.mock.call(request).await
    }
}

/// The demo mock behind a counter, and a sidecar in front of it.
async fn counted_mock(delay: Duration) -> (CountingMock, String, TestClient) {
    let mock = Mock::new(never_config());
    mock.load_fixtures(libretto_sidecar::mock::DEMO_FIXTURES)
        .unwrap();
    let counting = CountingMock {
        mock,
        lookups: Arc::new(AtomicUsize::new(0)),
        delay,
    };
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::serve(
        listener,
        counting.clone(),
        ServerOptions::default(),
        std::future::pending::<()>(),
    ));
    let options = Options {
        key: DEMO_KEY,
        ..Options::default()
    };
    let sidecar = start_sidecar(UpstreamChoice::Url(base.clone()), options).await;
    (counting, base, TestClient::new(sidecar.url))
}

#[tokio::test]
async fn a_cold_burst_in_front_of_the_mock_makes_one_lookup() {
    let (counting, _, client) = counted_mock(Duration::from_millis(200)).await;
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            call(
                &client,
                "jobs/create",
                job("{{credential:portal-production/username}}"),
            )
            .await
            .status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(counting.lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn writes_through_the_sidecar_invalidate_in_front_of_the_mock() {
    let (counting, base, client) = counted_mock(Duration::ZERO).await;
    let lookups = || counting.lookups.load(Ordering::SeqCst);
    let direct = TestClient::new(base);
    let listed = ok(&direct.call(DEMO_KEY, "credentials/list", json!({})).await);
    let id = listed["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "portal-production")
        .unwrap()["credential_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let password = || job("{{credential:portal-production/password}}");
    let launched_password = |answer: &Answer| {
        let job_id = ok(answer)["job_id"].as_str().unwrap().to_owned();
        let direct = direct.clone();
        async move {
            let job = ok(&direct
                .call(DEMO_KEY, "jobs/get", json!({"id": job_id}))
                .await);
            job["params"]["p"].clone()
        }
    };
    call(&client, "jobs/create", password()).await;
    call(&client, "jobs/create", password()).await;
    assert_eq!(lookups(), 1);

    // Update with the id in upper case: still the same credential.
    let update = json!({"id": id.to_uppercase(), "credentials": {"password": "rotated"}});
    ok(&call(&client, "credentials/update", update).await);
    let answer = call(&client, "jobs/create", password()).await;
    assert_eq!(launched_password(&answer).await, "rotated");
    assert_eq!(lookups(), 2);

    // Rename: the old name is gone at once, the new one resolves.
    ok(&call(
        &client,
        "credentials/update",
        json!({"id": id, "name": "portal-moved"}),
    )
    .await);
    let old = call(&client, "jobs/create", password()).await;
    assert_eq!(old.status, 422, "{}", old.json);
    let moved = call(
        &client,
        "jobs/create",
        job("{{credential:portal-moved/password}}"),
    )
    .await;
    assert_eq!(launched_password(&moved).await, "rotated");

    // Delete (once no live job needs it): the next job finds nothing.
    let plain = call(&client, "jobs/create", job("{{credential:plain}}")).await;
    ok(&plain);
    let plain_id = ok(&direct.call(DEMO_KEY, "credentials/list", json!({})).await)["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "plain")
        .unwrap()["credential_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job_id = ok(&plain)["job_id"].as_str().unwrap().to_owned();
    ok(&direct
        .call(DEMO_KEY, "jobs/cancel", json!({"id": job_id}))
        .await);
    let deleted = call(
        &client,
        "credentials/delete",
        json!({"id": plain_id.to_uppercase()}),
    )
    .await;
    ok(&deleted);
    let gone = call(&client, "jobs/create", job("{{credential:plain}}")).await;
    assert_eq!(gone.status, 422, "{}", gone.json);
}

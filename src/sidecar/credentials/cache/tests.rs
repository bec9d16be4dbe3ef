//! Unit tests of `cache`.

use std::sync::atomic::AtomicUsize;

use serde_json::json;

use super::*;
use crate::secret::Secret;
use serde_json::Value;

fn config() -> CacheConfig {
    CacheConfig {
        ttl: Duration::from_secs(60),
        negative_ttl: Duration::from_secs(5),
        capacity: 100,
        stale_if_error: None,
    }
}

fn found(id: &str, value: &Value) -> Option<FetchedCredential> {
    Some(FetchedCredential {
        id: id.to_owned(),
        value: Secret::new(serde_json::to_vec(value).unwrap()),
    })
}

/// Looks `name` up, counting fetches, answering with `answer`.
async fn lookup(
    cache: &CredentialCache,
    calls: &AtomicUsize,
    name: &str,
    answer: Option<(&str, Value)>,
) -> Result<Option<CachedCredential>, CacheError> {
    cache
        .get(name, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(answer.as_ref().and_then(|(id, value)| found(id, value)))
        })
        .await
}

#[tokio::test(start_paused = true)]
async fn found_entries_expire_after_the_ttl() {
    let cache = CredentialCache::new(config());
    let calls = AtomicUsize::new(0);
    let value = json!({"username": "u", "password": "p"});
    let first = lookup(&cache, &calls, "portal", Some(("c1", value.clone())))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.id(), "c1");
    assert_eq!(*first.open().unwrap(), value);
    tokio::time::advance(Duration::from_secs(59)).await;
    lookup(&cache, &calls, "portal", Some(("c1", value.clone())))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "served from cache");
    tokio::time::advance(Duration::from_secs(2)).await;
    lookup(&cache, &calls, "portal", Some(("c1", value)))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "refetched after the TTL");
}

#[tokio::test(start_paused = true)]
async fn misses_are_remembered_for_the_negative_ttl() {
    let cache = CredentialCache::new(config());
    let calls = AtomicUsize::new(0);
    for _ in 0..3 {
        assert!(lookup(&cache, &calls, "nope", None)
            .await
            .unwrap()
            .is_none());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    tokio::time::advance(Duration::from_secs(6)).await;
    assert!(lookup(&cache, &calls, "nope", None)
        .await
        .unwrap()
        .is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn errors_are_not_cached() {
    let cache = CredentialCache::new(config());
    let calls = AtomicUsize::new(0);
    let failed = cache
        .get("portal", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(UpstreamError::Status(500))
        })
        .await;
    assert_eq!(
        failed.unwrap_err(),
        CacheError::Upstream(UpstreamError::Status(500))
    );
    lookup(&cache, &calls, "portal", Some(("c1", json!("s"))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let cache = CredentialCache::new(config());
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let cache = cache.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .get("portal", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(found("c1", &json!("s")))
                })
                .await
                .unwrap()
                .unwrap()
                .id()
                .to_owned()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), "c1");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn invalidation_by_name_and_by_id() {
    let cache = CredentialCache::new(config());
    let calls = AtomicUsize::new(0);
    lookup(&cache, &calls, "a", Some(("id-a", json!("1"))))
        .await
        .unwrap();
    lookup(&cache, &calls, "b", Some(("id-b", json!("2"))))
        .await
        .unwrap();
    cache.invalidate_name("a").await;
    cache.invalidate_id("id-b").await;
    cache.invalidate_id("unknown").await;
    lookup(&cache, &calls, "a", Some(("id-a", json!("1"))))
        .await
        .unwrap();
    lookup(&cache, &calls, "b", Some(("id-b", json!("2"))))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

async fn failing(
    cache: &CredentialCache,
    name: &str,
    err: UpstreamError,
) -> Result<Option<CachedCredential>, CacheError> {
    cache.get(name, || async move { Err(err) }).await
}

#[tokio::test(start_paused = true)]
async fn expired_entries_are_served_stale_within_the_window_only() {
    let metrics = Metrics::new();
    let cache = CredentialCache::with_metrics(
        CacheConfig {
            stale_if_error: Some(Duration::from_secs(30)),
            ..config()
        },
        metrics.clone(),
    );
    let calls = AtomicUsize::new(0);
    lookup(&cache, &calls, "portal", Some(("c1", json!("s"))))
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(61)).await;
    for err in [
        UpstreamError::Unreachable("refused".into()),
        UpstreamError::Timeout,
        UpstreamError::Status(503),
    ] {
        let stale = failing(&cache, "portal", err).await.unwrap().unwrap();
        assert!(stale.is_stale());
        assert_eq!(*stale.open().unwrap(), json!("s"));
        // Past the hold, so the next lookup asks upstream again.
        tokio::time::advance(STALE_HOLD).await;
    }
    for err in [
        UpstreamError::Status(401),
        UpstreamError::Status(403),
        UpstreamError::Unreadable,
    ] {
        assert!(failing(&cache, "portal", err).await.is_err());
    }
    // Counted by the proxy once a stale value is forwarded, not here.
    assert!(metrics
        .encode()
        .contains("libretto_sidecar_stale_serves_total 0"));
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(failing(&cache, "portal", UpstreamError::Timeout)
        .await
        .is_err());
}

#[tokio::test(start_paused = true)]
async fn a_stale_serve_holds_the_name_without_lookups_for_a_short_while() {
    let cache = CredentialCache::new(CacheConfig {
        stale_if_error: Some(Duration::from_secs(300)),
        ..config()
    });
    let calls = AtomicUsize::new(0);
    lookup(&cache, &calls, "portal", Some(("c1", json!("s"))))
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(61)).await;
    let stale = failing(&cache, "portal", UpstreamError::Timeout)
        .await
        .unwrap()
        .unwrap();
    assert!(stale.is_stale());
    // Held: served stale without calling upstream.
    tokio::time::advance(STALE_HOLD - Duration::from_millis(1)).await;
    let held = lookup(&cache, &calls, "portal", Some(("c1", json!("new"))))
        .await
        .unwrap()
        .unwrap();
    assert!(held.is_stale());
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no lookup while held");
    // After the hold, the upstream is asked again.
    tokio::time::advance(Duration::from_millis(2)).await;
    let fresh = lookup(&cache, &calls, "portal", Some(("c1", json!("new"))))
        .await
        .unwrap()
        .unwrap();
    assert!(!fresh.is_stale());
    assert_eq!(*fresh.open().unwrap(), json!("new"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // An invalidation ends the hold too.
    tokio::time::advance(Duration::from_secs(61)).await;
    failing(&cache, "portal", UpstreamError::Timeout)
        .await
        .unwrap()
        .unwrap();
    cache.invalidate_name("portal").await;
    assert!(failing(&cache, "portal", UpstreamError::Timeout)
        .await
        .is_err());
}

#[tokio::test(start_paused = true)]
async fn not_found_and_invalidation_end_stale_serving() {
    let cache = CredentialCache::new(CacheConfig {
        stale_if_error: Some(Duration::from_secs(300)),
        ..config()
    });
    let calls = AtomicUsize::new(0);
    for name in ["gone", "dropped", "by-id"] {
        lookup(&cache, &calls, name, Some((name, json!("s"))))
            .await
            .unwrap();
    }
    tokio::time::advance(Duration::from_secs(61)).await;
    assert!(lookup(&cache, &calls, "gone", None)
        .await
        .unwrap()
        .is_none());
    tokio::time::advance(Duration::from_secs(6)).await;
    assert!(failing(&cache, "gone", UpstreamError::Timeout)
        .await
        .is_err());
    cache.invalidate_name("dropped").await;
    assert!(failing(&cache, "dropped", UpstreamError::Timeout)
        .await
        .is_err());
    cache.invalidate_id("by-id").await;
    assert!(failing(&cache, "by-id", UpstreamError::Timeout)
        .await
        .is_err());
}

#[tokio::test]
async fn without_the_window_nothing_is_served_stale() {
    let cache = CredentialCache::new(CacheConfig {
        ttl: Duration::ZERO,
        ..config()
    });
    let calls = AtomicUsize::new(0);
    lookup(&cache, &calls, "portal", Some(("c1", json!("s"))))
        .await
        .unwrap();
    assert!(failing(&cache, "portal", UpstreamError::Timeout)
        .await
        .is_err());
}

#[tokio::test]
async fn values_are_kept_sealed() {
    let cache = CredentialCache::new(config());
    let calls = AtomicUsize::new(0);
    let got = lookup(
        &cache,
        &calls,
        "a",
        Some(("id-a", json!({"password": "hunter2"}))),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!got.sealed.windows(7).any(|w| w == b"hunter2"));
    assert!(!format!("{got:?}").contains("hunter2"));
}

#[tokio::test]
async fn ids_match_in_any_case_and_unknown_ids_drop_everything() {
    let cache = CredentialCache::new(config());
    let calls = AtomicUsize::new(0);
    let id = "11111111-aaaa-4bbb-8ccc-dddddddddddd";
    lookup(&cache, &calls, "a", Some((id, json!("1"))))
        .await
        .unwrap();
    lookup(&cache, &calls, "b", Some(("id-b", json!("2"))))
        .await
        .unwrap();
    cache.invalidate_id(&id.to_uppercase()).await;
    lookup(&cache, &calls, "a", Some((id, json!("1"))))
        .await
        .unwrap();
    lookup(&cache, &calls, "b", Some(("id-b", json!("2"))))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "only `a` was dropped");
    cache
        .invalidate_id("99999999-aaaa-4bbb-8ccc-dddddddddddd")
        .await;
    lookup(&cache, &calls, "a", Some((id, json!("1"))))
        .await
        .unwrap();
    lookup(&cache, &calls, "b", Some(("id-b", json!("2"))))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 5, "an unknown id drops all");
}

#[tokio::test(start_paused = true)]
async fn an_invalidation_beats_a_lookup_in_flight() {
    let cache = CredentialCache::new(config());
    let calls = Arc::new(AtomicUsize::new(0));
    let slow = {
        let cache = cache.clone();
        let calls = calls.clone();
        tokio::spawn(async move {
            cache
                .get("portal", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(found("c1", &json!("old")))
                })
                .await
                .unwrap()
                .unwrap()
                .open()
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    cache.invalidate_name("portal").await;
    assert_eq!(*slow.await.unwrap(), json!("old"), "its own caller gets it");
    let fresh = cache
        .get("portal", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(found("c1", &json!("new")))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*fresh.open().unwrap(), json!("new"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_everything_beats_a_lookup_in_flight() {
    let cache = CredentialCache::new(config());
    let calls = Arc::new(AtomicUsize::new(0));
    let slow = {
        let cache = cache.clone();
        let calls = calls.clone();
        tokio::spawn(async move {
            cache
                .get("portal", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(None)
                })
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    cache.invalidate_all();
    assert!(slow.await.unwrap().is_none());
    let created = lookup(&cache, &calls, "portal", Some(("c1", json!("s"))))
        .await
        .unwrap();
    assert!(created.is_some(), "the miss fetched before was not kept");
}

#[tokio::test]
async fn long_names_weigh_by_their_bytes() {
    let cache = CredentialCache::new(CacheConfig {
        capacity: 64,
        ..config()
    });
    let calls = AtomicUsize::new(0);
    // 200 misses for 64 KiB names: counted by entries they would hold 12.8 MiB.
    for i in 0..200 {
        let name = format!("{i}-{}", "n".repeat(64 << 10));
        lookup(&cache, &calls, &name, None).await.unwrap();
    }
    let weight = cache.weighted_size().await;
    assert!(weight <= 64, "weight {weight}");
    // Each such entry weighs 65 units: at most one fits in 64 units.
    assert!(cache.entry_count() <= 1, "{} entries", cache.entry_count());
    // Short names still count one each.
    for i in 0..10 {
        lookup(&cache, &calls, &format!("short-{i}"), None)
            .await
            .unwrap();
    }
    assert_eq!(cache.weighted_size().await, cache.entry_count());
}

//! The credential cache: what `credentials/get` answered, kept sealed, keyed by name.
//!
//! Every `jobs/create` with placeholders needs its credentials; asking upstream each time would
//! add a round trip per job and turn a burst of jobs into a burst of lookups. Entries live for
//! `--cache-ttl`; a name the upstream does not know is remembered for the shorter
//! `--negative-ttl`, so a typo cannot hammer upstream. Concurrent misses for one name share a
//! single upstream call (moka's `try_get_with`); a failed call is not cached, its error goes to
//! every waiter. Values are sealed with a per-process key and opened only while a body is
//! rewritten. Writes that pass through the sidecar drop entries by name or by id, so an id →
//! name index is kept beside the cache.
//!
//! Freshness is decided on tokio's clock (so tests can pause it); moka's own per-entry expiry,
//! set to the same durations, reclaims the memory.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use moka::Expiry;
use serde_json::Value;
use tokio::time::Instant;
use tracing::debug;

use crate::seal::{SealError, Sealer};
use crate::upstream::{FetchedCredential, UpstreamError};

/// Cache sizing and lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    /// How long a found credential is served from the cache.
    pub ttl: Duration,
    /// How long "no such credential" is remembered.
    pub negative_ttl: Duration,
    /// Most entries kept at once.
    pub capacity: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            capacity: 10_000,
        }
    }
}

/// Why a lookup through the cache failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("credential value could not be sealed or opened")]
    Seal,
}

impl From<SealError> for CacheError {
    fn from(_: SealError) -> Self {
        Self::Seal
    }
}

/// One cache entry: found (sealed) or not found, and until when it is fresh.
#[derive(Clone)]
struct Entry {
    state: State,
    fresh_until: Instant,
    /// Tells this entry apart from a later one under the same name.
    serial: u64,
}

#[derive(Clone)]
enum State {
    Found { id: Arc<str>, sealed: Arc<[u8]> },
    Missing,
}

/// moka's expiry per entry: found entries live for the TTL, misses for the negative TTL.
struct EntryExpiry {
    ttl: Duration,
    negative_ttl: Duration,
}

impl EntryExpiry {
    fn lifetime(&self, entry: &Entry) -> Duration {
        match entry.state {
            State::Found { .. } => self.ttl,
            State::Missing => self.negative_ttl,
        }
    }
}

impl Expiry<String, Entry> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Entry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(self.lifetime(value))
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Entry,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.lifetime(value))
    }
}

/// Whether a lookup was answered from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Hit,
    Miss,
}

/// A credential served from the cache, still sealed; [`CachedCredential::open`] yields its value.
#[derive(Clone)]
pub struct CachedCredential {
    name: Arc<str>,
    id: Arc<str>,
    sealed: Arc<[u8]>,
    sealer: Sealer,
}

impl CachedCredential {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Opens the sealed value: the credential's `value` as JSON (object or string).
    pub fn open(&self) -> Result<Value, CacheError> {
        let plain = self
            .sealer
            .open(&[self.name.as_bytes(), self.id.as_bytes()], &self.sealed)?;
        serde_json::from_slice(plain.expose()).map_err(|_| CacheError::Seal)
    }
}

impl std::fmt::Debug for CachedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedCredential")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The cache handle. Cheap to clone; clones share the entries.
#[derive(Clone)]
pub struct CredentialCache {
    inner: Arc<Inner>,
}

struct Inner {
    entries: Cache<String, Entry>,
    /// Credential id → the name it is cached under.
    ids: Arc<DashMap<String, String>>,
    sealer: Sealer,
    config: CacheConfig,
    serial: AtomicU64,
}

impl CredentialCache {
    pub fn new(config: CacheConfig) -> Self {
        let ids: Arc<DashMap<String, String>> = Arc::new(DashMap::new());
        let listener_ids = ids.clone();
        let entries = Cache::builder()
            .max_capacity(config.capacity)
            .expire_after(EntryExpiry {
                ttl: config.ttl,
                negative_ttl: config.negative_ttl,
            })
            .eviction_listener(move |name: Arc<String>, entry: Entry, cause| {
                // A replaced entry may share its id with the new one; only removals unmap it.
                if cause != RemovalCause::Replaced {
                    if let State::Found { id, .. } = &entry.state {
                        listener_ids.remove_if(id.as_ref(), |_, mapped| mapped == name.as_str());
                    }
                }
            })
            .build();
        Self {
            inner: Arc::new(Inner {
                entries,
                ids,
                sealer: Sealer::random(),
                config,
                serial: AtomicU64::new(0),
            }),
        }
    }

    /// The credential called `name`, from the cache or else from `fetch` (called at most once
    /// however many callers miss at the same time). `Ok(None)`: no such credential.
    pub async fn get<F, Fut>(
        &self,
        name: &str,
        fetch: F,
    ) -> Result<Option<CachedCredential>, CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<FetchedCredential>, UpstreamError>>,
    {
        self.lookup(name, fetch).await.map(|(found, _)| found)
    }

    /// Like [`CredentialCache::get`], and says whether the answer came from the cache (a
    /// caller that waited on another caller's fetch counts as a miss).
    pub async fn lookup<F, Fut>(
        &self,
        name: &str,
        fetch: F,
    ) -> Result<(Option<CachedCredential>, Lookup), CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<FetchedCredential>, UpstreamError>>,
    {
        if let Some(entry) = self.inner.entries.get(name).await {
            if entry.fresh_until > Instant::now() {
                debug!(credential = name, "Credential cache hit");
                return Ok((self.view(name, entry), Lookup::Hit));
            }
            self.remove_if_same(name, entry.serial).await;
        }
        debug!(credential = name, "Credential cache miss");
        let inner = self.inner.clone();
        let owned = name.to_owned();
        let entry = self
            .inner
            .entries
            .try_get_with(name.to_owned(), async move {
                let fetched = fetch().await?;
                inner.make_entry(&owned, fetched)
            })
            .await
            .map_err(|shared| (*shared).clone())?;
        Ok((self.view(name, entry), Lookup::Miss))
    }

    /// Drops the entry for `name`, found or not found.
    pub async fn invalidate_name(&self, name: &str) {
        if let Some(entry) = self.inner.entries.remove(name).await {
            if let State::Found { id, .. } = entry.state {
                self.inner
                    .ids
                    .remove_if(id.as_ref(), |_, mapped| mapped == name);
            }
            debug!(credential = name, "Credential cache entry dropped");
        }
    }

    /// Drops the entry of the credential with this id, if it is cached.
    pub async fn invalidate_id(&self, id: &str) {
        if let Some((_, name)) = self.inner.ids.remove(id) {
            self.invalidate_name(&name).await;
        }
    }

    /// Entries currently held (approximate, as moka counts lazily).
    pub fn entry_count(&self) -> u64 {
        self.inner.entries.entry_count()
    }

    fn view(&self, name: &str, entry: Entry) -> Option<CachedCredential> {
        match entry.state {
            State::Found { id, sealed } => Some(CachedCredential {
                name: Arc::from(name),
                id,
                sealed,
                sealer: self.inner.sealer.clone(),
            }),
            State::Missing => None,
        }
    }

    /// Removes the entry under `name` only if it is still the one with `serial`, so a stale
    /// reader cannot drop the fresh entry another request has just put in.
    async fn remove_if_same(&self, name: &str, serial: u64) {
        self.inner
            .entries
            .entry(name.to_owned())
            .and_compute_with(|current| {
                let op = match current {
                    Some(current) if current.value().serial == serial => Op::Remove,
                    _ => Op::Nop,
                };
                std::future::ready(op)
            })
            .await;
    }
}

impl Inner {
    fn make_entry(
        &self,
        name: &str,
        fetched: Option<FetchedCredential>,
    ) -> Result<Entry, CacheError> {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let Some(fetched) = fetched else {
            return Ok(Entry {
                state: State::Missing,
                fresh_until: now + self.config.negative_ttl,
                serial,
            });
        };
        let sealed = self.sealer.seal(
            &[name.as_bytes(), fetched.id.as_bytes()],
            fetched.value.expose(),
        )?;
        self.ids.insert(fetched.id.clone(), name.to_owned());
        Ok(Entry {
            state: State::Found {
                id: Arc::from(fetched.id),
                sealed: Arc::from(sealed),
            },
            fresh_until: now + self.config.ttl,
            serial,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use serde_json::json;

    use super::*;
    use crate::secret::Secret;

    fn config() -> CacheConfig {
        CacheConfig {
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            capacity: 100,
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
        assert_eq!(first.open().unwrap(), value);
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
}

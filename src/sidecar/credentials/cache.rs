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
//! Ids are indexed in canonical form (a UUID in lower case with hyphens), so a write naming
//! the id in another spelling still finds it; a write naming an id the index does not know
//! drops the whole cache, since writes are rare and a stale secret is not.
//!
//! An invalidation must also beat a lookup already in flight, which would otherwise put the
//! value it fetched before the write into the cache after the write. Each invalidation bumps a
//! generation counter (one of a fixed set of stripes chosen by the name, or a global one for
//! dropping everything) before it removes anything; every entry remembers the generation seen
//! before its fetch began, and an entry whose generation has moved on is never served again.
//! The request that fetched it still gets its value; it began before the write.
//!
//! Freshness is decided on tokio's clock (so tests can pause it); moka's own per-entry expiry,
//! set to the same durations, reclaims the memory.
//!
//! With `--stale-if-error` a second, bounded store keeps each found credential for its TTL
//! plus the stale window. It is read only when a lookup fails in a way that may pass (connect
//! error, timeout, 5xx): an entry that expired less than the window ago is then served and
//! marked stale. A "not found" answer and every invalidation drop the stale copy too, so a
//! deleted credential is never served from it. After a stale serve the name is held on its
//! stale copy for a short while ([`STALE_HOLD`], at most the window) without asking upstream
//! again, so a hung upstream costs one `--upstream-timeout`, not one per request.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::secret::seal::{SealError, Sealer};
use crate::sidecar::metrics::Metrics;
use crate::sidecar::upstream::credential_answer::FetchedCredential;
use crate::sidecar::upstream::UpstreamError;
pub use entry::CachedCredential;
use entry::{Entry, EntryExpiry, State};
pub use generations::canonical_id;
use generations::{id_key, Generation, Generations};

/// How long a name that was just served stale keeps being served from its stale copy without
/// a new lookup (capped by the stale window).
pub const STALE_HOLD: Duration = Duration::from_secs(5);

/// Cache sizing and lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    /// How long a found credential is served from the cache.
    pub ttl: Duration,
    /// How long "no such credential" is remembered.
    pub negative_ttl: Duration,
    /// Most entries kept at once.
    pub capacity: u64,
    /// How long past its expiry a found credential may still be served when the upstream
    /// fails; `None` turns stale serving off.
    pub stale_if_error: Option<Duration>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            capacity: 10_000,
            stale_if_error: None,
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

/// Whether a lookup was answered from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Hit,
    Miss,
}

/// The cache handle. Cheap to clone; clones share the entries.
#[derive(Clone)]
pub struct CredentialCache {
    inner: Arc<Inner>,
}

struct Inner {
    entries: Cache<String, Entry>,
    /// Found entries kept past their expiry for `--stale-if-error`; `None` when it is off.
    stale: Option<moka::sync::Cache<String, Entry>>,
    /// Credential id → the name it is cached under.
    ids: Arc<DashMap<String, String>>,
    /// Names just served stale → until when their stale copy is served without a lookup.
    held: DashMap<String, Instant>,
    sealer: Sealer,
    config: CacheConfig,
    serial: AtomicU64,
    generations: Generations,
    metrics: Metrics,
}

/// Drops the id → name mapping of a removed entry. A replaced entry may share its id with
/// the new one; only removals unmap it.
fn unmap_listener(
    ids: Arc<DashMap<String, String>>,
) -> impl Fn(Arc<String>, Entry, RemovalCause) + Send + Sync + 'static {
    move |name, entry, cause| {
        if cause != RemovalCause::Replaced {
            if let State::Found { id, .. } = &entry.state {
                ids.remove_if(&id_key(id), |_, mapped| mapped == name.as_str());
            }
        }
    }
}

impl CredentialCache {
    pub fn new(config: CacheConfig) -> Self {
        Self::with_metrics(config, Metrics::new())
    }

    /// A cache that counts hits, misses, evictions and stale serves in `metrics`.
    pub fn with_metrics(config: CacheConfig, metrics: Metrics) -> Self {
        let ids: Arc<DashMap<String, String>> = Arc::new(DashMap::new());
        let stale = config.stale_if_error.map(|window| {
            moka::sync::Cache::builder()
                .max_capacity(config.capacity)
                .weigher(|name: &String, entry: &Entry| entry::weigh(name, entry))
                .time_to_live(config.ttl.saturating_add(window))
                .eviction_listener(unmap_listener(ids.clone()))
                .build()
        });
        // With a stale store the ids stay mapped as long as the stale copy lives, so that a
        // delete by id can still drop it.
        let unmap = stale.is_none().then(|| unmap_listener(ids.clone()));
        let eviction_metrics = metrics.clone();
        let entries = Cache::builder()
            .max_capacity(config.capacity)
            .weigher(|name: &String, entry: &Entry| entry::weigh(name, entry))
            .expire_after(EntryExpiry {
                ttl: config.ttl,
                negative_ttl: config.negative_ttl,
            })
            .eviction_listener(move |name: Arc<String>, entry: Entry, cause| {
                if cause != RemovalCause::Replaced {
                    eviction_metrics.cache_eviction();
                }
                if let Some(unmap) = &unmap {
                    unmap(name, entry, cause);
                }
            })
            .build();
        Self {
            inner: Arc::new(Inner {
                entries,
                stale,
                ids,
                held: DashMap::new(),
                sealer: Sealer::random(),
                config,
                serial: AtomicU64::new(0),
                generations: Generations::new(),
                metrics,
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
        if let Some(entry) = self.held_stale(name) {
            debug!(
                credential = name,
                "Credential served stale without a lookup"
            );
            self.inner.metrics.cache_hit();
            return Ok((self.view(name, entry, true), Lookup::Hit));
        }
        if let Some(entry) = self.inner.entries.get(name).await {
            if entry.fresh_until > Instant::now() && self.inner.is_current(name, &entry) {
                debug!(credential = name, "Credential cache hit");
                self.inner.metrics.cache_hit();
                return Ok((self.view(name, entry, false), Lookup::Hit));
            }
            self.remove_if_same(name, entry.serial).await;
        }
        debug!(credential = name, "Credential cache miss");
        self.inner.metrics.cache_miss();
        let fetched = self.fetch_through(name, fetch).await;
        match fetched {
            Ok(entry) => Ok((self.view(name, entry, false), Lookup::Miss)),
            Err(CacheError::Upstream(err)) if may_serve_stale(&err) => {
                match self.stale_copy(name) {
                    Some(entry) => {
                        warn!(credential = name, error = %err, "Serving an expired credential: the upstream lookup failed");
                        self.hold_stale(name);
                        Ok((self.view(name, entry, true), Lookup::Miss))
                    }
                    None => Err(CacheError::Upstream(err)),
                }
            }
            Err(err) => Err(err),
        }
    }

    /// The stale copy of `name` if it was served stale a moment ago and is held (see
    /// [`STALE_HOLD`]); the window and every invalidation still apply.
    fn held_stale(&self, name: &str) -> Option<Entry> {
        let until = *self.inner.held.get(name)?;
        if Instant::now() >= until {
            self.inner.held.remove_if(name, |_, held| *held == until);
            return None;
        }
        self.stale_copy(name)
    }

    /// Serves `name` from its stale copy for a short while, without asking upstream.
    fn hold_stale(&self, name: &str) {
        if let Some(window) = self.inner.config.stale_if_error {
            let until = Instant::now() + STALE_HOLD.min(window);
            self.inner.held.insert(name.to_owned(), until);
        }
    }

    /// Fetches `name` through moka, so concurrent misses share one call. An entry that another
    /// caller's fetch put in before an invalidation is dropped and fetched again (a few times at
    /// most); an entry this caller fetched itself is returned even if an invalidation came
    /// meanwhile, since the request began before it.
    async fn fetch_through<F, Fut>(&self, name: &str, fetch: F) -> Result<Entry, CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<FetchedCredential>, UpstreamError>>,
    {
        let mut fetch = Some(fetch);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let inner = self.inner.clone();
            let owned = name.to_owned();
            let ours = ran.clone();
            let slot = &mut fetch;
            let entry = self
                .inner
                .entries
                .try_get_with(name.to_owned(), async move {
                    ours.store(true, Ordering::SeqCst);
                    let generation = inner.generations.current(&owned);
                    // The fetch is used at most once: a round that runs it returns its entry.
                    let Some(fetch) = slot.take() else {
                        return Err(CacheError::Upstream(UpstreamError::Unreadable));
                    };
                    let fetched = fetch().await?;
                    inner.make_entry(&owned, fetched, generation)
                })
                .await
                .map_err(|shared| (*shared).clone())?;
            if ran.load(Ordering::SeqCst) || self.inner.is_current(name, &entry) || attempts >= 3 {
                if !self.inner.is_current(name, &entry) {
                    self.remove_if_same(name, entry.serial).await;
                }
                return Ok(entry);
            }
            self.remove_if_same(name, entry.serial).await;
        }
    }

    /// The expired copy of `name`, if stale serving is on and it expired within the window.
    fn stale_copy(&self, name: &str) -> Option<Entry> {
        let window = self.inner.config.stale_if_error?;
        let entry = self.inner.stale.as_ref()?.get(name)?;
        (Instant::now() < entry.fresh_until + window && self.inner.is_current(name, &entry))
            .then_some(entry)
    }

    /// Drops the entry for `name`, found or not found, and keeps a lookup of it already in
    /// flight from caching what it fetched.
    pub async fn invalidate_name(&self, name: &str) {
        self.inner.generations.bump(name);
        if let Some(stale) = &self.inner.stale {
            if let Some(Entry {
                state: State::Found { id, .. },
                ..
            }) = stale.remove(name)
            {
                self.inner
                    .ids
                    .remove_if(&id_key(&id), |_, mapped| mapped == name);
            }
        }
        if let Some(entry) = self.inner.entries.remove(name).await {
            if let State::Found { id, .. } = entry.state {
                self.inner
                    .ids
                    .remove_if(&id_key(&id), |_, mapped| mapped == name);
            }
            debug!(credential = name, "Credential cache entry dropped");
        }
    }

    /// Drops the entry of the credential with this id. The id is compared in canonical form
    /// (a UUID in any case matches); an id that is not a UUID, or that no cached entry has,
    /// drops every entry, since the sidecar cannot tell which name it belongs to.
    pub async fn invalidate_id(&self, id: &str) {
        let found = canonical_id(id).and_then(|key| self.inner.ids.remove(&key));
        match found {
            Some((_, name)) => self.invalidate_name(&name).await,
            None => self.invalidate_all(),
        }
    }

    /// Drops every entry, found or not found, stale copies included, and keeps every lookup
    /// in flight from caching what it fetched.
    pub fn invalidate_all(&self) {
        self.inner.generations.bump_all();
        if let Some(stale) = &self.inner.stale {
            stale.invalidate_all();
        }
        self.inner.entries.invalidate_all();
        self.inner.ids.clear();
        debug!("Every credential cache entry dropped");
    }

    /// Entries currently held (approximate, as moka counts lazily).
    pub fn entry_count(&self) -> u64 {
        self.inner.entries.entry_count()
    }

    /// [`CredentialCache::weighted_size`] as moka last counted it, without catching up first
    /// (for a scrape, which must not wait).
    pub fn weight_now(&self) -> u64 {
        self.inner.entries.weighted_size()
    }

    /// The weight of the entries held, in units of one started KiB (approximate, as moka
    /// counts lazily); never above `--cache-capacity` once moka has caught up.
    pub async fn weighted_size(&self) -> u64 {
        self.inner.entries.run_pending_tasks().await;
        self.inner.entries.weighted_size()
    }

    fn view(&self, name: &str, entry: Entry, stale: bool) -> Option<CachedCredential> {
        match entry.state {
            State::Found { id, sealed } => Some(CachedCredential {
                name: Arc::from(name),
                id,
                sealed,
                sealer: self.inner.sealer.clone(),
                stale,
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
    /// Whether no invalidation concerning `name` happened since `entry`'s fetch began.
    fn is_current(&self, name: &str, entry: &Entry) -> bool {
        entry.generation == self.generations.current(name)
    }

    fn make_entry(
        &self,
        name: &str,
        fetched: Option<FetchedCredential>,
        generation: Generation,
    ) -> Result<Entry, CacheError> {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        // The upstream answered: no more serving from the stale copy on hold.
        self.held.remove(name);
        let Some(fetched) = fetched else {
            // The upstream says it is gone: no stale copy may outlive that answer.
            if let Some(stale) = &self.stale {
                stale.invalidate(name);
            }
            return Ok(Entry {
                state: State::Missing,
                fresh_until: now + self.config.negative_ttl,
                serial,
                generation,
            });
        };
        let sealed = self.sealer.seal(
            &[name.as_bytes(), fetched.id.as_bytes()],
            fetched.value.expose(),
        )?;
        self.ids.insert(id_key(&fetched.id), name.to_owned());
        let entry = Entry {
            state: State::Found {
                id: Arc::from(fetched.id),
                sealed: Arc::from(sealed),
            },
            fresh_until: now + self.config.ttl,
            serial,
            generation,
        };
        if let Some(stale) = &self.stale {
            stale.insert(name.to_owned(), entry.clone());
        }
        Ok(entry)
    }
}

/// Whether a failed lookup may be answered from an expired entry: only when the upstream could
/// not answer (transport error, timeout, 5xx), never when it refused (401, 403) or the answer
/// was unreadable. A "not found" is not an error and is never answered stale.
pub fn may_serve_stale(err: &UpstreamError) -> bool {
    match err {
        UpstreamError::Unreachable(_) | UpstreamError::Lost(_) | UpstreamError::Timeout => true,
        UpstreamError::Status(status) => *status >= 500,
        UpstreamError::Unreadable => false,
    }
}

mod entry;
mod generations;

#[cfg(test)]
mod tests;

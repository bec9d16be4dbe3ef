//! One cache entry (found and sealed, or not found, with its freshness and generation), its
//! lifetime as moka sees it, and the sealed view of a found credential handed to callers.

use std::sync::Arc;
use std::time::Duration;

use moka::Expiry;
use serde_json::Value;
use tokio::time::Instant;

use super::generations::Generation;
use super::CacheError;
use crate::secret::seal::Sealer;
use crate::secret::WipeOnDrop;

/// One cache entry: found (sealed) or not found, and until when it is fresh.
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) state: State,
    pub(super) fresh_until: Instant,
    /// Tells this entry apart from a later one under the same name.
    pub(super) serial: u64,
    /// The invalidation generation seen before the fetch began.
    pub(super) generation: Generation,
}

#[derive(Clone)]
pub(super) enum State {
    Found { id: Arc<str>, sealed: Arc<[u8]> },
    Missing,
}

/// The bytes one weight unit of the cache stands for: an entry weighs one unit per started
/// KiB of its name, id and sealed value (at least one), so `--cache-capacity` bounds bytes as
/// well as entries.
pub(super) const WEIGHT_UNIT: usize = 1024;

/// moka's weight of an entry: one unit per started [`WEIGHT_UNIT`] of what it holds.
pub(super) fn weigh(name: &str, entry: &Entry) -> u32 {
    let held = name.len()
        + match &entry.state {
            State::Found { id, sealed } => id.len() + sealed.len(),
            State::Missing => 0,
        };
    u32::try_from(held.div_ceil(WEIGHT_UNIT).max(1)).unwrap_or(u32::MAX)
}

/// moka's expiry per entry: found entries live for the TTL, misses for the negative TTL.
pub(super) struct EntryExpiry {
    pub(super) ttl: Duration,
    pub(super) negative_ttl: Duration,
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

/// A credential served from the cache, still sealed; [`CachedCredential::open`] yields its value.
#[derive(Clone)]
pub struct CachedCredential {
    pub(super) name: Arc<str>,
    pub(super) id: Arc<str>,
    pub(super) sealed: Arc<[u8]>,
    pub(super) sealer: Sealer,
    pub(super) stale: bool,
}

impl CachedCredential {
    /// Served past its expiry because the upstream failed (`--stale-if-error`).
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Opens the sealed value: the credential's `value` as JSON (object or string), wiped
    /// when the caller drops it.
    pub fn open(&self) -> Result<WipeOnDrop<Value>, CacheError> {
        let plain = self
            .sealer
            .open(&[self.name.as_bytes(), self.id.as_bytes()], &self.sealed)?;
        serde_json::from_slice(plain.expose())
            .map(WipeOnDrop::new)
            .map_err(|_| CacheError::Seal)
    }
}

impl std::fmt::Debug for CachedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedCredential")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("stale", &self.stale)
            .finish_non_exhaustive()
    }
}

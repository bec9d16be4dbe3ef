//! The secret values the sidecar knows, and the scrubber built from them.
//!
//! Every credential value the sidecar fetches is learned here; answers are scrubbed against the
//! whole set. Values stay known after they leave the cache, because upstream keeps echoing the
//! params of jobs launched with them, and a credential's older values are kept too (a job
//! launched before a rotation still echoes the old password).
//!
//! Memory has a hard budget, in pattern bytes (each string of a value with every escaped form
//! the scrubber matches; the automata are linear in them, see [`Segment`]):
//!
//! - a value whose text (its strings and numbers) is over [`KnownLimits::value_bytes`] is not
//!   learned: [`LearnError::TooLarge`], and a job using it is refused, never forwarded;
//! - a value that would take the total over [`KnownLimits::total_bytes`] first makes room by
//!   forgetting values not seen within the retention; if that is not enough it is not learned:
//!   [`LearnError::BudgetFull`], and a job using it is refused. A value still echoed is never
//!   pushed out by a newer one (an app that rotates or creates credentials could otherwise push
//!   a value out and then read it from an old job's logs).
//!
//! Values are forgotten by age, never by a count the app controls: a value is kept for
//! [`RETENTION`] after it was last seen (well past the job memory's six hours). Expired values
//! are dropped in batches (once they are a quarter of the total, or when room is needed), so
//! that dropping them is not a rebuild per request.
//!
//! The patterns live in segments of geometrically growing size, like a binary counter: a new
//! value gets a segment of its own, and the newest segments are merged while the one before is
//! not more than [`GROWTH`] times larger. Learning a value rebuilds small segments; a pattern is
//! rebuilt O(log n) times over its life, not once per value learned after it, and there are
//! O(log n) segments to search. A value seen before costs a hash and one pointer clone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::secret::Secret;
use crate::sidecar::answer::scrub::{patterns_of, secret_strings, Scrubber};
use crate::sidecar::answer::segment::Segment;

/// How long a value stays known after it was last seen.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// The most pattern bytes kept by default (each value counted with its escaped forms).
pub const BYTE_BUDGET: usize = 4 << 20;

/// The largest credential value learned by default (the bytes of its strings and numbers).
pub const VALUE_BUDGET: usize = 64 << 10;

/// A segment is merged into the one before while that one is at most this many times larger.
pub const GROWTH: usize = 4;

/// The budgets of the known secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownLimits {
    /// The most pattern bytes kept in all.
    pub total_bytes: usize,
    /// The largest value learned: the bytes of its strings and numbers.
    pub value_bytes: usize,
    /// How long a value stays known after it was last seen.
    pub retention: Duration,
}

impl Default for KnownLimits {
    fn default() -> Self {
        Self {
            total_bytes: BYTE_BUDGET,
            value_bytes: VALUE_BUDGET,
            retention: RETENTION,
        }
    }
}

/// Why a value could not be learned (and so must not be used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LearnError {
    /// The value is larger than the per-value limit.
    #[error("credential value of {bytes} bytes over the limit of {limit}")]
    TooLarge { bytes: usize, limit: usize },
    /// The known secrets are full of values still within their retention.
    #[error("known secrets over their budget of {budget} bytes")]
    BudgetFull { budget: usize },
}

struct Known {
    /// The secret strings of one value.
    strings: Vec<Secret>,
    /// Their size with every escaped form the scrubber adds.
    bytes: usize,
    last_seen: Instant,
}

/// One segment: the values compiled into it.
struct Level {
    prints: Vec<[u8; 32]>,
    bytes: usize,
    segment: Option<Arc<Segment>>,
}

#[derive(Default)]
struct Values {
    /// Per value fingerprint.
    known: HashMap<[u8; 32], Known>,
    /// Oldest (largest) first.
    levels: Vec<Level>,
    bytes: usize,
    limits: KnownLimits,
    /// Pattern bytes compiled since the start (for the amortised rebuild cost).
    compiled: u64,
}

#[derive(Default)]
struct Inner {
    values: Mutex<Values>,
    scrubber: RwLock<Arc<Scrubber>>,
}

/// The known secrets. Cheap to clone.
#[derive(Clone, Default)]
pub struct KnownSecrets {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KnownSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownSecrets")
            .field("values", &self.inner.values.lock().known.len())
            .finish()
    }
}

fn fingerprint(value: &Value) -> [u8; 32] {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    Sha256::digest(&bytes).into()
}

impl KnownSecrets {
    pub fn new() -> Self {
        Self::default()
    }

    /// Known secrets with the given budgets.
    pub fn with_limits(limits: KnownLimits) -> Self {
        let known = Self::default();
        known.inner.values.lock().limits = limits;
        known
    }

    /// The budgets in force.
    pub fn limits(&self) -> KnownLimits {
        self.inner.values.lock().limits
    }

    /// How many values are known now.
    pub fn values(&self) -> usize {
        self.inner.values.lock().known.len()
    }

    /// The pattern bytes held now.
    pub fn bytes(&self) -> usize {
        self.inner.values.lock().bytes
    }

    /// The pattern bytes compiled into automata since the start: each learned byte is
    /// compiled O(log n) times, not once per value learned after it.
    pub fn compiled_bytes(&self) -> u64 {
        self.inner.values.lock().compiled
    }

    /// How many segments the scrubber searches.
    pub fn segments(&self) -> usize {
        self.inner.values.lock().levels.len()
    }

    /// Learns a credential's value; rebuilds the scrubber if the value is new. A value that
    /// cannot be learned within the budgets must not be used.
    pub fn learn(&self, name: &str, value: &Value) -> Result<(), LearnError> {
        self.learn_at(name, value, Instant::now())
    }

    /// [`KnownSecrets::learn`] at a given moment.
    pub fn learn_at(&self, name: &str, value: &Value, now: Instant) -> Result<(), LearnError> {
        let print = fingerprint(value);
        let mut values = self.inner.values.lock();
        if let Some(known) = values.known.get_mut(&print) {
            known.last_seen = now;
            return Ok(());
        }
        let texts = secret_strings(value);
        let text_bytes: usize = texts.iter().map(String::len).sum();
        let limit = values.limits.value_bytes;
        if text_bytes > limit {
            warn!(
                credential = name,
                bytes = text_bytes,
                limit,
                "Credential value too large to scrub: not learned, and not used"
            );
            return Err(LearnError::TooLarge {
                bytes: text_bytes,
                limit,
            });
        }
        let strings: Vec<Secret> = texts.into_iter().map(Secret::new).collect();
        let bytes: usize = strings
            .iter()
            .filter_map(Secret::expose_str)
            .map(Scrubber::pattern_bytes)
            .sum();
        let budget = values.limits.total_bytes;
        let over = values.bytes + bytes > budget;
        values.forget_expired(now, over);
        if values.bytes + bytes > budget {
            warn!(
                credential = name,
                bytes,
                held = values.bytes,
                budget,
                "Known secrets full of values still echoed: a new value is not learned, and not used"
            );
            return Err(LearnError::BudgetFull { budget });
        }
        values.bytes += bytes;
        values.known.insert(
            print,
            Known {
                strings,
                bytes,
                last_seen: now,
            },
        );
        let level = values.compile(vec![print]);
        values.levels.push(level);
        values.merge_newest();
        let scrubber = values.scrubber();
        // The write lock is taken while `values` is held so two learners cannot publish out of order.
        *self.inner.scrubber.write() = Arc::new(scrubber);
        Ok(())
    }

    /// The scrubber for the secrets known now.
    pub fn scrubber(&self) -> Arc<Scrubber> {
        self.inner.scrubber.read().clone()
    }
}

impl Values {
    /// A segment of the given values.
    fn compile(&mut self, prints: Vec<[u8; 32]>) -> Level {
        let known: Vec<&Known> = prints
            .iter()
            .filter_map(|print| self.known.get(print))
            .collect();
        let patterns: Vec<String> = known
            .iter()
            .flat_map(|known| known.strings.iter())
            .filter_map(Secret::expose_str)
            .flat_map(patterns_of)
            .collect();
        let bytes = known.iter().map(|known| known.bytes).sum();
        let segment = Segment::build(patterns).map(Arc::new);
        self.compiled += bytes as u64;
        Level {
            bytes,
            segment,
            prints,
        }
    }

    /// Merges the newest segments while the one before is at most [`GROWTH`] times larger.
    fn merge_newest(&mut self) {
        while let [.., older, newer] = self.levels.as_slice() {
            if older.bytes > newer.bytes.saturating_mul(GROWTH) {
                break;
            }
            let newer = self.levels.pop().map(|level| level.prints);
            let older = self.levels.pop().map(|level| level.prints);
            let mut prints = older.unwrap_or_default();
            prints.extend(newer.unwrap_or_default());
            let merged = self.compile(prints);
            self.levels.push(merged);
        }
    }

    /// Drops the values not seen within the retention: when `needed`, or once they are a
    /// quarter of what is held (so that a single expiry does not rebuild a large segment).
    fn forget_expired(&mut self, now: Instant, needed: bool) {
        let retention = self.limits.retention;
        let expired = |known: &Known| now.saturating_duration_since(known.last_seen) > retention;
        let expired_bytes: usize = self
            .known
            .values()
            .filter(|known| expired(known))
            .map(|known| known.bytes)
            .sum();
        if expired_bytes == 0 || (!needed && expired_bytes.saturating_mul(4) < self.bytes) {
            return;
        }
        let before = self.known.len();
        self.known.retain(|_, known| !expired(known));
        self.bytes = self.known.values().map(|known| known.bytes).sum();
        let levels = std::mem::take(&mut self.levels);
        for level in levels {
            let kept: Vec<[u8; 32]> = level
                .prints
                .iter()
                .copied()
                .filter(|print| self.known.contains_key(print))
                .collect();
            if kept.is_empty() {
                continue;
            }
            let level = if kept.len() == level.prints.len() {
                level
            } else {
                self.compile(kept)
            };
            self.levels.push(level);
            self.merge_newest();
        }
        tracing::debug!(
            dropped = before - self.known.len(),
            "Known secret values past their retention forgotten"
        );
    }

    fn scrubber(&self) -> Scrubber {
        Scrubber::from_segments(self.levels.iter().filter_map(|level| level.segment.clone()))
    }
}

#[cfg(test)]
#[path = "known_secrets_tests.rs"]
mod tests;

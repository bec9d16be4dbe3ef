//! The secret values the sidecar knows, and the scrubber built from them.
//!
//! Every credential value the sidecar fetches is learned here; answers are scrubbed against the
//! whole set. Values stay known after they leave the cache, because upstream keeps echoing the
//! params of jobs launched with them, and a credential's older values are kept too (a job
//! launched before a rotation still echoes the old password).
//!
//! Values are forgotten by age, never by a count the app controls: an app that rotates a
//! credential or creates many could otherwise push a value out and then read it from an old
//! job's logs. A value is kept for [`RETENTION`] after it was last seen (well past the job
//! memory's six hours). Memory is bounded by the total size of the patterns ([`BYTE_BUDGET`]):
//! past it, the values seen longest ago are dropped first, with a warning.
//!
//! The scrubber is rebuilt only when a value not seen before is learned, so a warm sidecar
//! pays nothing per request but a hash and one pointer clone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::secret::Secret;
use crate::sidecar::answer::scrub::{secret_strings, Scrubber};

/// How long a value stays known after it was last seen.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// The most pattern bytes kept (each value counted with its escaped forms).
pub const BYTE_BUDGET: usize = 64 << 20;

struct Known {
    /// The secret strings of one value.
    strings: Vec<Secret>,
    /// Their size with every escaped form the scrubber adds.
    bytes: usize,
    last_seen: Instant,
}

struct Values {
    /// Per value fingerprint.
    known: HashMap<[u8; 32], Known>,
    bytes: usize,
    retention: Duration,
    budget: usize,
}

impl Default for Values {
    fn default() -> Self {
        Self {
            known: HashMap::new(),
            bytes: 0,
            retention: RETENTION,
            budget: BYTE_BUDGET,
        }
    }
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

    /// Known secrets with a given retention and byte budget.
    pub fn with_limits(retention: Duration, budget: usize) -> Self {
        let known = Self::default();
        {
            let mut values = known.inner.values.lock();
            values.retention = retention;
            values.budget = budget;
        }
        known
    }

    /// Learns a credential's value; rebuilds the scrubber if the value is new.
    pub fn learn(&self, name: &str, value: &Value) {
        self.learn_at(name, value, Instant::now());
    }

    /// [`KnownSecrets::learn`] at a given moment.
    pub fn learn_at(&self, name: &str, value: &Value, now: Instant) {
        let print = fingerprint(value);
        let mut values = self.inner.values.lock();
        if let Some(known) = values.known.get_mut(&print) {
            known.last_seen = now;
            return;
        }
        let strings: Vec<Secret> = secret_strings(value).into_iter().map(Secret::new).collect();
        let bytes = strings
            .iter()
            .filter_map(Secret::expose_str)
            .map(Scrubber::pattern_bytes)
            .sum();
        values.bytes += bytes;
        values.known.insert(
            print,
            Known {
                strings,
                bytes,
                last_seen: now,
            },
        );
        values.forget_old(now, name);
        let scrubber = Scrubber::new(
            values
                .known
                .values()
                .flat_map(|known| known.strings.iter())
                .filter_map(Secret::expose_str),
        );
        // The write lock is taken while `values` is held so two learners cannot publish out of order.
        *self.inner.scrubber.write() = Arc::new(scrubber);
    }

    /// The scrubber for the secrets known now.
    pub fn scrubber(&self) -> Arc<Scrubber> {
        self.inner.scrubber.read().clone()
    }
}

impl Values {
    /// Drops values not seen within the retention, then the oldest while over the budget.
    fn forget_old(&mut self, now: Instant, learning: &str) {
        let retention = self.retention;
        let before = self.known.len();
        self.known
            .retain(|_, known| now.saturating_duration_since(known.last_seen) <= retention);
        if self.known.len() != before {
            self.bytes = self.known.values().map(|known| known.bytes).sum();
        }
        if self.bytes <= self.budget {
            return;
        }
        let mut by_age: Vec<([u8; 32], Instant, usize)> = self
            .known
            .iter()
            .map(|(print, known)| (*print, known.last_seen, known.bytes))
            .collect();
        by_age.sort_unstable_by_key(|(_, seen, _)| *seen);
        let mut dropped = 0usize;
        for (print, _, bytes) in by_age {
            // The value just learned stays: it is the one most likely to be echoed next.
            if self.bytes <= self.budget || self.known.len() == 1 {
                break;
            }
            self.known.remove(&print);
            self.bytes -= bytes;
            dropped += 1;
        }
        warn!(
            dropped,
            budget = self.budget,
            credential = learning,
            "Known secrets over their memory budget: the values seen longest ago are no longer scrubbed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn learns_values_and_keeps_every_rotation() {
        let known = KnownSecrets::new();
        assert_eq!(known.scrubber().pattern_count(), 0);
        known.learn(
            "portal",
            &json!({"username": "alice-user", "password": "first-pass"}),
        );
        let before = known.scrubber();
        known.learn(
            "portal",
            &json!({"username": "alice-user", "password": "first-pass"}),
        );
        assert!(
            Arc::ptr_eq(&before, &known.scrubber()),
            "same value must not rebuild"
        );
        for round in 0..50 {
            known.learn("portal", &json!({"password": format!("rotation-{round}")}));
        }
        let scrubber = known.scrubber();
        assert!(
            scrubber.scrub_str("first-pass").is_some(),
            "no count of rotations pushes a value out"
        );
        assert!(scrubber.scrub_str("rotation-49").is_some());
    }

    #[test]
    fn values_are_forgotten_by_age_only() {
        let known = KnownSecrets::with_limits(Duration::from_secs(60), BYTE_BUDGET);
        let start = Instant::now();
        known.learn_at("a", &json!("old-secret"), start);
        known.learn_at("b", &json!("kept-secret"), start);
        // Seen again: its age starts over.
        known.learn_at("b", &json!("kept-secret"), start + Duration::from_secs(50));
        known.learn_at("c", &json!("new-secret"), start + Duration::from_secs(61));
        let scrubber = known.scrubber();
        assert!(scrubber.scrub_str("old-secret").is_none());
        assert!(scrubber.scrub_str("kept-secret").is_some());
        assert!(scrubber.scrub_str("new-secret").is_some());
    }

    #[test]
    fn over_the_budget_the_oldest_go_first() {
        let one = Scrubber::pattern_bytes("secret-0000");
        let known = KnownSecrets::with_limits(RETENTION, one * 3);
        let start = Instant::now();
        for index in 0..5u64 {
            let at = start + Duration::from_secs(index);
            known.learn_at("n", &json!(format!("secret-{index:04}")), at);
        }
        let scrubber = known.scrubber();
        assert!(scrubber.scrub_str("secret-0000").is_none());
        assert!(scrubber.scrub_str("secret-0001").is_none());
        for index in 2..5 {
            assert!(scrubber.scrub_str(&format!("secret-{index:04}")).is_some());
        }
    }
}

//! The secret values the sidecar knows, and the scrubber built from them.
//!
//! Every credential value the sidecar fetches is learned here; answers are scrubbed against the
//! whole set. Values stay known after they leave the cache, because upstream keeps echoing the
//! params of jobs launched with them, and a credential's older values are kept too (a job
//! launched before a rotation still echoes the old password). Memory is bounded: at most
//! [`VALUES_PER_CREDENTIAL`] values per name and [`MAX_CREDENTIALS`] names, oldest first out.
//!
//! The scrubber is rebuilt only when a value not seen before is learned, so a warm sidecar
//! pays nothing per request but one pointer clone.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::scrub::{secret_strings, Scrubber};
use crate::secret::Secret;

/// Distinct values remembered per credential name.
pub const VALUES_PER_CREDENTIAL: usize = 4;

/// Credential names remembered.
pub const MAX_CREDENTIALS: usize = 20_000;

struct Known {
    name: String,
    /// Per value: its fingerprint and its secret strings.
    values: VecDeque<([u8; 32], Vec<Secret>)>,
}

#[derive(Default)]
struct Inner {
    known: Mutex<VecDeque<Known>>,
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
            .field("credentials", &self.inner.known.lock().len())
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

    /// Learns a credential's value; rebuilds the scrubber if the value is new.
    pub fn learn(&self, name: &str, value: &Value) {
        let print = fingerprint(value);
        let mut known = self.inner.known.lock();
        let position = known.iter().position(|entry| entry.name == name);
        if let Some(index) = position {
            if known[index].values.iter().any(|(seen, _)| *seen == print) {
                return;
            }
        }
        let strings: Vec<Secret> = secret_strings(value).into_iter().map(Secret::new).collect();
        match position {
            Some(index) => {
                let entry = &mut known[index];
                entry.values.push_back((print, strings));
                if entry.values.len() > VALUES_PER_CREDENTIAL {
                    entry.values.pop_front();
                }
            }
            None => {
                known.push_back(Known {
                    name: name.to_owned(),
                    values: VecDeque::from([(print, strings)]),
                });
                if known.len() > MAX_CREDENTIALS {
                    known.pop_front();
                }
            }
        }
        let scrubber = Scrubber::new(
            known
                .iter()
                .flat_map(|entry| entry.values.iter())
                .flat_map(|(_, strings)| strings.iter())
                .filter_map(Secret::expose_str),
        );
        // The write lock is taken while `known` is held so two learners cannot publish out of order.
        *self.inner.scrubber.write() = Arc::new(scrubber);
    }

    /// The scrubber for the secrets known now.
    pub fn scrubber(&self) -> Arc<Scrubber> {
        self.inner.scrubber.read().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn learns_values_and_keeps_old_ones_bounded() {
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
        known.learn(
            "portal",
            &json!({"username": "alice-user", "password": "second-pass"}),
        );
        let scrubber = known.scrubber();
        assert!(scrubber.scrub_str("first-pass").is_some());
        assert!(scrubber.scrub_str("second-pass").is_some());
        for round in 0..VALUES_PER_CREDENTIAL {
            known.learn("portal", &json!({"password": format!("rotation-{round}")}));
        }
        assert!(
            known.scrubber().scrub_str("first-pass").is_none(),
            "oldest value is forgotten"
        );
    }
}

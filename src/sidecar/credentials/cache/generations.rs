//! Invalidation generations: a counter per stripe of names, and a global one, bumped before an
//! invalidation removes anything, so a lookup that began before a credential write can tell
//! its value is stale. Also the canonical form of credential ids the id index is keyed by.

use std::sync::atomic::{AtomicU64, Ordering};

/// How many generation stripes names are spread over.
const STRIPES: usize = 64;

/// A snapshot of the invalidation counters that concern one name: the global one and its
/// stripe's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Generation {
    all: u64,
    stripe: u64,
}

/// Invalidation counters: bumped before entries are removed, compared on every read.
pub(super) struct Generations {
    all: AtomicU64,
    stripes: [AtomicU64; STRIPES],
}

impl Generations {
    pub(super) fn new() -> Self {
        Self {
            all: AtomicU64::new(0),
            stripes: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn index(name: &str) -> usize {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut hasher);
        // The remainder is below STRIPES, so it fits a usize.
        (hasher.finish() % STRIPES as u64) as usize
    }

    pub(super) fn current(&self, name: &str) -> Generation {
        Generation {
            all: self.all.load(Ordering::SeqCst),
            stripe: self.stripes[Self::index(name)].load(Ordering::SeqCst),
        }
    }

    pub(super) fn bump(&self, name: &str) {
        self.stripes[Self::index(name)].fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn bump_all(&self) {
        self.all.fetch_add(1, Ordering::SeqCst);
    }
}

/// A credential id as the index keeps it: a UUID in lower case with hyphens, anything else as
/// given. `None` when the id is not a UUID.
pub fn canonical_id(id: &str) -> Option<String> {
    uuid::Uuid::parse_str(id.trim())
        .ok()
        .map(|uuid| uuid.hyphenated().to_string())
}

/// The key an id is indexed under.
pub(super) fn id_key(id: &str) -> String {
    canonical_id(id).unwrap_or_else(|| id.to_owned())
}

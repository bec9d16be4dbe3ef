//! What the app sent in each job it launched through the sidecar, so echoes can be put back.
//!
//! Upstream stores a job's `params` with the real values and echoes them in `jobs/get`
//! (`params`), `jobs/list` and `jobs/debugReport` (`job_params`). For every job launched through
//! the sidecar this memory keeps, per job id, the whole `params` object the app sent (up to
//! [`MAX_PARAMS_BYTES`] of JSON), and the places in it that were filled with the text the app
//! had there (the placeholder). An echo of that job gets the app's `params` back whole, so the
//! app sees exactly what it sent: never a secret, and never a scrubbed guess (restoring only the
//! filled places and scrubbing the rest would tell the app which of its own strings equals a
//! secret). Larger params fall back to restoring the filled places alone.
//!
//! Memory is bounded by weight and by age: each job weighs one unit per started KiB it holds,
//! and the capacity is in those units. The age default outlives the longest job timeout
//! upstream allows (one hour) with a wide margin for queueing. Jobs are forgotten oldest first
//! (past the capacity, or past the age): a job's echoes matter most while it is young.
//!
//! Each record is kept small, since a busy app launches a great many jobs: one node of an
//! insertion-ordered map (`hashlink`) holding the job id and one LZ4-compressed block (the
//! `params` text, or the filled places). Every block is compressed against a dictionary: an
//! earlier job's text of the same shape (see [`dictionaries`]). An app's jobs share their
//! params' keys and placeholders, so a job of 5 placeholders like an earlier one but for its
//! `memberId` takes a block of about 32 bytes (about 100 bytes a record in all), where compressed
//! alone it took about 120 (210 a record) and a general cache entry of the parsed parts 1 700.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hashlink::linked_hash_map::Entry;
use hashlink::LinkedHashMap;
use parking_lot::Mutex;
use serde_json::Value;

use crate::placeholders::pointer;
use dictionaries::Dictionaries;

mod dictionaries;

/// Jobs remembered by default.
pub const DEFAULT_CAPACITY: u64 = 100_000;

/// How long a job is remembered by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(6 * 60 * 60);

/// The most `params` JSON kept per job for a whole restore.
pub const MAX_PARAMS_BYTES: usize = 64 << 10;

/// What is remembered of one launched job: its filled places and, when small enough, the
/// `params` the app sent, as compact JSON text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launched {
    pub filled: Vec<Filled>,
    pub params: Option<String>,
}

impl Launched {
    /// What to remember of a job whose body had `params` (before any filling).
    pub fn new(filled: Vec<Filled>, params: Option<&Value>) -> Self {
        let params = params
            .and_then(|params| serde_json::to_string(params).ok())
            .filter(|text| text.len() <= MAX_PARAMS_BYTES);
        Self { filled, params }
    }

    /// Whether there is nothing to restore.
    pub fn is_empty(&self) -> bool {
        self.filled.is_empty() && self.params.is_none()
    }

    fn weight(&self) -> u32 {
        let bytes = self.params.as_ref().map_or(0, String::len)
            + self
                .filled
                .iter()
                .map(|place| place.pointer.len() + place.original.len())
                .sum::<usize>();
        u32::try_from(1 + bytes / 1024).unwrap_or(u32::MAX)
    }
}

/// What a restore did: how many places, and whether the whole `params` came back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    pub places: usize,
    pub whole: bool,
}

/// One filled place: a JSON Pointer relative to `params`, and what the app had written there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    pub pointer: String,
    pub original: String,
}

/// One remembered job, compressed: the `params` text (`whole`), or the filled places as a JSON
/// array of `[pointer, original]` pairs. 24 bytes besides its block, so that a map node
/// (key, record, links) fits a 64-byte allocation.
struct Record {
    block: Box<[u8]>,
    /// When it was remembered, in seconds since the memory was made.
    at: u32,
    /// Its weight in started KiB (a job weighing 64 MiB or more is not remembered).
    weight: u16,
    /// How many places were filled (saturating at [`MAX_PLACES`]), with [`WHOLE`] set when the
    /// block is the whole `params`.
    places: u16,
}

/// The flag in [`Record::places`] of a record that holds the whole `params`.
const WHOLE: u16 = 1 << 15;

/// The most places a record counts.
const MAX_PLACES: u16 = WHOLE - 1;

impl Record {
    /// The record of a job, compressed against one of `dictionaries`; `None` when it weighs too
    /// much to count.
    fn of(launched: &Launched, at: u32, dictionaries: &Dictionaries) -> Option<Self> {
        let weight = u16::try_from(launched.weight()).ok()?;
        let places = u16::try_from(launched.filled.len()).map_or(MAX_PLACES, |n| n.min(MAX_PLACES));
        let (text, places): (std::borrow::Cow<'_, [u8]>, u16) = match &launched.params {
            Some(text) => (text.as_bytes().into(), places.max(1) | WHOLE),
            None => {
                let pairs: Vec<[&str; 2]> = launched
                    .filled
                    .iter()
                    .map(|place| [place.pointer.as_str(), place.original.as_str()])
                    .collect();
                (
                    serde_json::to_vec(&pairs).unwrap_or_default().into(),
                    places,
                )
            }
        };
        Some(Self {
            block: dictionaries.compress(&text),
            at,
            weight,
            places,
        })
    }

    fn whole(&self) -> bool {
        self.places & WHOLE != 0
    }

    fn places(&self) -> usize {
        usize::from(self.places & MAX_PLACES)
    }
}

/// A job id as the memory keys it: the usual spellings (32 lowercase hex digits, or a
/// lowercase UUID) as their 16 bytes, so the key needs no allocation of its own; any other id
/// as its text. Each spelling maps to one key and back, so no two ids share one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum JobKey {
    Hex([u8; 16]),
    Uuid([u8; 16]),
    Text(Box<str>),
}

impl JobKey {
    /// The key of `job_id`. Only lowercase spellings are packed (the uuid crate would read
    /// upper case as the same bytes, and two ids would share a key).
    fn of(job_id: &str) -> Self {
        let bytes = job_id.as_bytes();
        let lower = !bytes.iter().any(u8::is_ascii_uppercase);
        let uuid = || {
            uuid::Uuid::try_parse(job_id)
                .ok()
                .map(uuid::Uuid::into_bytes)
        };
        match (bytes.len(), lower) {
            (32, true) => uuid().map_or_else(|| Self::Text(job_id.into()), Self::Hex),
            (36, true) => uuid().map_or_else(|| Self::Text(job_id.into()), Self::Uuid),
            _ => Self::Text(job_id.into()),
        }
    }
}

/// The records in the order they were made, with their total weight.
struct Store {
    /// Hashed with foldhash (seeded per process): job ids come from the upstream, and one
    /// hash per remembered job is most of what remembering costs besides the compression.
    jobs: LinkedHashMap<JobKey, Record, foldhash::fast::RandomState>,
    weight: u64,
}

/// What was launched, per job id. Cheap to clone.
#[derive(Clone)]
pub struct JobMemory {
    inner: Arc<Inner>,
}

struct Inner {
    store: Mutex<Store>,
    dictionaries: Dictionaries,
    capacity: u64,
    ttl_secs: u32,
    epoch: Instant,
}

impl std::fmt::Debug for JobMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobMemory")
            .field("jobs", &self.len())
            .finish()
    }
}

impl Default for JobMemory {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY, DEFAULT_TTL)
    }
}

impl JobMemory {
    /// A memory of `capacity` units (a job weighs one per started KiB) kept for `ttl`.
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: Mutex::new(Store {
                    jobs: LinkedHashMap::with_hasher(foldhash::fast::RandomState::default()),
                    weight: 0,
                }),
                dictionaries: Dictionaries::default(),
                capacity,
                ttl_secs: u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX),
                epoch: Instant::now(),
            }),
        }
    }

    /// Jobs remembered now.
    pub fn len(&self) -> usize {
        self.inner.store.lock().jobs.len()
    }

    /// Whether no job is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn now(&self) -> u32 {
        u32::try_from(self.inner.epoch.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// The store with the records past their age dropped (they are the oldest, in front).
    fn store(&self) -> parking_lot::MutexGuard<'_, Store> {
        let now = self.now();
        let mut store = self.inner.store.lock();
        while let Some((_, record)) = store.jobs.front() {
            if now.saturating_sub(record.at) < self.inner.ttl_secs {
                break;
            }
            store.pop_front();
        }
        store
    }

    /// Jobs remembered now, and their weight in started KiB.
    pub fn held(&self) -> (u64, u64) {
        let store = self.store();
        (store.jobs.len() as u64, store.weight)
    }

    /// Remembers what the app sent in a job. The first record of a job id stays: a job sent
    /// again with the same `nonce` gets the first job's id back from upstream, whose echoes
    /// hold the first job's params, so a later (and perhaps poorer) record must not replace it.
    /// The oldest records make room; a record heavier than the whole capacity is not kept.
    pub fn remember(&self, job_id: &str, launched: &Launched) {
        if launched.is_empty() {
            return;
        }
        let Some(record) = Record::of(launched, self.now(), &self.inner.dictionaries) else {
            return;
        };
        if u64::from(record.weight) > self.inner.capacity {
            return;
        }
        let key = JobKey::of(job_id);
        let mut store = self.store();
        let weight = u64::from(record.weight);
        match store.jobs.entry(key) {
            Entry::Occupied(_) => return,
            Entry::Vacant(slot) => drop(slot.insert(record)),
        }
        store.weight += weight;
        while store.weight > self.inner.capacity {
            store.pop_front();
        }
    }

    /// Whether the job was launched through the sidecar (and is still remembered).
    pub fn knows(&self, job_id: &str) -> bool {
        self.store().jobs.contains_key(&JobKey::of(job_id))
    }

    /// Puts the app's text back into an echo of the job's params: the whole object when it was
    /// kept, else the filled places. Returns how many places (at least 1 for a whole restore).
    pub fn restore(&self, job_id: &str, params: &mut Value) -> usize {
        self.restore_detail(job_id, params).places
    }

    /// [`JobMemory::restore`], saying whether the whole object was put back (so that nothing
    /// in it is upstream's).
    pub fn restore_detail(&self, job_id: &str, params: &mut Value) -> Restored {
        let (block, places, whole) = {
            let store = self.store();
            let Some(record) = store.jobs.get(&JobKey::of(job_id)) else {
                return Restored::default();
            };
            (record.block.clone(), record.places(), record.whole())
        };
        let Some(text) = self.inner.dictionaries.decompress(&block) else {
            return Restored::default();
        };
        if whole {
            if let Ok(sent) = serde_json::from_slice::<Value>(&text) {
                *params = sent;
                return Restored {
                    places,
                    whole: true,
                };
            }
            return Restored::default();
        }
        let pairs: Vec<(String, String)> = serde_json::from_slice(&text).unwrap_or_default();
        let mut restored = 0;
        for (at, original) in pairs {
            if let Some(slot) = pointer::get_mut(params, &at) {
                *slot = Value::String(original);
                restored += 1;
            }
        }
        Restored {
            places: restored,
            whole: false,
        }
    }
}

impl Store {
    fn pop_front(&mut self) {
        if let Some((_, record)) = self.jobs.pop_front() {
            self.weight -= u64::from(record.weight);
        }
    }
}

#[cfg(test)]
mod tests;

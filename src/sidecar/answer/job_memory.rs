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
//! upstream allows (one hour) with a wide margin for queueing.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use serde_json::Value;

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

/// What was launched, per job id. Cheap to clone.
#[derive(Clone)]
pub struct JobMemory {
    jobs: Cache<String, Arc<Launched>>,
}

impl std::fmt::Debug for JobMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobMemory")
            .field("jobs", &self.jobs.entry_count())
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
            jobs: Cache::builder()
                .max_capacity(capacity)
                .weigher(|_, launched: &Arc<Launched>| launched.weight())
                .time_to_live(ttl)
                .build(),
        }
    }

    /// Jobs remembered now, and their weight in started KiB (after moka has caught up).
    pub fn held(&self) -> (u64, u64) {
        self.jobs.run_pending_tasks();
        (self.jobs.entry_count(), self.jobs.weighted_size())
    }

    /// Remembers what the app sent in a job. The first record of a job id stays: a job sent
    /// again with the same `nonce` gets the first job's id back from upstream, whose echoes
    /// hold the first job's params, so a later (and perhaps poorer) record must not replace it.
    pub fn remember(&self, job_id: &str, launched: Launched) {
        if !launched.is_empty() {
            self.jobs
                .entry(job_id.to_owned())
                .or_insert_with(|| Arc::new(launched));
        }
    }

    /// Whether the job was launched through the sidecar (and is still remembered).
    pub fn knows(&self, job_id: &str) -> bool {
        self.jobs.contains_key(job_id)
    }

    /// Puts the app's text back into an echo of the job's params: the whole object when it was
    /// kept, else the filled places. Returns how many places (at least 1 for a whole restore).
    pub fn restore(&self, job_id: &str, params: &mut Value) -> usize {
        self.restore_detail(job_id, params).places
    }

    /// [`JobMemory::restore`], saying whether the whole object was put back (so that nothing
    /// in it is upstream's).
    pub fn restore_detail(&self, job_id: &str, params: &mut Value) -> Restored {
        let Some(launched) = self.jobs.get(job_id) else {
            return Restored::default();
        };
        if let Some(sent) = launched
            .params
            .as_deref()
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
        {
            *params = sent;
            return Restored {
                places: launched.filled.len().max(1),
                whole: true,
            };
        }
        let mut restored = 0;
        for place in launched.filled.iter() {
            if let Some(slot) = params.pointer_mut(&place.pointer) {
                *slot = Value::String(place.original.clone());
                restored += 1;
            }
        }
        Restored {
            places: restored,
            whole: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restores_the_placeholders_of_a_known_job() {
        let memory = JobMemory::default();
        memory.remember(
            "job-1",
            Launched::new(
                vec![
                    Filled {
                        pointer: "/password".into(),
                        original: "{{credential:p/password}}".into(),
                    },
                    Filled {
                        pointer: "/list/0".into(),
                        original: "Bearer {{credential:api/token}}".into(),
                    },
                ],
                None,
            ),
        );
        let mut params = json!({"password": "hunter22", "list": ["Bearer abc"], "other": 1});
        assert_eq!(memory.restore("job-1", &mut params), 2);
        assert_eq!(
            params,
            json!({"password": "{{credential:p/password}}", "list": ["Bearer {{credential:api/token}}"], "other": 1})
        );
        let mut unknown = json!({"password": "x"});
        assert_eq!(memory.restore("job-2", &mut unknown), 0);
    }

    #[test]
    fn the_whole_params_come_back_when_kept() {
        let memory = JobMemory::default();
        let sent = json!({"guesses": "alice demo-user root", "p": "{{credential:p/password}}"});
        let filled = vec![Filled {
            pointer: "/p".into(),
            original: "{{credential:p/password}}".into(),
        }];
        memory.remember("job-1", Launched::new(filled, Some(&sent)));
        let mut echo = json!({"guesses": "alice [redacted] root", "p": "hunter22", "extra": 1});
        assert_eq!(memory.restore("job-1", &mut echo), 1);
        assert_eq!(echo, sent);
        memory.remember("job-2", Launched::new(Vec::new(), Some(&json!({"a": "b"}))));
        assert!(memory.knows("job-2"));
        let big = json!({"pad": "x".repeat(MAX_PARAMS_BYTES)});
        assert!(Launched::new(Vec::new(), Some(&big)).is_empty());
    }

    #[test]
    fn a_repeated_job_id_keeps_its_first_record() {
        let memory = JobMemory::default();
        let sent = json!({"pin": "{{credential:p/pin}}"});
        let first = vec![Filled {
            pointer: "/pin".into(),
            original: "{{credential:p/pin}}".into(),
        }];
        memory.remember("job-1", Launched::new(first, Some(&sent)));
        let big = json!({"pad": "x".repeat(MAX_PARAMS_BYTES), "other": "{{credential:p/pin}}"});
        let poorer = vec![Filled {
            pointer: "/other".into(),
            original: "{{credential:p/pin}}".into(),
        }];
        memory.remember("job-1", Launched::new(poorer, Some(&big)));
        let mut echo = json!({"pin": 12345678});
        assert!(memory.restore_detail("job-1", &mut echo).whole);
        assert_eq!(echo, sent);
    }
}

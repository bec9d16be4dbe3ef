//! What the sidecar filled into each job it launched, so echoes can be put back.
//!
//! Upstream stores a job's `params` with the real values and echoes them in `jobs/get`
//! (`params`) and `jobs/debugReport` (`job_params`). For every job launched through the sidecar
//! this memory keeps, per job id, the places in `params` that were filled and the text the app
//! sent there (the placeholder). Answers about that job get the app's text back, so the app sees
//! exactly what it sent and never the secret.
//!
//! Memory is bounded by entry count and by age; the age default outlives the longest job
//! timeout upstream allows (one hour) with a wide margin for queueing.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use serde_json::Value;

/// Jobs remembered by default.
pub const DEFAULT_CAPACITY: u64 = 100_000;

/// How long a job is remembered by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(6 * 60 * 60);

/// One filled place: a JSON Pointer relative to `params`, and what the app had written there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    pub pointer: String,
    pub original: String,
}

/// Filled places per job id. Cheap to clone.
#[derive(Clone)]
pub struct JobMemory {
    jobs: Cache<String, Arc<Vec<Filled>>>,
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
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            jobs: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// Remembers what was filled into a job.
    pub fn remember(&self, job_id: &str, filled: Vec<Filled>) {
        if !filled.is_empty() {
            self.jobs.insert(job_id.to_owned(), Arc::new(filled));
        }
    }

    /// Puts the app's text back into an echo of the job's params; returns how many places.
    pub fn restore(&self, job_id: &str, params: &mut Value) -> usize {
        let Some(filled) = self.jobs.get(job_id) else {
            return 0;
        };
        let mut restored = 0;
        for place in filled.iter() {
            if let Some(slot) = params.pointer_mut(&place.pointer) {
                *slot = Value::String(place.original.clone());
                restored += 1;
            }
        }
        restored
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
}

//! Echoes withheld while the known secrets are still being learned after start-up.
//!
//! The known secrets and the job memory live in memory, so a restarted sidecar knows no secret
//! value until it has fetched it, while upstream still echoes the real values of jobs launched
//! before the restart (`params`, `job_params`, a workflow's log lines, a result). Until the
//! first learning pass (see `crate::sidecar::learn`) has fetched every credential of the
//! tenant, an answer on an echo route (`jobs/get`, `jobs/list`, `jobs/debugReport`,
//! `logs/list`) is passed only when every job it is about is one the job memory knows (a job
//! launched through this sidecar since it started, whose credentials it fetched itself);
//! any other is refused whole with 503 `NOT_READY`, and so is an echo answer that cannot be
//! read as JSON. Error answers and the other routes are scrubbed as always.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::sidecar::answer::job_memory::JobMemory;

/// Whether the first learning pass has finished. Cheap to clone; clones share the flag.
#[derive(Debug, Clone)]
pub struct Learning {
    complete: Arc<AtomicBool>,
}

impl Default for Learning {
    /// Complete: nothing to wait for (learning turned off, or a sidecar built without it).
    fn default() -> Self {
        Self::new(true)
    }
}

impl Learning {
    pub fn new(complete: bool) -> Self {
        Self {
            complete: Arc::new(AtomicBool::new(complete)),
        }
    }

    /// A flag still waiting for the first pass.
    pub fn pending() -> Self {
        Self::new(false)
    }

    pub fn set_complete(&self) {
        self.complete.store(true, Ordering::Release);
    }

    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }
}

/// Which jobs an answer is about, by route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// Not an echo route.
    None,
    /// `jobs/get`, `jobs/debugReport`: the job in `json`.
    Job,
    /// `jobs/list`: `json.jobs[]`.
    JobList,
    /// `logs/list`: `json.logs[].jobId`.
    Logs,
}

impl Watched {
    /// The echo route a request is on, from its normalized path ([`Route::normalized`]).
    ///
    /// [`Route::normalized`]: crate::sidecar::route::Route::normalized
    pub fn of_path(normalized: &str) -> Self {
        match normalized {
            "/v1/jobs/get" | "/v1/jobs/debugreport" => Self::Job,
            "/v1/jobs/list" => Self::JobList,
            "/v1/logs/list" => Self::Logs,
            _ => Self::None,
        }
    }
}

/// Whether a successful echo answer may pass while learning is incomplete: it parses, and
/// every job it is about is one the job memory knows. Fails closed on any other shape.
pub fn may_pass(bytes: &[u8], watched: Watched, jobs: &JobMemory) -> bool {
    if watched == Watched::None {
        return true;
    }
    let Ok(answer) = serde_json::from_slice::<Value>(bytes) else {
        return false;
    };
    let Some(output) = answer.get("json") else {
        return false;
    };
    let known = |item: &Value, keys: &[&str]| {
        keys.iter()
            .find_map(|key| item.get(*key).and_then(Value::as_str))
            .is_some_and(|id| jobs.knows(id))
    };
    let all_known = |list: Option<&Value>, keys: &[&str]| {
        list.and_then(Value::as_array)
            .is_some_and(|items| items.iter().all(|item| known(item, keys)))
    };
    match watched {
        Watched::None => true,
        Watched::Job => known(output, &["job_id", "id"]),
        Watched::JobList => all_known(output.get("jobs"), &["job_id", "id"]),
        Watched::Logs => all_known(output.get("logs"), &["jobId", "job_id"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sidecar::answer::job_memory::{Filled, Launched};
    use crate::sidecar::route::Route;
    use http::Method;

    fn memory() -> JobMemory {
        let jobs = JobMemory::default();
        let filled = vec![Filled {
            pointer: "/p".into(),
            original: "{{credential:c/p}}".into(),
        }];
        jobs.remember("new", &Launched::new(filled, None));
        jobs
    }

    #[test]
    fn only_answers_about_known_jobs_pass() {
        let jobs = memory();
        let pass = |body: &str, watched| may_pass(body.as_bytes(), watched, &jobs);
        assert!(pass(
            r#"{"json":{"job_id":"new","params":{}}}"#,
            Watched::Job
        ));
        assert!(!pass(
            r#"{"json":{"job_id":"old","params":{}}}"#,
            Watched::Job
        ));
        assert!(!pass(r#"{"json":{"params":{}}}"#, Watched::Job));
        assert!(pass(
            r#"{"json":{"jobs":[{"job_id":"new"}]}}"#,
            Watched::JobList
        ));
        assert!(pass(r#"{"json":{"jobs":[]}}"#, Watched::JobList));
        assert!(!pass(
            r#"{"json":{"jobs":[{"job_id":"new"},{"job_id":"old"}]}}"#,
            Watched::JobList
        ));
        assert!(pass(
            r#"{"json":{"logs":[{"jobId":"new"}]}}"#,
            Watched::Logs
        ));
        assert!(!pass(
            r#"{"json":{"logs":[{"message":"x"}]}}"#,
            Watched::Logs
        ));
        assert!(!pass(r#"{"json":{"logs":{}}}"#, Watched::Logs));
        assert!(!pass("not json", Watched::Logs));
        assert!(pass("not json", Watched::None));
    }

    #[test]
    fn echo_routes_are_read_from_the_normalized_path() {
        let of = |path| Watched::of_path(Route::of(&Method::POST, path).normalized());
        assert_eq!(of("/v1/jobs/get"), Watched::Job);
        assert_eq!(of("/v1/JOBS//debugReport"), Watched::Job);
        assert_eq!(of("/v1/jobs/list/"), Watched::JobList);
        assert_eq!(of("/v1/logs/%6cist"), Watched::Logs);
        assert_eq!(of("/v1/jobs/create"), Watched::None);
    }

    #[test]
    fn the_flag_is_shared() {
        let learning = Learning::pending();
        let clone = learning.clone();
        assert!(!clone.is_complete());
        learning.set_complete();
        assert!(clone.is_complete());
        assert!(Learning::default().is_complete());
    }
}

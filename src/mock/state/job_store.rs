//! The job store: one tenant's jobs, as `jobs/get` and `jobs/list` show them.
//!
//! It keeps each job by id, in creation order for newest-first pages, by `nonce` so a repeated
//! `jobs/create` finds the first job, and the order in which jobs finished, so each tenant
//! keeps at most the configured number of finished jobs: beyond it, its own oldest finished
//! jobs are dropped, with their logs and nonces, so one tenant's burst never costs another
//! tenant its history. How a job moves from `queued` to its end is `job_lifecycle.rs`.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::budget::overhead;
use super::job_hooks::JobHooks;
use super::stored_json::StoredJson;
use super::tenant_id::TenantId;
use crate::http::envelope::ApiError;

/// How long a job may run when `jobs/create` does not say, as upstream.
pub(crate) const DEFAULT_TIMEOUT_SECONDS: u64 = 1800;

/// Job statuses as upstream names them.
pub(crate) const STATUSES: &[&str] = &[
    "queued",
    "starting_browser",
    "running",
    "completed",
    "failed",
    "cancelled",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Queued or running: the job may still use its credentials.
    pub(crate) fn is_live(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

/// Why a job operation was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum JobError {
    #[error("Job not found")]
    NotFound,
    #[error("The job references a credential that does not exist")]
    UnknownCredentials(Vec<Uuid>),
    #[error("Only queued or running jobs can be cancelled; this job is {0}")]
    NotCancellable(&'static str),
    #[error("A debug report exists only for failed jobs; this job is {0}")]
    NotFailed(&'static str),
}

impl From<JobError> for ApiError {
    fn from(err: JobError) -> Self {
        let message = err.to_string();
        match err {
            JobError::NotFound => ApiError::not_found(message),
            JobError::UnknownCredentials(ids) => {
                ApiError::conflict(message).with_data(json!({ "credential_ids": ids }))
            }
            JobError::NotCancellable(_) | JobError::NotFailed(_) => ApiError::conflict(message),
        }
    }
}

/// One job, as `jobs/get` shows it, plus what the mock needs to run it.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) id: Uuid,
    pub(crate) seq: u64,
    pub(crate) workflow: String,
    pub(crate) deployment_id: Uuid,
    pub(crate) workflow_id: Uuid,
    /// Exactly as received, kept as compact text.
    pub(crate) params: StoredJson,
    pub(crate) status: JobStatus,
    pub(crate) created_at: String,
    pub(crate) started_at: Option<String>,
    pub(crate) completed_at: Option<String>,
    pub(crate) result: Option<Value>,
    pub(crate) error: Option<String>,
    pub(crate) mapped_stack: Option<String>,
    pub(crate) credential_ids: Vec<Uuid>,
    pub(crate) nonce: Option<String>,
    /// How long it may run before it fails as timed out.
    pub(crate) timeout_seconds: u64,
    /// Where its result goes when it ends (see `engine/callbacks.rs`).
    pub(crate) hooks: JobHooks,
}

impl Job {
    /// Bytes it takes, counted when it is stored: its params and strings, and room for the
    /// result, error and stack its end writes (each at most a few times its workflow name).
    pub(crate) fn bytes(&self) -> usize {
        job_cost(
            &self.workflow,
            &self.params,
            self.nonce.as_deref(),
            self.credential_ids.len(),
            &self.hooks,
        )
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "job_id": self.id,
            "deployment_id": self.deployment_id,
            "deployment_version": 1,
            "workflow_id": self.workflow_id,
            "workflow": self.workflow,
            "params": self.params.to_value(),
            "status": self.status.as_str(),
            "created_at": self.created_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "result": self.result,
            "error": self.error,
            "mapped_stack": self.mapped_stack,
        })
    }

    pub(crate) fn summary(&self) -> Value {
        json!({
            "job_id": self.id,
            "deployment_id": self.deployment_id,
            "workflow_id": self.workflow_id,
            "workflow": self.workflow,
            "status": self.status.as_str(),
            "created_at": self.created_at,
            "completed_at": self.completed_at,
        })
    }

    pub(crate) fn created_answer(&self) -> Value {
        json!({
            "success": true,
            "job_id": self.id,
            "status": self.status.as_str(),
            "message": "Job queued successfully",
        })
    }

    /// The answer to a `jobs/create` whose nonce named this job: the job as it is now.
    pub(crate) fn repeated_answer(&self) -> Value {
        json!({
            "success": true,
            "job_id": self.id,
            "status": self.status.as_str(),
            "message": "Job already exists for this nonce",
        })
    }
}

/// Bytes a job takes (see [`Job::bytes`]).
pub(crate) fn job_cost(
    workflow: &str,
    params: &StoredJson,
    nonce: Option<&str>,
    credentials: usize,
    hooks: &JobHooks,
) -> usize {
    let callback = hooks.callback.as_ref().map_or(0, |callback| {
        callback.url.len() + callback.sealed_secret.len()
    });
    let start_url = hooks.launch.start_url.as_ref().map_or(0, String::len);
    overhead::JOB
        + params.len()
        + 4 * workflow.len()
        + 2 * nonce.map_or(0, str::len)
        + 16 * credentials
        + callback
        + start_url
}

/// Bytes to make room for besides the job: the log lines its lifecycle writes.
pub(crate) fn lifecycle_log_cost(workflow: &str) -> usize {
    4 * (overhead::LOG_LINE + 2 * workflow.len() + 160)
}

/// A UUID that is the same every time for one tenant, kind and workflow, so a workflow keeps
/// its `deployment_id` and `workflow_id` across jobs (and restarts).
pub(crate) fn stable_uuid(tenant: &TenantId, kind: &str, workflow: &str) -> Uuid {
    let digest = Sha256::new()
        .chain_update(tenant.as_str())
        .chain_update([0])
        .chain_update(kind)
        .chain_update([0])
        .chain_update(workflow)
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// One tenant's jobs.
#[derive(Default)]
pub(crate) struct JobStore {
    by_id: HashMap<Uuid, Job>,
    order: BTreeMap<u64, Uuid>,
    nonces: HashMap<String, Uuid>,
    /// Finished jobs in the order they finished (with the budget's tick then), for dropping
    /// the oldest.
    finished: VecDeque<(u64, Uuid)>,
    /// Bytes its jobs take, each counted as it was stored (see `budget.rs`).
    bytes: usize,
    /// Bytes counted for each job, so removing one takes off what was added.
    counted: HashMap<Uuid, usize>,
}

impl JobStore {
    pub(crate) fn insert(&mut self, job: Job) {
        if let Some(nonce) = &job.nonce {
            self.nonces.insert(nonce.clone(), job.id);
        }
        self.order.insert(job.seq, job.id);
        let bytes = job.bytes();
        self.bytes += bytes;
        self.counted.insert(job.id, bytes);
        self.by_id.insert(job.id, job);
    }

    /// Bytes its jobs take.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether any job is queued or running.
    pub(crate) fn has_live(&self) -> bool {
        self.by_id.len() > self.finished.len()
    }

    /// When its oldest finished job ended (the budget's tick), if it has one.
    pub(crate) fn oldest_finished(&self) -> Option<u64> {
        self.finished.front().map(|(tick, _)| *tick)
    }

    /// Takes its oldest finished job out of the finished order, for the caller to drop.
    pub(crate) fn pop_oldest_finished(&mut self) -> Option<Uuid> {
        self.finished.pop_front().map(|(_, id)| id)
    }

    pub(crate) fn get(&self, id: Uuid) -> Option<&Job> {
        self.by_id.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: Uuid) -> Option<&mut Job> {
        self.by_id.get_mut(&id)
    }

    pub(crate) fn by_nonce(&self, nonce: &str) -> Option<&Job> {
        self.nonces.get(nonce).and_then(|id| self.by_id.get(id))
    }

    /// Forgets a job and its nonce.
    pub(crate) fn remove(&mut self, id: Uuid) -> Option<Job> {
        let job = self.by_id.remove(&id)?;
        self.bytes -= self.counted.remove(&id).unwrap_or(0);
        self.order.remove(&job.seq);
        if let Some(nonce) = &job.nonce {
            if self.nonces.get(nonce) == Some(&id) {
                self.nonces.remove(nonce);
            }
        }
        Some(job)
    }

    /// Notes that a job ended; returns the oldest finished jobs beyond `keep`, forgotten here
    /// and to be dropped with their logs by the caller
    /// (`job_lifecycle::drop_job`).
    pub(crate) fn retire(&mut self, id: Uuid, keep: usize, tick: u64) -> Vec<Uuid> {
        if !self.by_id.contains_key(&id) {
            return Vec::new();
        }
        self.finished.push_back((tick, id));
        let excess = self.finished.len().saturating_sub(keep);
        self.finished.drain(..excess).map(|(_, id)| id).collect()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Ids of queued or running jobs that reference `credential`, oldest first.
    pub(crate) fn live_referencing(&self, credential: Uuid) -> Vec<Uuid> {
        self.order
            .values()
            .filter_map(|id| self.by_id.get(id))
            .filter(|job| job.status.is_live() && job.credential_ids.contains(&credential))
            .map(|job| job.id)
            .collect()
    }

    /// Up to `limit` jobs, newest first, at or below sequence `before`; and where the next
    /// page starts.
    pub(crate) fn page(
        &self,
        status: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> (Vec<&Job>, Option<u64>) {
        let mut matching = self
            .order
            .range(..=before.unwrap_or(u64::MAX))
            .rev()
            .filter_map(|(_, id)| self.by_id.get(id))
            .filter(|job| status.is_none_or(|s| s == job.status.as_str()));
        let page: Vec<&Job> = matching.by_ref().take(limit).collect();
        let next = matching.next().map(|job| job.seq);
        (page, next)
    }
}

#[cfg(test)]
impl Job {
    /// A queued job of `workflow` for tenant `k`, with the params `{"b": 1, "a": 2}` and the
    /// nonce `n-<workflow>`, for tests.
    pub(crate) fn for_test(seq: u64, workflow: &str, credential_ids: Vec<Uuid>) -> Self {
        let tenant_id = TenantId::from_api_key(b"k");
        Job {
            id: Uuid::new_v4(),
            seq,
            workflow: workflow.into(),
            deployment_id: stable_uuid(&tenant_id, "deployment", workflow),
            workflow_id: stable_uuid(&tenant_id, "workflow", workflow),
            params: StoredJson::new(&json!({"b": 1, "a": 2})),
            status: JobStatus::Queued,
            created_at: crate::runtime::clock::now_string(),
            started_at: None,
            completed_at: None,
            result: None,
            error: None,
            mapped_stack: None,
            credential_ids,
            nonce: Some(format!("n-{workflow}")),
            timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            hooks: JobHooks::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inserts a test job of `workflow` at sequence `seq`.
    fn job(store: &mut JobStore, seq: u64, workflow: &str) -> Uuid {
        let job = Job::for_test(seq, workflow, vec![]);
        let id = job.id;
        store.insert(job);
        id
    }

    #[test]
    fn each_store_keeps_its_own_finished_jobs() {
        let mut store = JobStore::default();
        let ids: Vec<Uuid> = (0..4u64).map(|i| job(&mut store, i + 1, "w")).collect();
        assert!(store.retire(ids[0], 2, 1).is_empty());
        assert!(store.retire(ids[1], 2, 2).is_empty());
        assert_eq!(store.retire(ids[2], 2, 3), vec![ids[0]]);
        assert_eq!(store.retire(ids[3], 2, 4), vec![ids[1]]);
    }

    #[test]
    fn pages_newest_first() {
        let mut store = JobStore::default();
        let ids: Vec<Uuid> = (0..5)
            .map(|i| job(&mut store, i + 1, &format!("w{i}")))
            .collect();
        let (page, next) = store.page(None, None, 2);
        assert_eq!(
            page.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![ids[4], ids[3]]
        );
        let (page, next) = store.page(None, next, 2);
        assert_eq!(
            page.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![ids[2], ids[1]]
        );
        let (page, next) = store.page(None, next, 2);
        assert_eq!(page.iter().map(|j| j.id).collect::<Vec<_>>(), vec![ids[0]]);
        assert_eq!(next, None);
        assert!(store.page(Some("running"), None, 10).0.is_empty());
    }

    #[test]
    fn stable_ids_per_tenant_and_workflow() {
        let a = TenantId::from_api_key(b"a");
        let b = TenantId::from_api_key(b"b");
        assert_eq!(
            stable_uuid(&a, "workflow", "w"),
            stable_uuid(&a, "workflow", "w")
        );
        assert_ne!(
            stable_uuid(&a, "workflow", "w"),
            stable_uuid(&b, "workflow", "w")
        );
        assert_ne!(
            stable_uuid(&a, "workflow", "w"),
            stable_uuid(&a, "deployment", "w")
        );
        assert_eq!(stable_uuid(&a, "workflow", "w").get_version_num(), 4);
    }
}

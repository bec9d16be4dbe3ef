//! The job store and the lifecycle that moves jobs along.
//!
//! A job is `queued`, becomes `running` shortly after (the configured start delay), and ends
//! `completed` after the configured job duration, or never when the duration is `never`.
//! Conventions, so tests and demos can steer outcomes by workflow name: a workflow whose name
//! starts with `fail` ends `failed` with an `error` and a `mapped_stack`; one starting with
//! `echo` logs its `params` as compact JSON when it starts.
//!
//! A job may run for at most its `timeout_seconds` (default 1800): when that comes before the
//! job duration (or the duration is `never`), the job ends `failed` with the error
//! "Job timed out after Ns", as upstream reports a timeout.
//!
//! Jobs are created here for `jobs/create` and for the scheduler alike, so both get the same
//! delete guard, logs and callbacks. Each tenant keeps at most the configured number of
//! finished jobs: beyond it, its own oldest finished jobs are dropped, with their logs and
//! nonces, so one tenant's burst never costs another tenant its history.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tracing::debug;
use uuid::Uuid;

use super::callbacks::JobHooks;
use super::logs::LogLine;
use super::tenant::{Tenant, TenantId};
use super::Mock;
use crate::cli::JobDuration;
use crate::clock;
use crate::envelope::ApiError;

/// The request header through which a caller names the credentials a job uses.
pub const CREDENTIAL_IDS_HEADER: &str = "x-libretto-credential-ids";

/// How long a job may run when `jobs/create` does not say, as upstream.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 1800;

/// Job statuses as upstream names them.
pub const STATUSES: &[&str] = &[
    "queued",
    "starting_browser",
    "running",
    "completed",
    "failed",
    "cancelled",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Queued or running: the job may still use its credentials.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

/// Why a job operation was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum JobError {
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
pub struct Job {
    pub id: Uuid,
    pub seq: u64,
    pub workflow: String,
    pub deployment_id: Uuid,
    pub workflow_id: Uuid,
    /// Exactly as received.
    pub params: Value,
    pub status: JobStatus,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub mapped_stack: Option<String>,
    pub credential_ids: Vec<Uuid>,
    pub nonce: Option<String>,
    /// How long it may run before it fails as timed out.
    pub timeout_seconds: u64,
    /// Where its result goes when it ends (see `callbacks.rs`).
    pub hooks: JobHooks,
}

impl Job {
    pub fn to_json(&self) -> Value {
        json!({
            "job_id": self.id,
            "deployment_id": self.deployment_id,
            "deployment_version": 1,
            "workflow_id": self.workflow_id,
            "workflow": self.workflow,
            "params": self.params,
            "status": self.status.as_str(),
            "created_at": self.created_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "result": self.result,
            "error": self.error,
            "mapped_stack": self.mapped_stack,
        })
    }

    pub fn summary(&self) -> Value {
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

    pub(super) fn created_answer(&self) -> Value {
        json!({
            "success": true,
            "job_id": self.id,
            "status": self.status.as_str(),
            "message": "Job queued successfully",
        })
    }

    /// The answer to a `jobs/create` whose nonce named this job: the job as it is now.
    pub(super) fn repeated_answer(&self) -> Value {
        json!({
            "success": true,
            "job_id": self.id,
            "status": self.status.as_str(),
            "message": "Job already exists for this nonce",
        })
    }
}

/// A UUID that is the same every time for one tenant, kind and workflow, so a workflow keeps
/// its `deployment_id` and `workflow_id` across jobs (and restarts).
pub fn stable_uuid(tenant: &TenantId, kind: &str, workflow: &str) -> Uuid {
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
pub struct JobStore {
    by_id: HashMap<Uuid, Job>,
    order: BTreeMap<u64, Uuid>,
    nonces: HashMap<String, Uuid>,
    /// Finished jobs in the order they finished, for dropping the oldest.
    finished: VecDeque<Uuid>,
}

impl JobStore {
    pub fn insert(&mut self, job: Job) {
        if let Some(nonce) = &job.nonce {
            self.nonces.insert(nonce.clone(), job.id);
        }
        self.order.insert(job.seq, job.id);
        self.by_id.insert(job.id, job);
    }

    pub fn get(&self, id: Uuid) -> Option<&Job> {
        self.by_id.get(&id)
    }

    fn get_mut(&mut self, id: Uuid) -> Option<&mut Job> {
        self.by_id.get_mut(&id)
    }

    pub fn by_nonce(&self, nonce: &str) -> Option<&Job> {
        self.nonces.get(nonce).and_then(|id| self.by_id.get(id))
    }

    /// Forgets a job and its nonce.
    pub fn remove(&mut self, id: Uuid) -> Option<Job> {
        let job = self.by_id.remove(&id)?;
        self.order.remove(&job.seq);
        if let Some(nonce) = &job.nonce {
            if self.nonces.get(nonce) == Some(&id) {
                self.nonces.remove(nonce);
            }
        }
        Some(job)
    }

    /// Notes that a job ended; returns the oldest finished jobs beyond `keep`, forgotten here
    /// and to be dropped with their logs by the caller.
    fn retire(&mut self, id: Uuid, keep: usize) -> Vec<Uuid> {
        self.finished.push_back(id);
        let excess = self.finished.len().saturating_sub(keep);
        self.finished.drain(..excess).collect()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Ids of queued or running jobs that reference `credential`, oldest first.
    pub fn live_referencing(&self, credential: Uuid) -> Vec<Uuid> {
        self.order
            .values()
            .filter_map(|id| self.by_id.get(id))
            .filter(|job| job.status.is_live() && job.credential_ids.contains(&credential))
            .map(|job| job.id)
            .collect()
    }

    /// Up to `limit` jobs, newest first, at or below sequence `before`; and where the next
    /// page starts.
    pub fn page(
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

fn log(tenant: &mut Tenant, job: &Job, level: &'static str, message: String) {
    let seq = tenant.next_seq();
    tenant.logs.push(
        seq,
        LogLine {
            job_id: job.id,
            workflow: job.workflow.clone(),
            level,
            message,
            timestamp: clock::now_string(),
        },
    );
}

/// Creates a queued job under the tenant's lock: the one way jobs are made, by `jobs/create`
/// and by schedules alike. The caller starts its lifecycle once the lock is released.
#[allow(clippy::too_many_arguments)]
pub fn enqueue_job(
    tenant: &mut Tenant,
    tenant_id: &TenantId,
    id: Uuid,
    workflow: &str,
    params: Value,
    credential_ids: Vec<Uuid>,
    nonce: Option<String>,
    hooks: JobHooks,
) -> Job {
    let job = Job {
        id,
        seq: tenant.next_seq(),
        workflow: workflow.to_string(),
        deployment_id: stable_uuid(tenant_id, "deployment", workflow),
        workflow_id: stable_uuid(tenant_id, "workflow", workflow),
        params,
        status: JobStatus::Queued,
        created_at: clock::now_string(),
        started_at: None,
        completed_at: None,
        result: None,
        error: None,
        mapped_stack: None,
        credential_ids,
        nonce,
        timeout_seconds: hooks
            .launch
            .timeout_seconds
            .and_then(|seconds| u64::try_from(seconds).ok())
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS),
        hooks,
    };
    tenant.jobs.insert(job.clone());
    log(tenant, &job, "info", "Job queued".to_string());
    job
}

/// Adds a line to a job's logs, if the job is still kept.
pub fn log_job_line(tenant: &mut Tenant, id: Uuid, level: &'static str, message: String) {
    if let Some(job) = tenant.jobs.get(id).cloned() {
        log(tenant, &job, level, message);
    }
}

/// Moves a queued job to running. False when it is no longer queued (cancelled or dropped).
pub fn start(tenant: &mut Tenant, id: Uuid) -> bool {
    let Some(job) = tenant.jobs.get_mut(id) else {
        return false;
    };
    if job.status != JobStatus::Queued {
        return false;
    }
    job.status = JobStatus::Running;
    job.started_at = Some(clock::now_string());
    let job = job.clone();
    log(
        tenant,
        &job,
        "info",
        format!("Job started: workflow {}", job.workflow),
    );
    if job.workflow.starts_with("echo") {
        let params = serde_json::to_string(&job.params).unwrap_or_default();
        log(tenant, &job, "info", format!("Workflow input: {params}"));
    }
    true
}

/// Ends a running job, completed or (for `fail*` workflows) failed. False when it is no longer
/// running.
pub fn finish(tenant: &mut Tenant, id: Uuid) -> bool {
    let Some(job) = tenant.jobs.get_mut(id) else {
        return false;
    };
    if job.status != JobStatus::Running {
        return false;
    }
    job.completed_at = Some(clock::now_string());
    if job.workflow.starts_with("fail") {
        let error = format!(
            "Workflow \"{}\" failed: simulated failure (workflows named fail* always fail)",
            job.workflow
        );
        job.status = JobStatus::Failed;
        job.mapped_stack = Some(format!(
            "Error: {error}\n    at run ({}.ts:1:1)\n    at main (index.ts:1:1)",
            job.workflow
        ));
        job.error = Some(error.clone());
        let job = job.clone();
        log(tenant, &job, "error", format!("Job failed: {error}"));
    } else {
        job.status = JobStatus::Completed;
        job.result = Some(json!({ "success": true, "workflow": job.workflow }));
        let job = job.clone();
        log(tenant, &job, "info", "Job completed".to_string());
    }
    true
}

/// Ends a running job as timed out: `failed`, with the error upstream gives. False when it is
/// no longer running.
pub fn time_out(tenant: &mut Tenant, id: Uuid) -> bool {
    let Some(job) = tenant.jobs.get_mut(id) else {
        return false;
    };
    if job.status != JobStatus::Running {
        return false;
    }
    let error = format!("Job timed out after {}s", job.timeout_seconds);
    job.status = JobStatus::Failed;
    job.completed_at = Some(clock::now_string());
    job.error = Some(error.clone());
    let job = job.clone();
    log(tenant, &job, "error", format!("Job failed: {error}"));
    true
}

/// How a running job ends by itself, and how long after it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Its workflow ends (completed, or failed for `fail*`).
    Finish(Duration),
    /// Its timeout comes first.
    TimeOut(Duration),
}

/// Whichever comes first: the configured job duration or the job's own timeout. A tie
/// finishes: the workflow made it in time.
pub fn ending(duration: JobDuration, timeout_seconds: u64) -> Ending {
    let timeout = Duration::from_secs(timeout_seconds);
    match duration {
        JobDuration::After(duration) if duration <= timeout => Ending::Finish(duration),
        _ => Ending::TimeOut(timeout),
    }
}

/// Cancels a queued or running job.
pub fn cancel(tenant: &mut Tenant, id: Uuid) -> Result<(), JobError> {
    let job = tenant.jobs.get_mut(id).ok_or(JobError::NotFound)?;
    if !job.status.is_live() {
        return Err(JobError::NotCancellable(job.status.as_str()));
    }
    job.status = JobStatus::Cancelled;
    job.completed_at = Some(clock::now_string());
    let job = job.clone();
    log(tenant, &job, "warn", "Job cancelled".to_string());
    Ok(())
}

/// Forgets a job with its logs and nonce.
pub fn drop_job(tenant: &mut Tenant, id: Uuid) {
    tenant.jobs.remove(id);
    tenant.logs.remove_job(id);
}

impl Mock {
    /// Notes that a job ended and drops the tenant's oldest finished jobs beyond the limit.
    pub(super) fn record_finished(&self, tenant_id: &TenantId, id: Uuid) {
        let Some(tenant) = self.existing_tenant(tenant_id) else {
            return;
        };
        let mut tenant = tenant.lock();
        for job_id in tenant.jobs.retire(id, self.inner.config.max_jobs) {
            drop_job(&mut tenant, job_id);
            debug!(job_id = %job_id, "Finished job dropped");
        }
    }

    /// Runs a new job's lifecycle on timers. Holds only a weak handle, so a dropped mock stops.
    pub(super) fn spawn_lifecycle(&self, tenant_id: TenantId, id: Uuid) {
        let weak = self.downgrade();
        let start_delay = self.inner.config.start_delay;
        let duration = self.inner.config.job_duration;
        tokio::spawn(async move {
            tokio::time::sleep(start_delay).await;
            let Some(tenant) =
                Mock::upgrade(&weak).and_then(|mock| mock.existing_tenant(&tenant_id))
            else {
                return;
            };
            let timeout_seconds = {
                let mut tenant = tenant.lock();
                if !start(&mut tenant, id) {
                    return;
                }
                tenant
                    .jobs
                    .get(id)
                    .map_or(DEFAULT_TIMEOUT_SECONDS, |job| job.timeout_seconds)
            };
            drop(tenant);
            let ending = ending(duration, timeout_seconds);
            let (Ending::Finish(after) | Ending::TimeOut(after)) = ending;
            tokio::time::sleep(after).await;
            let Some(mock) = Mock::upgrade(&weak) else {
                return;
            };
            let Some(tenant) = mock.existing_tenant(&tenant_id) else {
                return;
            };
            let ended = {
                let mut tenant = tenant.lock();
                match ending {
                    Ending::Finish(_) => finish(&mut tenant, id),
                    Ending::TimeOut(_) => time_out(&mut tenant, id),
                }
            };
            if ended {
                mock.job_ended(&tenant_id, id);
                mock.record_finished(&tenant_id, id);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::Sealer;

    fn tenant() -> Tenant {
        Tenant::new(TenantId::from_api_key(b"k"), Sealer::random())
    }

    fn job(tenant: &mut Tenant, workflow: &str, credentials: Vec<Uuid>) -> Uuid {
        let tenant_id = TenantId::from_api_key(b"k");
        let job = Job {
            id: Uuid::new_v4(),
            seq: tenant.next_seq(),
            workflow: workflow.into(),
            deployment_id: stable_uuid(&tenant_id, "deployment", workflow),
            workflow_id: stable_uuid(&tenant_id, "workflow", workflow),
            params: json!({"b": 1, "a": 2}),
            status: JobStatus::Queued,
            created_at: clock::now_string(),
            started_at: None,
            completed_at: None,
            result: None,
            error: None,
            mapped_stack: None,
            credential_ids: credentials,
            nonce: Some(format!("n-{workflow}")),
            timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            hooks: JobHooks::default(),
        };
        let id = job.id;
        tenant.jobs.insert(job);
        id
    }

    #[test]
    fn lifecycle_and_outcomes() {
        let mut t = tenant();
        let ok = job(&mut t, "portal", vec![]);
        let bad = job(&mut t, "fail-login", vec![]);
        assert!(!finish(&mut t, ok), "a queued job does not finish");
        assert!(start(&mut t, ok) && start(&mut t, bad));
        assert!(!start(&mut t, ok), "a running job does not start again");
        assert!(finish(&mut t, ok) && finish(&mut t, bad));
        assert_eq!(t.jobs.get(ok).unwrap().status, JobStatus::Completed);
        assert!(t.jobs.get(ok).unwrap().result.is_some());
        let failed = t.jobs.get(bad).unwrap();
        assert_eq!(failed.status, JobStatus::Failed);
        assert!(failed.error.is_some() && failed.mapped_stack.is_some());
        assert_eq!(
            cancel(&mut t, ok),
            Err(JobError::NotCancellable("completed"))
        );
    }

    #[test]
    fn a_timeout_fails_a_running_job() {
        let mut t = tenant();
        let id = job(&mut t, "portal", vec![]);
        t.jobs.get_mut(id).unwrap().timeout_seconds = 7;
        assert!(!time_out(&mut t, id), "a queued job does not time out");
        start(&mut t, id);
        assert!(time_out(&mut t, id));
        assert!(!finish(&mut t, id), "a timed-out job does not finish");
        let failed = t.jobs.get(id).unwrap();
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!(failed.error.as_deref(), Some("Job timed out after 7s"));
        assert!(failed.completed_at.is_some());
        assert!(t
            .logs
            .of_job(id)
            .iter()
            .any(|line| line.level == "error" && line.message.contains("timed out after 7s")));
    }

    #[test]
    fn the_earlier_of_duration_and_timeout_ends_a_job() {
        let secs = Duration::from_secs;
        assert_eq!(
            ending(JobDuration::After(secs(2)), 1),
            Ending::TimeOut(secs(1))
        );
        assert_eq!(ending(JobDuration::Never, 1), Ending::TimeOut(secs(1)));
        assert_eq!(
            ending(JobDuration::After(secs(2)), 1800),
            Ending::Finish(secs(2))
        );
        assert_eq!(
            ending(JobDuration::After(secs(5)), 5),
            Ending::Finish(secs(5))
        );
    }

    #[test]
    fn each_store_keeps_its_own_finished_jobs() {
        let mut store = JobStore::default();
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        assert!(store.retire(ids[0], 2).is_empty());
        assert!(store.retire(ids[1], 2).is_empty());
        assert_eq!(store.retire(ids[2], 2), vec![ids[0]]);
        assert_eq!(store.retire(ids[3], 2), vec![ids[1]]);
    }

    #[test]
    fn echo_workflows_log_their_input() {
        let mut t = tenant();
        let id = job(&mut t, "echo-input", vec![]);
        start(&mut t, id);
        let lines = t.logs.of_job(id);
        assert!(lines
            .iter()
            .any(|line| line.message.contains(r#"{"b":1,"a":2}"#)));
    }

    #[test]
    fn live_references_end_with_the_job() {
        let mut t = tenant();
        let credential = Uuid::new_v4();
        let id = job(&mut t, "portal", vec![credential]);
        assert_eq!(t.jobs.live_referencing(credential), vec![id]);
        start(&mut t, id);
        assert_eq!(t.jobs.live_referencing(credential), vec![id]);
        cancel(&mut t, id).unwrap();
        assert!(t.jobs.live_referencing(credential).is_empty());
    }

    #[test]
    fn dropping_forgets_nonce_and_logs() {
        let mut t = tenant();
        let id = job(&mut t, "portal", vec![]);
        start(&mut t, id);
        assert!(t.jobs.by_nonce("n-portal").is_some());
        drop_job(&mut t, id);
        assert!(t.jobs.by_nonce("n-portal").is_none());
        assert!(t.logs.of_job(id).is_empty());
        assert!(t.jobs.is_empty());
    }

    #[test]
    fn pages_newest_first() {
        let mut t = tenant();
        let ids: Vec<Uuid> = (0..5)
            .map(|i| job(&mut t, &format!("w{i}"), vec![]))
            .collect();
        let (page, next) = t.jobs.page(None, None, 2);
        assert_eq!(
            page.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![ids[4], ids[3]]
        );
        let (page, next) = t.jobs.page(None, next, 2);
        assert_eq!(
            page.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![ids[2], ids[1]]
        );
        let (page, next) = t.jobs.page(None, next, 2);
        assert_eq!(page.iter().map(|j| j.id).collect::<Vec<_>>(), vec![ids[0]]);
        assert_eq!(next, None);
        assert!(t.jobs.page(Some("running"), None, 10).0.is_empty());
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

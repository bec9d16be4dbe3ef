//! The job lifecycle: the transitions that move a tenant's job along, made under its lock.
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
//! delete guard, logs and callbacks. Every transition writes its log line. The timers that call
//! the transitions are the engine's (`engine/runner.rs`); a transition only announces what
//! happened, by returning whether the job ended, and the caller dispatches the end (result
//! delivery, the schedule's outcome, retention). Nothing here reaches up into the engine.

use serde_json::json;
use uuid::Uuid;

use super::job_hooks::JobHooks;
use super::job_store::{stable_uuid, Job, JobError, JobStatus, DEFAULT_TIMEOUT_SECONDS};
use super::logs::{LogLine, LogMessage};
use super::stored_json::StoredJson;
use super::tenant::Tenant;
use super::tenant_id::TenantId;
use crate::runtime::clock;

fn log(tenant: &mut Tenant, job: &Job, level: &'static str, message: impl Into<LogMessage>) {
    let seq = tenant.next_seq();
    tenant.logs.push(
        seq,
        LogLine {
            job_id: job.id,
            workflow: job.workflow.clone(),
            level,
            message: message.into(),
            timestamp: clock::now_string(),
        },
    );
}

/// Creates a queued job under the tenant's lock: the one way jobs are made, by `jobs/create`
/// and by schedules alike. The caller starts its lifecycle once the lock is released.
#[allow(clippy::too_many_arguments)]
pub(crate) fn enqueue_job(
    tenant: &mut Tenant,
    tenant_id: &TenantId,
    id: Uuid,
    workflow: &str,
    params: StoredJson,
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
pub(crate) fn log_job_line(tenant: &mut Tenant, id: Uuid, level: &'static str, message: String) {
    if let Some(job) = tenant.jobs.get(id).cloned() {
        log(tenant, &job, level, message);
    }
}

/// Moves a queued job to running. False when it is no longer queued (cancelled or dropped).
pub(crate) fn start(tenant: &mut Tenant, id: Uuid) -> bool {
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
        log(tenant, &job, "info", LogMessage::Input(job.params.clone()));
    }
    true
}

/// Ends a running job, completed or (for `fail*` workflows) failed. True when it ended, for
/// the caller to announce; false when it is no longer running.
pub(crate) fn finish(tenant: &mut Tenant, id: Uuid) -> bool {
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

/// Ends a running job as timed out: `failed`, with the error upstream gives. True when it
/// ended, for the caller to announce; false when it is no longer running.
pub(crate) fn time_out(tenant: &mut Tenant, id: Uuid) -> bool {
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

/// Cancels a queued or running job.
pub(crate) fn cancel(tenant: &mut Tenant, id: Uuid) -> Result<(), JobError> {
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
pub(crate) fn drop_job(tenant: &mut Tenant, id: Uuid) {
    tenant.drop_job(id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::seal::Sealer;

    fn tenant() -> Tenant {
        Tenant::new(TenantId::from_api_key(b"k"), Sealer::random())
    }

    /// Inserts a test job (see `Job::for_test`) into the tenant.
    fn job(tenant: &mut Tenant, workflow: &str, credentials: Vec<Uuid>) -> Uuid {
        let job = Job::for_test(tenant.next_seq(), workflow, credentials);
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
            .any(|line| line.level == "error"
                && line.message.to_string().contains("timed out after 7s")));
    }

    #[test]
    fn echo_workflows_log_their_input() {
        let mut t = tenant();
        let id = job(&mut t, "echo-input", vec![]);
        start(&mut t, id);
        let lines = t.logs.of_job(id);
        assert!(lines
            .iter()
            .any(|line| line.message.to_string().contains(r#"{"b":1,"a":2}"#)));
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
}

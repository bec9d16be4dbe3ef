//! The jobs routes: `jobs/create`, `jobs/get`, `jobs/list`, `jobs/cancel` and `jobs/debugReport`.
//!
//! A job references credentials through the `x-libretto-credential-ids` header and the
//! `credential_id` field. The references are checked and the job inserted under the tenant's
//! lock, the same lock `credentials/delete` takes to check for live references, so a job can
//! never run on a credential deleted in between.
//!
//! A repeated `nonce` answers with the first job as it is now (its current status, and the
//! message "Job already exists for this nonce"), whether it is still running or has ended.
//! `timeout_seconds` (default 1800) bounds how long the job may run: one still running then
//! ends `failed` with "Job timed out after Ns" (see `state/job_lifecycle.rs`). The launch
//! options are checked as schedules check them (`input/launch.rs`); once the job is inserted,
//! its timers start (`engine/runner.rs`).

use http::HeaderMap;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::http::envelope::{ApiError, Issue};
use crate::mock::cursor;
use crate::mock::engine::callbacks::{job_hooks, HookRequest};
use crate::mock::engine::core::Core;
use crate::mock::input::launch::check_options;
use crate::mock::input::{invalid_uuid, parse_uuid, read_id, Fields};
use crate::mock::state::job_lifecycle::{cancel, enqueue_job};
use crate::mock::state::job_store::{
    job_cost, lifecycle_log_cost, Job, JobError, JobStatus, STATUSES,
};
use crate::mock::state::logs::LogLine;
use crate::mock::state::stored_json::StoredJson;
use crate::mock::state::tenant_id::TenantId;

/// The request header through which a caller names the credentials a job uses.
pub const CREDENTIAL_IDS_HEADER: &str = "x-libretto-credential-ids";

/// The credential ids named in the `x-libretto-credential-ids` header(s); comma-separated,
/// blanks skipped, each one a UUID.
fn header_credential_ids(headers: &HeaderMap, fields: &mut Fields<'_>) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut index = 0usize;
    for value in headers.get_all(CREDENTIAL_IDS_HEADER) {
        let Ok(text) = value.to_str() else {
            fields.push(invalid_uuid(vec![json!(CREDENTIAL_IDS_HEADER)]));
            continue;
        };
        for part in text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            match parse_uuid(part) {
                Some(id) => ids.push(id),
                None => fields.push(invalid_uuid(vec![
                    json!(CREDENTIAL_IDS_HEADER),
                    json!(index),
                ])),
            }
            index += 1;
        }
    }
    ids
}

/// `jobs/create` → `success`, `job_id`, `status`, `message`.
pub(crate) fn create(
    core: &Core,
    tenant_id: &TenantId,
    input: Option<&Value>,
    headers: &HeaderMap,
) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let mut references = header_credential_ids(headers, &mut fields);
    let workflow = fields.bounded_string("workflow", true, 200);
    let params = fields
        .object("params", false)
        .and_then(|_| fields.value("params"));
    let nonce = fields.string("nonce", false);
    let body_reference = fields.uuid("credential_id", false);
    check_options(&mut fields);
    fields.finish()?;
    // The launch options (`timeout_seconds` among them) travel with the hooks.
    let hook_request = HookRequest::read(input);
    let Some(workflow) = workflow else {
        return Err(ApiError::validation(Vec::new()));
    };
    references.extend(body_reference);
    references.sort_unstable();
    references.dedup();

    // A tenant that does not exist yet has no credentials, so a job that references any is
    // refused without creating it.
    let tenant = if references.is_empty() {
        core.tenant(tenant_id)?
    } else {
        core.tenant_or_empty(tenant_id)
    };
    let job = {
        let mut tenant = tenant.lock();
        if let Some(existing) = nonce.and_then(|nonce| tenant.jobs.by_nonce(nonce)) {
            return Ok(existing.repeated_answer());
        }
        let missing: Vec<Uuid> = references
            .iter()
            .copied()
            .filter(|id| !tenant.credentials.exists(*id))
            .collect();
        if !missing.is_empty() {
            return Err(JobError::UnknownCredentials(missing).into());
        }
        let id = Uuid::new_v4();
        let hooks = job_hooks(&tenant, id, &hook_request, None).map_err(ApiError::from)?;
        let params = StoredJson::new(params.unwrap_or(&json!({})));
        let cost = job_cost(workflow, &params, nonce, references.len(), &hooks)
            + lifecycle_log_cost(workflow);
        core.make_room(&mut tenant, tenant_id, cost)?;
        enqueue_job(
            &mut tenant,
            tenant_id,
            id,
            workflow,
            params,
            references,
            nonce.map(str::to_string),
            hooks,
        )
    };
    core.spawn_lifecycle(tenant_id.clone(), job.id);
    Ok(job.created_answer())
}

/// `jobs/get`: `id` → the whole job.
pub(crate) fn get(
    core: &Core,
    tenant: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let id = read_id(input)?;
    let tenant = core.tenant_or_empty(tenant);
    let tenant = tenant.lock();
    let job = tenant.jobs.get(id).ok_or(JobError::NotFound)?;
    Ok(job.to_json())
}

/// `jobs/list`: optional `status`, `limit`, `cursor` → `jobs`, `next_cursor`; newest first.
pub(crate) fn list(
    core: &Core,
    tenant: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, true);
    let status = fields.one_of("status", STATUSES);
    let limit = fields.integer("limit", 1, 100).unwrap_or(20);
    let before = match fields.string("cursor", false) {
        Some(token) => {
            let decoded = cursor::decode(token);
            if decoded.is_none() {
                fields.push(Issue::new(
                    "custom",
                    "Invalid cursor",
                    vec![json!("cursor")],
                ));
            }
            decoded
        }
        None => None,
    };
    fields.finish()?;
    let tenant = core.tenant_or_empty(tenant);
    let tenant = tenant.lock();
    let (page, next) = tenant
        .jobs
        .page(status, before, usize::try_from(limit).unwrap_or(20));
    Ok(json!({
        "jobs": page.into_iter().map(Job::summary).collect::<Vec<_>>(),
        "next_cursor": next.map(cursor::encode),
    }))
}

/// `jobs/cancel`: `id` → `success`, `message`; queued or running jobs only.
pub(crate) fn cancel_route(
    core: &Core,
    tenant_id: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let id = read_id(input)?;
    cancel(&mut core.tenant_or_empty(tenant_id).lock(), id)?;
    core.record_finished(tenant_id, id);
    Ok(json!({ "success": true, "message": "Job cancelled successfully" }))
}

/// `jobs/debugReport`: `id` → a report of a failed job, echoing its params and logs.
pub(crate) fn debug_report(
    core: &Core,
    tenant: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let id = read_id(input)?;
    let tenant = core.tenant_or_empty(tenant);
    let tenant = tenant.lock();
    let job = tenant.jobs.get(id).ok_or(JobError::NotFound)?;
    if job.status != JobStatus::Failed {
        return Err(JobError::NotFailed(job.status.as_str()).into());
    }
    let logs: Vec<Value> = tenant
        .logs
        .of_job(id)
        .into_iter()
        .map(LogLine::to_json)
        .collect();
    Ok(json!({
        "job_id": job.id,
        "deployment_id": job.deployment_id,
        "deployment_version": 1,
        "workflow_id": job.workflow_id,
        "workflow": job.workflow,
        "status": job.status.as_str(),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "error": job.error,
        "mapped_stack": job.mapped_stack,
        "job_params": job.params.to_value(),
        "logs": logs,
    }))
}

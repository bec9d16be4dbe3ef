//! Job result callbacks: which receivers hear that a job ended, what they are sent, and how
//! each delivery attempt lands in the job's logs.
//!
//! When a job ends `completed` or `failed`, the event (`job.completed` or `job.failed`) goes
//! out with upstream's payload fields. Precedence, as upstream: a job created with
//! `callback_url` + `callback_secret` is delivered to that callback only; otherwise to every
//! active webhook endpoint of its tenant; `skip_callbacks: true` sends nothing. A cancelled
//! job sends nothing. The per-job secret is sealed while the job waits, like endpoint secrets.
//! Deliveries are queued (see `delivery.rs`), never sent on the request path, fairly between
//! tenants; each attempt is reported back here and written to the job's logs so `logs/list`
//! shows it. A receiver that cannot be built (a stored URL or secret that no longer reads) is
//! logged as an error and skipped.
//!
//! [`job_ended`] is what the job timers (`runner.rs`) call once a lifecycle transition says
//! a job ended; it also tells the job's schedule how the job went.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use http::Uri;
use serde_json::{json, Value};
use tracing::{debug, error};
use uuid::Uuid;

use super::delivery::{Deliverer, Delivery, DeliveryConfig, Report, Sink, Tag};
use crate::mock::input::url::http_url;
use crate::mock::state::job_hooks::{JobCallback, JobHooks};
use crate::mock::state::job_lifecycle::log_job_line;
use crate::mock::state::job_store::{Job, JobStatus};
use crate::mock::state::launch::LaunchOptions;
use crate::mock::state::tenant::{Tenant, Tenants};
use crate::mock::state::tenant_id::TenantId;
use crate::mock::state::webhooks::{SecretOwner, WebhookError};
use crate::secret::Secret;

/// Whom a delivery reports to: the tenant and the job.
pub(crate) type DeliveryTag = (TenantId, Uuid);

/// Deliveries are fair between tenants.
impl Tag for DeliveryTag {
    type Group = TenantId;
    fn group(&self) -> TenantId {
        self.0.clone()
    }
}

/// The delivery fields and launch options of a `jobs/create` input, already validated by
/// the route.
#[derive(Debug, Default, Clone)]
pub(crate) struct HookRequest<'a> {
    pub(crate) callback_url: Option<&'a str>,
    pub(crate) callback_secret: Option<&'a str>,
    pub(crate) skip_callbacks: bool,
    pub(crate) launch: LaunchOptions,
}

impl<'a> HookRequest<'a> {
    /// Reads the fields from a validated input object.
    pub(crate) fn read(input: Option<&'a Value>) -> Self {
        let text = |key: &str| {
            input
                .and_then(|input| input.get(key))
                .and_then(Value::as_str)
        };
        Self {
            callback_url: text("callback_url"),
            callback_secret: text("callback_secret"),
            skip_callbacks: input
                .and_then(|input| input.get("skip_callbacks"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            launch: LaunchOptions::read(input),
        }
    }
}

/// A new job's hooks, its callback (when it has one) sealed under the job's id.
pub(crate) fn job_hooks(
    tenant: &Tenant,
    job_id: Uuid,
    request: &HookRequest<'_>,
    schedule_id: Option<Uuid>,
) -> Result<JobHooks, WebhookError> {
    let callback = match (request.callback_url, request.callback_secret) {
        (Some(url), Some(secret)) => Some(JobCallback {
            url: url.to_string(),
            sealed_secret: tenant.webhooks.seal(SecretOwner::Job, job_id, secret)?,
        }),
        _ => None,
    };
    Ok(JobHooks {
        callback,
        skip_callbacks: request.skip_callbacks,
        schedule_id,
        launch: request.launch.clone(),
    })
}

/// The receivers of a job's event, with their opened secrets, by upstream's precedence.
fn receivers(tenant: &Tenant, job_id: Uuid, hooks: &JobHooks) -> Vec<(Uri, Secret)> {
    if hooks.skip_callbacks {
        return Vec::new();
    }
    match &hooks.callback {
        Some(callback) => {
            let url = http_url(&callback.url);
            let secret = tenant
                .webhooks
                .open(SecretOwner::Job, job_id, &callback.sealed_secret)
                .ok();
            if url.is_none() || secret.is_none() {
                error!(
                    %job_id,
                    url_ok = url.is_some(),
                    secret_ok = secret.is_some(),
                    "Job callback unusable; nothing sent"
                );
            }
            url.zip(secret).into_iter().collect()
        }
        None => tenant.webhooks.active_targets(),
    }
}

/// The event a job's end sends, if its status sends one.
fn event_name(status: JobStatus) -> Option<&'static str> {
    match status {
        JobStatus::Completed => Some("job.completed"),
        JobStatus::Failed => Some("job.failed"),
        _ => None,
    }
}

/// The payload upstream sends for a job's end.
fn payload(event: &str, job: &Job) -> Value {
    json!({
        "event": event,
        "job_id": job.id,
        "nonce": job.nonce,
        "workflow": job.workflow,
        "deployment_id": job.deployment_id,
        "status": job.status.as_str(),
        "result": job.result,
        "error": job.error,
        "mapped_stack": job.mapped_stack,
    })
}

/// Writes a delivery report into the job's logs, if the mock and the job are still kept.
fn log_report(tenants: &Weak<Tenants>, (tenant_id, job_id): &DeliveryTag, report: &Report) {
    let Some(tenants) = tenants.upgrade() else {
        return;
    };
    let Some(tenant) = tenants.existing(tenant_id) else {
        return;
    };
    log_job_line(
        &mut tenant.lock(),
        *job_id,
        report.level(),
        report.message(),
    );
}

/// The mock's delivery queue, reporting into the jobs' logs through a weak handle.
pub(crate) fn deliverer(config: DeliveryConfig, tenants: Weak<Tenants>) -> Deliverer<DeliveryTag> {
    let sink: Sink<DeliveryTag> =
        Arc::new(move |tag: &DeliveryTag, report: &Report| log_report(&tenants, tag, report));
    Deliverer::new(config, sink)
}

/// Sends a just-ended job's event to its receivers, and tells its schedule how it went.
pub(crate) fn job_ended(
    tenants: &Tenants,
    deliverer: &Deliverer<DeliveryTag>,
    tenant_id: &TenantId,
    job_id: Uuid,
) {
    let deliveries = {
        let Some(tenant) = tenants.existing(tenant_id) else {
            return;
        };
        let mut tenant = tenant.lock();
        let Some(job) = tenant.jobs.get(job_id).cloned() else {
            return;
        };
        if let Some(schedule_id) = job.hooks.schedule_id {
            tenant.schedules.record_outcome(schedule_id, &job);
        }
        let Some(event) = event_name(job.status) else {
            return;
        };
        let receivers = receivers(&tenant, job_id, &job.hooks);
        if receivers.is_empty() {
            return;
        }
        let Ok(body) = serde_json::to_vec(&payload(event, &job)) else {
            return;
        };
        let body = Bytes::from(body);
        receivers
            .into_iter()
            .map(|(url, secret)| Delivery {
                tag: (tenant_id.clone(), job_id),
                url,
                secret,
                event: event.to_string(),
                body: body.clone(),
            })
            .collect::<Vec<_>>()
    };
    debug!(job_id = %job_id, receivers = deliveries.len(), "Job result queued for delivery");
    // Outside the tenant's lock: a refused delivery reports (and logs) at once.
    for delivery in deliveries {
        deliverer.enqueue(delivery);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_requests_read_validated_fields() {
        let input = json!({"callback_url": "http://h/x", "callback_secret": "s",
                           "skip_callbacks": true, "gpu": true});
        let request = HookRequest::read(Some(&input));
        assert_eq!(request.callback_url, Some("http://h/x"));
        assert_eq!(request.callback_secret, Some("s"));
        assert!(request.skip_callbacks);
        assert_eq!(request.launch.gpu, Some(true));
        let empty = HookRequest::read(None);
        assert!(empty.callback_url.is_none() && !empty.skip_callbacks);
    }

    #[test]
    fn only_final_results_send_events() {
        assert_eq!(event_name(JobStatus::Completed), Some("job.completed"));
        assert_eq!(event_name(JobStatus::Failed), Some("job.failed"));
        assert_eq!(event_name(JobStatus::Cancelled), None);
        assert_eq!(event_name(JobStatus::Running), None);
    }

    #[test]
    fn an_unusable_callback_sends_nothing() {
        use crate::secret::seal::Sealer;
        let tenant_id = TenantId::from_api_key(b"k");
        let tenant = Tenant::new(tenant_id.clone(), Sealer::random());
        let job_id = Uuid::new_v4();
        let request = HookRequest {
            callback_url: Some("http://127.0.0.1:9/x"),
            callback_secret: Some("s"),
            ..HookRequest::default()
        };
        let mut hooks = job_hooks(&tenant, job_id, &request, None).unwrap();
        // A secret sealed for another job does not open for this one.
        hooks.callback.as_mut().unwrap().sealed_secret = tenant
            .webhooks
            .seal(SecretOwner::Job, Uuid::new_v4(), "s")
            .unwrap();
        assert!(receivers(&tenant, job_id, &hooks).is_empty());
        let hooks = job_hooks(&tenant, job_id, &request, None).unwrap();
        assert_eq!(receivers(&tenant, job_id, &hooks).len(), 1);
    }
}

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

use std::sync::{Arc, Weak};

use bytes::Bytes;
use http::Uri;
use serde_json::{json, Value};
use tracing::{debug, error};
use uuid::Uuid;

use super::delivery::{Deliverer, Delivery, DeliveryConfig, Report, Sink, Tag};
use super::job_store::{Job, JobStatus};
use super::launch::LaunchOptions;
use super::logs::LogLine;
use super::tenant::{Tenant, TenantId};
use super::webhooks::{http_url, SecretOwner, WebhookError};
use super::{Inner, Mock};
use crate::clock;
use crate::secret::Secret;

/// Whom a delivery reports to: the tenant and the job.
pub type DeliveryTag = (TenantId, Uuid);

/// Deliveries are fair between tenants.
impl Tag for DeliveryTag {
    type Group = TenantId;
    fn group(&self) -> TenantId {
        self.0.clone()
    }
}

/// A job's own callback; the secret sealed.
#[derive(Clone)]
pub struct JobCallback {
    pub url: String,
    sealed_secret: Vec<u8>,
}

impl std::fmt::Debug for JobCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobCallback")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What a job carries besides its input: where its result goes, the schedule that launched
/// it (if any), and the launch options it was given.
#[derive(Debug, Clone, Default)]
pub struct JobHooks {
    pub callback: Option<JobCallback>,
    pub skip_callbacks: bool,
    /// The schedule that launched the job, which hears how it ended.
    pub schedule_id: Option<Uuid>,
    /// Kept with the job as given (for a scheduled job: the schedule's); the job engine takes
    /// the job's `timeout_seconds` from here.
    pub launch: LaunchOptions,
}

/// The delivery fields and launch options of a `jobs/create` input, already validated by
/// the route.
#[derive(Debug, Default, Clone)]
pub struct HookRequest<'a> {
    pub callback_url: Option<&'a str>,
    pub callback_secret: Option<&'a str>,
    pub skip_callbacks: bool,
    pub launch: LaunchOptions,
}

impl<'a> HookRequest<'a> {
    /// Reads the fields from a validated input object.
    pub fn read(input: Option<&'a Value>) -> Self {
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

impl Tenant {
    /// Seals a new job's callback (when it has one) under the job's id.
    pub fn job_hooks(
        &self,
        job_id: Uuid,
        request: &HookRequest<'_>,
        schedule_id: Option<Uuid>,
    ) -> Result<JobHooks, WebhookError> {
        let callback = match (request.callback_url, request.callback_secret) {
            (Some(url), Some(secret)) => Some(JobCallback {
                url: url.to_string(),
                sealed_secret: self.webhooks.seal(SecretOwner::Job, job_id, secret)?,
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
    fn receivers(&self, job_id: Uuid, hooks: &JobHooks) -> Vec<(Uri, Secret)> {
        if hooks.skip_callbacks {
            return Vec::new();
        }
        match &hooks.callback {
            Some(callback) => {
                let url = http_url(&callback.url);
                let secret = self
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
            None => self.webhooks.active_targets(),
        }
    }
}

/// The event a job's end sends, if its status sends one.
pub fn event_name(status: JobStatus) -> Option<&'static str> {
    match status {
        JobStatus::Completed => Some("job.completed"),
        JobStatus::Failed => Some("job.failed"),
        _ => None,
    }
}

/// The payload upstream sends for a job's end.
pub fn payload(event: &str, job: &Job) -> Value {
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

/// Writes a delivery report into the job's logs, if the job is still kept.
fn log_report(inner: &Weak<Inner>, (tenant_id, job_id): &DeliveryTag, report: &Report) {
    let Some(mock) = Mock::upgrade(inner) else {
        return;
    };
    let Some(tenant) = mock.existing_tenant(tenant_id) else {
        return;
    };
    let mut tenant = tenant.lock();
    let Some(workflow) = tenant.jobs.get(*job_id).map(|job| job.workflow.clone()) else {
        return;
    };
    let seq = tenant.next_seq();
    tenant.logs.push(
        seq,
        LogLine {
            job_id: *job_id,
            workflow,
            level: report.level(),
            message: report.message(),
            timestamp: clock::now_string(),
        },
    );
}

/// The mock's delivery queue, reporting into the jobs' logs through a weak handle.
pub fn deliverer(config: DeliveryConfig, inner: Weak<Inner>) -> Deliverer<DeliveryTag> {
    let sink: Sink<DeliveryTag> =
        Arc::new(move |tag: &DeliveryTag, report: &Report| log_report(&inner, tag, report));
    Deliverer::new(config, sink)
}

impl Mock {
    /// Sends a just-ended job's event to its receivers, and tells its schedule how it went.
    pub(super) fn job_ended(&self, tenant_id: &TenantId, job_id: Uuid) {
        let deliveries = {
            let tenant = self.tenant(tenant_id);
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
            let receivers = tenant.receivers(job_id, &job.hooks);
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
            self.inner.deliverer.enqueue(delivery);
        }
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
    fn callback_debug_hides_the_secret() {
        let callback = JobCallback {
            url: "http://h/x".into(),
            sealed_secret: vec![1, 2, 3],
        };
        assert_eq!(
            format!("{callback:?}"),
            r#"JobCallback { url: "http://h/x", .. }"#
        );
    }

    #[test]
    fn an_unusable_callback_sends_nothing() {
        use crate::seal::Sealer;
        let tenant_id = TenantId::from_api_key(b"k");
        let tenant = Tenant::new(tenant_id.clone(), Sealer::random());
        let job_id = Uuid::new_v4();
        let request = HookRequest {
            callback_url: Some("http://127.0.0.1:9/x"),
            callback_secret: Some("s"),
            ..HookRequest::default()
        };
        let mut hooks = tenant.job_hooks(job_id, &request, None).unwrap();
        // A secret sealed for another job does not open for this one.
        hooks.callback.as_mut().unwrap().sealed_secret = tenant
            .webhooks
            .seal(SecretOwner::Job, Uuid::new_v4(), "s")
            .unwrap();
        assert!(tenant.receivers(job_id, &hooks).is_empty());
        let hooks = tenant.job_hooks(job_id, &request, None).unwrap();
        assert_eq!(tenant.receivers(job_id, &hooks).len(), 1);
    }
}

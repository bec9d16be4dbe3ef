//! The scheduler: a task that launches the jobs of due, enabled schedules.
//!
//! It sleeps until the earliest `next_fire_at` of all tenants' schedules and is woken early
//! whenever a schedule is created, changed or deleted, so a new schedule is seen at once and a
//! deleted or disabled one never fires again; it never polls. A fire creates the job through
//! the same engine as `jobs/create` (the job's lifecycle, its logs, its callbacks and the
//! delete guard all apply) under the tenant's lock, the lock `schedules/update|delete` take,
//! so a schedule disabled or deleted before the fire is decided cannot fire. A fire missed
//! while the process was busy or suspended happens once: the next one is planned from now.
//! The task holds the mock weakly and ends when the mock is dropped.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tracing::{debug, info};
use uuid::Uuid;

use super::callbacks::HookRequest;
use super::job_store;
use super::tenant::{Tenant, TenantId};
use super::webhooks::SecretOwner;
use super::{Inner, Mock};
use crate::clock;

/// The longest the scheduler sleeps before looking again whether the mock still exists.
const IDLE_CHECK: Duration = Duration::from_secs(60);

/// The scheduler's wake-up call, and whether its task runs.
#[derive(Default)]
pub struct SchedulerState {
    wake: Arc<Notify>,
    started: OnceLock<()>,
}

/// Launches one due schedule's job under its tenant's lock; the job's id, or why not.
fn fire(
    tenant: &mut Tenant,
    tenant_id: &TenantId,
    schedule_id: Uuid,
) -> Option<Result<Uuid, String>> {
    let schedule = tenant.schedules.get(schedule_id)?;
    let workflow = schedule.workflow.clone();
    let params = schedule.params.clone();
    let skip_callbacks = schedule.skip_callbacks;
    let callback = schedule.callback.clone();
    let job_id = Uuid::new_v4();
    let secret = match &callback {
        Some(callback) => {
            match tenant
                .webhooks
                .open(SecretOwner::Schedule, schedule_id, &callback.sealed_secret)
            {
                Ok(secret) => Some(secret),
                Err(err) => return Some(Err(err.to_string())),
            }
        }
        None => None,
    };
    let request = HookRequest {
        callback_url: callback.as_ref().map(|callback| callback.url.as_str()),
        callback_secret: secret.as_ref().and_then(|secret| secret.expose_str()),
        skip_callbacks,
    };
    let hooks = match tenant.job_hooks(job_id, &request, Some(schedule_id)) {
        Ok(hooks) => hooks,
        Err(err) => return Some(Err(err.to_string())),
    };
    job_store::enqueue_job(
        tenant,
        tenant_id,
        job_id,
        &workflow,
        params,
        Vec::new(),
        None,
        hooks,
    );
    job_store::log_job_line(
        tenant,
        job_id,
        "info",
        format!("Launched by schedule {schedule_id}"),
    );
    Some(Ok(job_id))
}

impl Mock {
    /// Wakes the scheduler after a schedule changed, starting it on first use.
    pub(super) fn schedules_changed(&self) {
        let state = &self.inner.scheduler;
        if state.started.get().is_none() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                state.started.get_or_init(|| {
                    runtime.spawn(run(self.downgrade(), state.wake.clone()));
                });
            }
        }
        state.wake.notify_one();
    }

    /// Fires every schedule due at `now`; the earliest fire time still ahead.
    fn fire_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let tenants: Vec<(TenantId, Arc<Mutex<Tenant>>)> = self
            .inner
            .tenants
            .iter()
            .map(|entry| (entry.key().clone(), entry.value().clone()))
            .collect();
        let mut earliest: Option<DateTime<Utc>> = None;
        for (tenant_id, tenant) in tenants {
            let launched = {
                let mut tenant = tenant.lock();
                let mut launched = Vec::new();
                for schedule_id in tenant.schedules.take_due(now) {
                    let Some(outcome) = fire(&mut tenant, &tenant_id, schedule_id) else {
                        continue;
                    };
                    match &outcome {
                        Ok(job_id) => {
                            info!(%schedule_id, job_id = %job_id, "Schedule fired");
                            launched.push(*job_id);
                        }
                        Err(_) => info!(%schedule_id, "Schedule fire failed"),
                    }
                    tenant.schedules.record_fire(schedule_id, outcome);
                }
                earliest = earliest
                    .into_iter()
                    .chain(tenant.schedules.earliest())
                    .min();
                launched
            };
            for job_id in launched {
                self.spawn_lifecycle(tenant_id.clone(), job_id);
            }
        }
        earliest
    }
}

async fn run(inner: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        let Some(mock) = Mock::upgrade(&inner) else {
            break;
        };
        let now = clock::now();
        let next = mock.fire_due(now);
        drop(mock);
        let pause = next
            .and_then(|at| (at - now).to_std().ok())
            .map_or(IDLE_CHECK, |until| until.min(IDLE_CHECK));
        debug!(pause_ms = pause.as_millis() as u64, "Scheduler sleeping");
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = wake.notified() => {}
        }
    }
    debug!("Scheduler stopped");
}

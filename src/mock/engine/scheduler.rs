//! The scheduler: a task that launches the jobs of due, enabled schedules.
//!
//! It sleeps until the earliest `next_fire_at` of all tenants' schedules and is woken early
//! whenever a schedule is created, changed or deleted, so a new schedule is seen at once and a
//! deleted or disabled one never fires again; it never polls. A fire creates the job through
//! the same engine as `jobs/create` (the job's lifecycle, its logs, its callbacks and the
//! delete guard all apply, with the schedule's `credential_id` and launch options) under the
//! tenant's lock, the lock `schedules/update|delete` and `credentials/delete` take, so a
//! schedule disabled or deleted before the fire is decided cannot fire, and a job never
//! starts on a credential deleted in between. A fire launches nothing, and records why in
//! `last_error` (counting a failure), when the schedule's credential is gone or the tenant
//! already has `schedule_live_job_limit` queued or running jobs, so memory stays bounded. A fire missed
//! while the process was busy or suspended happens once: the next one is planned from now.
//! The task holds the mock weakly and ends when the mock is dropped. Its wake-up call is kept
//! in the core (`core.rs`); the routes ring it through [`Core::schedules_changed`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::callbacks::{job_hooks, HookRequest};
use super::core::{Core, WeakCore};
use crate::mock::state::job_lifecycle;
use crate::mock::state::job_store::{job_cost, lifecycle_log_cost};
use crate::mock::state::tenant::Tenant;
use crate::mock::state::tenant_id::TenantId;
use crate::mock::state::webhooks::SecretOwner;
use crate::runtime::clock;

/// The longest the scheduler sleeps before looking again whether the mock still exists.
const IDLE_CHECK: Duration = Duration::from_secs(60);

/// Queued and running jobs of a tenant, counted up to `limit`.
fn live_jobs(tenant: &Tenant, limit: usize) -> usize {
    ["queued", "running"]
        .into_iter()
        .map(|status| tenant.jobs.page(Some(status), None, limit).0.len())
        .sum()
}

/// Launches one due schedule's job under its tenant's lock; the job's id, or why not.
/// `live` is the tenant's count of queued and running jobs, kept up to date.
fn fire(
    core: &Core,
    tenant: &mut Tenant,
    tenant_id: &TenantId,
    schedule_id: Uuid,
    live: &mut usize,
    limit: usize,
) -> Option<Result<Uuid, String>> {
    let schedule = tenant.schedules.get(schedule_id)?;
    if *live >= limit {
        return Some(Err(format!(
            "Not launched: the tenant already has {limit} queued or running jobs"
        )));
    }
    let credential_ids: Vec<Uuid> = schedule.credential_id.into_iter().collect();
    if let Some(gone) = credential_ids
        .iter()
        .find(|id| !tenant.credentials.exists(**id))
    {
        return Some(Err(format!(
            "Not launched: credential {gone} no longer exists"
        )));
    }
    let launch = schedule.job_options();
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
        launch,
    };
    let hooks = match job_hooks(tenant, job_id, &request, Some(schedule_id)) {
        Ok(hooks) => hooks,
        Err(err) => return Some(Err(err.to_string())),
    };
    let cost = job_cost(&workflow, &params, None, credential_ids.len(), &hooks)
        + lifecycle_log_cost(&workflow);
    if let Err(err) = core.make_room(tenant, tenant_id, cost) {
        return Some(Err(format!("Not launched: {err}")));
    }
    job_lifecycle::enqueue_job(
        tenant,
        tenant_id,
        job_id,
        &workflow,
        params,
        credential_ids,
        None,
        hooks,
    );
    *live += 1;
    job_lifecycle::log_job_line(
        tenant,
        job_id,
        "info",
        format!("Launched by schedule {schedule_id}"),
    );
    Some(Ok(job_id))
}

impl Core {
    /// Wakes the scheduler after a schedule changed, starting it on first use.
    pub(crate) fn schedules_changed(&self) {
        let state = self.scheduler();
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
        let tenants = self.tenants().snapshot();
        let mut earliest: Option<DateTime<Utc>> = None;
        for (tenant_id, tenant) in tenants {
            let launched = {
                let mut tenant = tenant.lock();
                let mut launched = Vec::new();
                let due = tenant.schedules.take_due(now);
                let limit = self.config().schedule_live_job_limit;
                let mut live = if due.is_empty() {
                    0
                } else {
                    live_jobs(&tenant, limit)
                };
                for schedule_id in due {
                    let Some(outcome) =
                        fire(self, &mut tenant, &tenant_id, schedule_id, &mut live, limit)
                    else {
                        continue;
                    };
                    match &outcome {
                        Ok(job_id) => {
                            info!(%schedule_id, job_id = %job_id, "Schedule fired");
                            launched.push(*job_id);
                        }
                        Err(error) => warn!(%schedule_id, %error, "Schedule fire launched nothing"),
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

async fn run(weak: WeakCore, wake: Arc<Notify>) {
    loop {
        let Some(core) = weak.upgrade() else {
            break;
        };
        let now = clock::now();
        let next = core.fire_due(now);
        drop(core);
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mock::config::MockConfig;
    use crate::mock::state::schedules::Schedule;
    use crate::secret::seal::Sealer;

    fn tenant() -> (Tenant, TenantId) {
        let id = TenantId::from_api_key(b"scheduler");
        (Tenant::new(id.clone(), Sealer::random()), id)
    }

    #[test]
    fn a_fire_passes_the_credential_and_the_launch_options() {
        let (mut tenant, tenant_id) = tenant();
        let seq = tenant.next_seq();
        let credential = tenant
            .credentials
            .create(seq, "portal", &json!({"password": "x"}))
            .unwrap();
        let mut schedule = Schedule::for_test(1, "portal", "* * * * *");
        schedule.credential_id = Some(credential);
        schedule.launch.residential_proxy = Some(true);
        schedule.launch.headless = Some(false);
        let schedule_id = schedule.id;
        tenant.schedules.insert(schedule).unwrap();

        let mut live = 0;
        let job_id = fire(
            &Core::new(MockConfig::default()),
            &mut tenant,
            &tenant_id,
            schedule_id,
            &mut live,
            10,
        )
        .unwrap()
        .unwrap();
        assert_eq!(live, 1);
        let job = tenant.jobs.get(job_id).unwrap();
        assert_eq!(job.credential_ids, vec![credential]);
        assert_eq!(job.hooks.schedule_id, Some(schedule_id));
        assert_eq!(job.hooks.launch.residential_proxy, Some(true));
        assert_eq!(job.hooks.launch.headless, Some(false));
        assert_eq!(job.hooks.launch.timeout_seconds, Some(900));
        assert_eq!(
            job.timeout_seconds, 900,
            "the schedule's timeout bounds its job"
        );
        assert_eq!(tenant.jobs.live_referencing(credential), vec![job_id]);
    }

    #[test]
    fn a_fire_launches_nothing_without_its_credential_or_over_the_limit() {
        let (mut tenant, tenant_id) = tenant();
        let mut schedule = Schedule::for_test(1, "portal", "* * * * *");
        let gone = Uuid::new_v4();
        schedule.credential_id = Some(gone);
        let without_credential = schedule.id;
        tenant.schedules.insert(schedule).unwrap();
        let plain = Schedule::for_test(2, "portal", "* * * * *");
        let plain_id = plain.id;
        tenant.schedules.insert(plain).unwrap();

        let mut live = 0;
        let error = fire(
            &Core::new(MockConfig::default()),
            &mut tenant,
            &tenant_id,
            without_credential,
            &mut live,
            10,
        )
        .unwrap()
        .unwrap_err();
        assert_eq!(
            error,
            format!("Not launched: credential {gone} no longer exists")
        );
        let mut live = 10;
        let error = fire(
            &Core::new(MockConfig::default()),
            &mut tenant,
            &tenant_id,
            plain_id,
            &mut live,
            10,
        )
        .unwrap()
        .unwrap_err();
        assert!(
            error.contains("already has 10 queued or running jobs"),
            "{error}"
        );
        assert_eq!(live_jobs(&tenant, 10), 0, "no job was made");
        let mut live = 9;
        assert!(fire(
            &Core::new(MockConfig::default()),
            &mut tenant,
            &tenant_id,
            plain_id,
            &mut live,
            10
        )
        .unwrap()
        .is_ok());
        assert_eq!(live_jobs(&tenant, 10), 1);
    }
}

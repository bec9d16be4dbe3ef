//! The job timers: what moves a job along in time, and what follows when it ends.
//!
//! A new job's lifecycle runs on a task: after the start delay it starts, and it ends by
//! itself after the configured job duration or at its own timeout, whichever comes first
//! ([`ending`]). The transitions are the state's (`state/job_lifecycle.rs`); when one says the
//! job ended, this is where the end is dispatched: the result to its receivers and schedule
//! (`callbacks.rs`), then retention, which drops the tenant's oldest finished jobs beyond the
//! limit. The task holds the mock weakly, so a dropped mock stops it.

use std::time::Duration;

use tracing::debug;
use uuid::Uuid;

use super::callbacks;
use super::core::Core;
use crate::cli::JobDuration;
use crate::mock::state::job_lifecycle::{drop_job, finish, start, time_out};
use crate::mock::state::job_store::DEFAULT_TIMEOUT_SECONDS;
use crate::mock::state::tenant_id::TenantId;

/// How a running job ends by itself, and how long after it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Its workflow ends (completed, or failed for `fail*`).
    Finish(Duration),
    /// Its timeout comes first.
    TimeOut(Duration),
}

/// Whichever comes first: the configured job duration or the job's own timeout. A tie
/// finishes: the workflow made it in time.
fn ending(duration: JobDuration, timeout_seconds: u64) -> Ending {
    let timeout = Duration::from_secs(timeout_seconds);
    match duration {
        JobDuration::After(duration) if duration <= timeout => Ending::Finish(duration),
        _ => Ending::TimeOut(timeout),
    }
}

impl Core {
    /// Notes that a job ended and drops the tenant's oldest finished jobs beyond the limit.
    pub(crate) fn record_finished(&self, tenant_id: &TenantId, id: Uuid) {
        let Some(tenant) = self.existing_tenant(tenant_id) else {
            return;
        };
        let tick = self.tenants().budget().tick();
        let mut tenant = tenant.lock();
        for job_id in tenant.jobs.retire(id, self.config().max_jobs, tick) {
            drop_job(&mut tenant, job_id);
            debug!(job_id = %job_id, "Finished job dropped");
        }
        // Delivery attempts log after the job is admitted; its oldest finished jobs make room.
        tenant.trim(self.config().memory.max_tenant_bytes);
    }

    /// Runs a new job's lifecycle on timers. Holds only a weak handle, so a dropped mock stops.
    pub(crate) fn spawn_lifecycle(&self, tenant_id: TenantId, id: Uuid) {
        let weak = self.downgrade();
        let start_delay = self.config().start_delay;
        let duration = self.config().job_duration;
        tokio::spawn(async move {
            tokio::time::sleep(start_delay).await;
            let Some(tenant) = weak
                .upgrade()
                .and_then(|core| core.existing_tenant(&tenant_id))
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
            let Some(core) = weak.upgrade() else {
                return;
            };
            let Some(tenant) = core.existing_tenant(&tenant_id) else {
                return;
            };
            let ended = {
                let mut tenant = tenant.lock();
                match ending {
                    Ending::Finish(_) => finish(&mut tenant, id),
                    Ending::TimeOut(_) => time_out(&mut tenant, id),
                }
            };
            // The transition announced the end; it is dispatched here, outside the lock.
            if ended {
                callbacks::job_ended(core.tenants(), core.deliverer(), &tenant_id, id);
                core.record_finished(&tenant_id, id);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! Making room in the memory budget before a record is stored (the budget is
//! `state/budget.rs`).
//!
//! A route about to store `bytes` more for a tenant, with that tenant locked, asks
//! [`Core::make_room`]. A record larger than a tenant may ever keep is refused (413). Past the
//! tenant's own limit, its oldest finished jobs are dropped with their logs; with none left it
//! is refused (409). Past the mock-wide limit, the oldest finished job of any tenant is
//! dropped, again and again; with none left it is refused (503). Only finished jobs are ever
//! dropped: credentials, webhooks, schedules and live jobs stay until their owner removes them.
//!
//! Other tenants are only ever `try_lock`ed while one is held, so two requests making room
//! at once cannot deadlock; a busy tenant is passed over this time.

use std::sync::Arc;

use tracing::debug;

use super::core::Core;
use crate::mock::state::budget::{overhead, MemoryError};
use crate::mock::state::tenant::{Tenant, TenantCell};
use crate::mock::state::tenant_id::TenantId;

impl Core {
    /// Makes room for `bytes` more in `tenant` (locked by the caller, owned by `id`), dropping
    /// finished jobs, or says why it cannot.
    pub(crate) fn make_room(
        &self,
        tenant: &mut Tenant,
        id: &TenantId,
        bytes: usize,
    ) -> Result<(), MemoryError> {
        let budget = self.tenants().budget();
        let limits = budget.limits;
        let needed = bytes.saturating_add(overhead::TENANT);
        if needed > limits.max_tenant_bytes {
            return Err(MemoryError::TooLarge {
                needed,
                limit: limits.max_tenant_bytes,
            });
        }
        while tenant.bytes() + bytes > limits.max_tenant_bytes {
            if !tenant.drop_oldest_finished() {
                return Err(MemoryError::TenantFull {
                    limit: limits.max_tenant_bytes,
                });
            }
        }
        loop {
            // What this tenant holds beyond its settled count is not in `used` yet.
            let used = (budget.used() + tenant.bytes()).saturating_sub(tenant.accounted);
            if used + bytes <= limits.max_memory {
                return Ok(());
            }
            let own = tenant.jobs.oldest_finished();
            let other = self.oldest_finished_elsewhere(id);
            match (own, other) {
                (Some(own), Some((tick, _))) if own <= tick => {
                    tenant.drop_oldest_finished();
                }
                (Some(_), None) => {
                    tenant.drop_oldest_finished();
                }
                (_, Some((_, cell))) => {
                    if let Some(mut other) = cell.try_lock() {
                        other.drop_oldest_finished();
                        debug!("Finished job of another tenant dropped for room");
                    }
                }
                (None, None) => {
                    return Err(MemoryError::MockFull {
                        limit: limits.max_memory,
                    })
                }
            }
        }
    }

    /// The other tenant whose oldest finished job ended first, and when; busy tenants are
    /// passed over.
    fn oldest_finished_elsewhere(&self, id: &TenantId) -> Option<(u64, Arc<TenantCell>)> {
        self.tenants()
            .snapshot()
            .into_iter()
            .filter(|(other, _)| other != id)
            .filter_map(|(_, cell)| {
                let tick = cell.try_lock()?.jobs.oldest_finished()?;
                Some((tick, cell))
            })
            .min_by_key(|(tick, _)| *tick)
    }
}

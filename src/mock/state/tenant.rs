//! Tenants: the state each owner has, and the registry of every tenant's state.
//!
//! A tenant's credentials, jobs, logs, webhooks and schedules live behind one lock, so the
//! decisions that span them (a job may start only on credentials that exist; a credential may
//! go only when no live job needs it) are made atomically. [`Tenants`] finds a tenant's state
//! by its [`TenantId`], making it on first use, or lends a fresh empty one that is not kept to
//! a request that only reads. A locked tenant settles its bytes into the mock's budget when
//! released (`budget.rs`), and at `--max-tenants` an idle tenant is forgotten to make room.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::{Mutex, MutexGuard};

use super::budget::{overhead, Budget, MemoryError};
use super::credentials::CredentialStore;
use super::job_store::JobStore;
use super::logs::LogStore;
use super::schedules::ScheduleStore;
use super::tenant_id::TenantId;
use super::webhooks::WebhookStore;
use crate::secret::seal::Sealer;

/// Everything one tenant owns. Always used under its tenant's lock.
pub(crate) struct Tenant {
    pub(crate) credentials: CredentialStore,
    pub(crate) jobs: JobStore,
    pub(crate) logs: LogStore,
    pub(crate) webhooks: WebhookStore,
    pub(crate) schedules: ScheduleStore,
    next_seq: u64,
    /// Bytes last settled into the mock-wide count.
    pub(crate) accounted: usize,
}

impl Tenant {
    pub(crate) fn new(id: TenantId, sealer: Sealer) -> Self {
        Self {
            credentials: CredentialStore::new(id.clone(), sealer.clone()),
            jobs: JobStore::default(),
            logs: LogStore::default(),
            webhooks: WebhookStore::new(id, sealer),
            schedules: ScheduleStore::default(),
            next_seq: 0,
            accounted: 0,
        }
    }

    /// A number that grows with every record this tenant makes; orders lists and backs cursors.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Bytes this tenant's state takes (see `budget.rs`).
    pub(crate) fn bytes(&self) -> usize {
        overhead::TENANT
            + self.credentials.bytes()
            + self.jobs.bytes()
            + self.logs.bytes()
            + self.webhooks.bytes()
            + self.schedules.bytes()
    }

    /// Holds nothing that must be kept: no credentials, webhooks, schedules or live jobs.
    pub(crate) fn is_idle(&self) -> bool {
        self.credentials.is_empty()
            && self.webhooks.is_empty()
            && self.schedules.is_empty()
            && !self.jobs.has_live()
    }

    /// Forgets a job with its logs and nonce.
    pub(crate) fn drop_job(&mut self, id: uuid::Uuid) {
        self.jobs.remove(id);
        self.logs.remove_job(id);
    }

    /// Drops this tenant's oldest finished job with its logs; false when it has none.
    pub(crate) fn drop_oldest_finished(&mut self) -> bool {
        match self.jobs.pop_oldest_finished() {
            Some(id) => {
                self.drop_job(id);
                true
            }
            None => false,
        }
    }

    /// Drops finished jobs, oldest first, while the tenant takes more than `limit` bytes
    /// (after records that are added without asking, such as delivery log lines).
    pub(crate) fn trim(&mut self, limit: usize) {
        while self.bytes() > limit && self.drop_oldest_finished() {}
    }
}

/// A tenant's state behind its lock, with what the budget needs to know about it.
pub(crate) struct TenantCell {
    state: Mutex<Tenant>,
    /// The budget its bytes settle into; `None` for a lent empty tenant that is not kept.
    budget: Option<Arc<Budget>>,
    /// The budget's tick when it was last looked up, for dropping the least recently used.
    last_used: AtomicU64,
}

/// A locked tenant. Releasing it settles the tenant's bytes into the mock-wide count.
pub(crate) struct TenantGuard<'a> {
    guard: MutexGuard<'a, Tenant>,
    budget: Option<&'a Budget>,
}

impl TenantCell {
    pub(crate) fn lock(&self) -> TenantGuard<'_> {
        TenantGuard {
            guard: self.state.lock(),
            budget: self.budget.as_deref(),
        }
    }

    pub(crate) fn try_lock(&self) -> Option<TenantGuard<'_>> {
        Some(TenantGuard {
            guard: self.state.try_lock()?,
            budget: self.budget.as_deref(),
        })
    }
}

impl std::ops::Deref for TenantGuard<'_> {
    type Target = Tenant;
    fn deref(&self) -> &Tenant {
        &self.guard
    }
}

impl std::ops::DerefMut for TenantGuard<'_> {
    fn deref_mut(&mut self) -> &mut Tenant {
        &mut self.guard
    }
}

impl Drop for TenantGuard<'_> {
    fn drop(&mut self) {
        if let Some(budget) = self.budget {
            let now = self.guard.bytes();
            budget.settle(self.guard.accounted, now);
            self.guard.accounted = now;
        }
    }
}

/// Every tenant's state, by tenant.
pub(crate) struct Tenants {
    /// Seals the values a new tenant's stores keep.
    sealer: Sealer,
    budget: Arc<Budget>,
    by_id: DashMap<TenantId, Arc<TenantCell>>,
}

impl Tenants {
    pub(crate) fn new(sealer: Sealer, budget: Arc<Budget>) -> Self {
        Self {
            sealer,
            budget,
            by_id: DashMap::new(),
        }
    }

    pub(crate) fn budget(&self) -> &Budget {
        &self.budget
    }

    fn cell(&self, id: &TenantId, budget: Option<Arc<Budget>>) -> Arc<TenantCell> {
        Arc::new(TenantCell {
            state: Mutex::new(Tenant::new(id.clone(), self.sealer.clone())),
            budget,
            last_used: AtomicU64::new(self.budget.tick()),
        })
    }

    /// The tenant's state, created on first use. At `--max-tenants`, the least recently used
    /// idle tenant is forgotten to make room; with none idle the new tenant is refused. The
    /// map's guard is released before the caller locks the tenant.
    pub(crate) fn tenant(&self, id: &TenantId) -> Result<Arc<TenantCell>, MemoryError> {
        if let Some(existing) = self.existing(id) {
            return Ok(existing);
        }
        let limit = self.budget.limits.max_tenants;
        if self.by_id.len() >= limit && !self.forget_idle() {
            return Err(MemoryError::TooManyTenants { limit });
        }
        Ok(self
            .by_id
            .entry(id.clone())
            .or_insert_with(|| self.cell(id, Some(self.budget.clone())))
            .clone())
    }

    /// Forgets the least recently used idle tenant nobody holds; false when there is none.
    fn forget_idle(&self) -> bool {
        let mut idle: Vec<(u64, TenantId)> = self
            .by_id
            .iter()
            .filter(|entry| {
                Arc::strong_count(entry.value()) == 1
                    && entry
                        .value()
                        .state
                        .try_lock()
                        .is_some_and(|tenant| tenant.is_idle())
            })
            .map(|entry| {
                (
                    entry.value().last_used.load(Ordering::Relaxed),
                    entry.key().clone(),
                )
            })
            .collect();
        idle.sort_unstable();
        for (_, id) in idle {
            // Only a tenant that nobody holds (the map's is the one handle) and that is still
            // idle goes, checked under the map's write lock, so no request can be using it.
            let removed = self.by_id.remove_if(&id, |_, cell| {
                Arc::strong_count(cell) == 1
                    && cell.state.try_lock().is_some_and(|tenant| tenant.is_idle())
            });
            if let Some((_, cell)) = removed {
                let mut tenant = cell.state.lock();
                self.budget.settle(tenant.accounted, 0);
                tenant.accounted = 0;
                return true;
            }
        }
        false
    }

    /// The tenant's state for a route that may answer without storing anything: the existing
    /// tenant, or a fresh empty one that is not kept. A request with a new key that only reads
    /// (or names something that cannot exist yet) answers as for an empty tenant and leaves no
    /// trace, so memory grows only with tenants that store something.
    pub(crate) fn tenant_or_empty(&self, id: &TenantId) -> Arc<TenantCell> {
        self.existing(id).unwrap_or_else(|| self.cell(id, None))
    }

    /// The tenant's state, if it has any.
    pub(crate) fn existing(&self, id: &TenantId) -> Option<Arc<TenantCell>> {
        self.by_id.get(id).map(|entry| {
            entry
                .value()
                .last_used
                .store(self.budget.tick(), Ordering::Relaxed);
            entry.value().clone()
        })
    }

    /// Every kept tenant, taken out of the map so no map guard is held while one is locked.
    pub(crate) fn snapshot(&self) -> Vec<(TenantId, Arc<TenantCell>)> {
        self.by_id
            .iter()
            .map(|entry| (entry.key().clone(), entry.value().clone()))
            .collect()
    }

    /// How many tenants state is kept for.
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_grows() {
        let mut tenant = Tenant::new(TenantId::from_api_key(b"k"), Sealer::random());
        let first = tenant.next_seq();
        assert!(tenant.next_seq() > first);
    }
}

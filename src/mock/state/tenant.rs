//! Tenants: the state each owner has, and the registry of every tenant's state.
//!
//! A tenant's credentials, jobs, logs, webhooks and schedules live behind one lock, so the
//! decisions that span them (a job may start only on credentials that exist; a credential may
//! go only when no live job needs it) are made atomically. [`Tenants`] finds a tenant's state
//! by its [`TenantId`], making it on first use, or lends a fresh empty one that is not kept to
//! a request that only reads.

use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::Mutex;

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
        }
    }

    /// A number that grows with every record this tenant makes; orders lists and backs cursors.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}

/// Every tenant's state, by tenant.
pub(crate) struct Tenants {
    /// Seals the values a new tenant's stores keep.
    sealer: Sealer,
    by_id: DashMap<TenantId, Arc<Mutex<Tenant>>>,
}

impl Tenants {
    pub(crate) fn new(sealer: Sealer) -> Self {
        Self {
            sealer,
            by_id: DashMap::new(),
        }
    }

    /// The tenant's state, created on first use. The map's guard is released before the
    /// caller locks the tenant.
    pub(crate) fn tenant(&self, id: &TenantId) -> Arc<Mutex<Tenant>> {
        if let Some(existing) = self.existing(id) {
            return existing;
        }
        self.by_id
            .entry(id.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Tenant::new(id.clone(), self.sealer.clone()))))
            .clone()
    }

    /// The tenant's state for a route that may answer without storing anything: the existing
    /// tenant, or a fresh empty one that is not kept. A request with a new key that only reads
    /// (or names something that cannot exist yet) answers as for an empty tenant and leaves no
    /// trace, so memory grows only with tenants that store something.
    pub(crate) fn tenant_or_empty(&self, id: &TenantId) -> Arc<Mutex<Tenant>> {
        self.existing(id)
            .unwrap_or_else(|| Arc::new(Mutex::new(Tenant::new(id.clone(), self.sealer.clone()))))
    }

    /// The tenant's state, if it has any.
    pub(crate) fn existing(&self, id: &TenantId) -> Option<Arc<Mutex<Tenant>>> {
        self.by_id.get(id).map(|entry| entry.value().clone())
    }

    /// Every kept tenant, taken out of the map so no map guard is held while one is locked.
    pub(crate) fn snapshot(&self) -> Vec<(TenantId, Arc<Mutex<Tenant>>)> {
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

//! The running mock's shared core: its configuration, every tenant's state, the delivery
//! queue and the scheduler's wake-up call, behind one cheap handle.
//!
//! The public [`Mock`](crate::mock::Mock) wraps a [`Core`]; the router hands it to every
//! route, and the timers hold it weakly ([`WeakCore`]), so dropping the last handle stops
//! them. What runs on it lives beside it: job timers in `runner.rs`, schedule fires in
//! `scheduler.rs`, result deliveries in `callbacks.rs`. This file only wires them up.

use std::sync::{Arc, OnceLock, Weak};

use tokio::sync::Notify;

use super::callbacks::{self, DeliveryTag};
use super::delivery::Deliverer;
use crate::http::envelope::ApiError;
use crate::mock::config::MockConfig;
use crate::mock::state::budget::Budget;
use crate::mock::state::tenant::{TenantCell, Tenants};
use crate::mock::state::tenant_id::TenantId;

/// A handle to the mock's shared state and engine.
#[derive(Clone)]
pub(crate) struct Core {
    inner: Arc<Inner>,
}

struct Inner {
    config: MockConfig,
    /// Held strongly only here, so a delivery report never keeps a dropped mock's state.
    tenants: Arc<Tenants>,
    /// Sends job results to webhooks and callbacks.
    deliverer: Deliverer<DeliveryTag>,
    scheduler: SchedulerWake,
}

/// A handle that does not keep the mock alive, for tasks that must end with it.
pub(crate) struct WeakCore(Weak<Inner>);

impl WeakCore {
    /// The mock, if a handle to it still exists.
    pub(crate) fn upgrade(&self) -> Option<Core> {
        self.0.upgrade().map(|inner| Core { inner })
    }
}

/// The scheduler's wake-up call, and whether its task runs (the task is `scheduler.rs`).
#[derive(Default)]
pub(crate) struct SchedulerWake {
    pub(crate) wake: Arc<Notify>,
    pub(crate) started: OnceLock<()>,
}

impl Core {
    pub(crate) fn new(config: MockConfig) -> Self {
        let budget = Arc::new(Budget::new(config.memory));
        let tenants = Arc::new(Tenants::new(config.sealer.clone(), budget));
        Self {
            inner: Arc::new(Inner {
                deliverer: callbacks::deliverer(config.delivery, Arc::downgrade(&tenants)),
                scheduler: SchedulerWake::default(),
                config,
                tenants,
            }),
        }
    }

    pub(crate) fn config(&self) -> &MockConfig {
        &self.inner.config
    }

    pub(crate) fn tenants(&self) -> &Tenants {
        &self.inner.tenants
    }

    pub(crate) fn deliverer(&self) -> &Deliverer<DeliveryTag> {
        &self.inner.deliverer
    }

    pub(crate) fn scheduler(&self) -> &SchedulerWake {
        &self.inner.scheduler
    }

    /// The tenant's state, created on first use (see [`Tenants::tenant`]); refused when the
    /// mock keeps `--max-tenants` tenants and none is idle.
    pub(crate) fn tenant(&self, id: &TenantId) -> Result<Arc<TenantCell>, ApiError> {
        self.tenants().tenant(id).map_err(ApiError::from)
    }

    /// The tenant's state, or an empty one that is not kept (see [`Tenants::tenant_or_empty`]).
    pub(crate) fn tenant_or_empty(&self, id: &TenantId) -> Arc<TenantCell> {
        self.tenants().tenant_or_empty(id)
    }

    /// The tenant's state, if it has any.
    pub(crate) fn existing_tenant(&self, id: &TenantId) -> Option<Arc<TenantCell>> {
        self.tenants().existing(id)
    }

    pub(crate) fn downgrade(&self) -> WeakCore {
        WeakCore(Arc::downgrade(&self.inner))
    }
}

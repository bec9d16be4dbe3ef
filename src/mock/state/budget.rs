//! The memory budget: how many bytes the mock's state may take, in all and per tenant, and how
//! many tenants it keeps.
//!
//! Every store counts the bytes its records take (text and ciphertext by length, plus a fixed
//! overhead per record for the structures around them, see [`overhead`]); a tenant's count is
//! the sum of its stores' and is settled into the mock-wide count whenever its lock is
//! released (`tenant.rs`). Before a record is stored, room is made for it
//! (`engine/room.rs`): finished jobs (with their logs) are dropped, the tenant's own oldest
//! first, then the oldest of any tenant; data that may not be dropped (credentials,
//! webhooks, schedules, live jobs) is never dropped, and a record that does not fit is
//! refused with a [`MemoryError`].

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::http::envelope::ApiError;
use http::StatusCode;

/// Default for `--max-memory`: bytes all tenants' state may take together.
pub const DEFAULT_MAX_MEMORY: usize = 32 << 20;
/// Default for `--max-tenant-bytes`: bytes one tenant's state may take.
pub const DEFAULT_MAX_TENANT_BYTES: usize = 8 << 20;
/// Default for `--max-tenants`: tenants kept at once.
pub const DEFAULT_MAX_TENANTS: usize = 1000;

/// Fixed costs per record, on top of its text: the struct, its map entries and timestamps.
pub(crate) mod overhead {
    /// An empty tenant: its id, its stores and its registry entry.
    pub(crate) const TENANT: usize = 1024;
    /// A job besides its strings: the struct, three index entries, its timestamps.
    pub(crate) const JOB: usize = 768;
    /// A log line besides its strings.
    pub(crate) const LOG_LINE: usize = 160;
    /// A credential besides its name and ciphertext.
    pub(crate) const CREDENTIAL: usize = 256;
    /// A webhook endpoint besides its URL, description and ciphertext.
    pub(crate) const ENDPOINT: usize = 256;
    /// A schedule besides its strings.
    pub(crate) const SCHEDULE: usize = 1024;
}

/// The limits, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Bytes all tenants' state may take together.
    pub max_memory: usize,
    /// Bytes one tenant's state may take.
    pub max_tenant_bytes: usize,
    /// Tenants kept at once; an idle one (no credentials, webhooks, schedules or live jobs)
    /// is forgotten, least recently used first, to make room for a new one.
    pub max_tenants: usize,
}

impl Default for MemoryLimits {
    fn default() -> Self {
        Self {
            max_memory: DEFAULT_MAX_MEMORY,
            max_tenant_bytes: DEFAULT_MAX_TENANT_BYTES,
            max_tenants: DEFAULT_MAX_TENANTS,
        }
    }
}

/// Why a record was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MemoryError {
    #[error("The record needs {needed} bytes; a tenant may keep at most {limit} bytes")]
    TooLarge { needed: usize, limit: usize },
    #[error("The tenant keeps {limit} bytes already; delete credentials, webhooks or schedules, or wait for live jobs to end")]
    TenantFull { limit: usize },
    #[error("The mock keeps {limit} bytes already; try again when jobs have ended")]
    MockFull { limit: usize },
    #[error("The mock keeps {limit} tenants already, none of them idle")]
    TooManyTenants { limit: usize },
}

impl From<MemoryError> for ApiError {
    fn from(err: MemoryError) -> Self {
        let message = err.to_string();
        match err {
            MemoryError::TooLarge { limit, .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", message)
                    .with_data(serde_json::json!({ "limit": limit }))
            }
            MemoryError::TenantFull { limit } => {
                ApiError::conflict(message).with_data(serde_json::json!({ "limit": limit }))
            }
            MemoryError::MockFull { .. } | MemoryError::TooManyTenants { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                message,
            ),
        }
    }
}

/// The mock-wide count and the clock that orders use and ends.
pub(crate) struct Budget {
    pub(crate) limits: MemoryLimits,
    used: AtomicUsize,
    tick: AtomicU64,
}

impl Budget {
    pub(crate) fn new(limits: MemoryLimits) -> Self {
        Self {
            limits,
            used: AtomicUsize::new(0),
            tick: AtomicU64::new(0),
        }
    }

    /// Bytes all kept tenants take, as last settled.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Moves a tenant's settled count from `before` to `after`.
    pub(crate) fn settle(&self, before: usize, after: usize) {
        if after >= before {
            self.used.fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.used.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    /// A number that grows with every call, mock-wide: orders tenants' use and jobs' ends.
    pub(crate) fn tick(&self) -> u64 {
        self.tick.fetch_add(1, Ordering::Relaxed) + 1
    }
}

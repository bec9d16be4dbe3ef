//! The bounds on the sidecar's own `credentials/get` calls: how many credentials one request
//! may name, how long a name may be, how many lookups run at once (and so how many upstream
//! connections they hold), and a retry budget shared by every lookup.
//!
//! The retry budget is a token bucket in the style of linkerd's and Envoy's: every first
//! attempt deposits [`RETRY_RATIO`] of a token, every retry withdraws one, and the bucket holds
//! at most [`RETRY_RESERVE`] tokens (it starts full), so retries stay under about a fifth of the
//! calls however many lookups fail at once, with a small reserve for a quiet sidecar's first
//! failures. A retry the budget cannot pay for is not made: the lookup fails with its error.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Default of `--max-credentials-per-request`.
pub const DEFAULT_MAX_CREDENTIALS_PER_REQUEST: usize = 32;

/// Default of `--max-concurrent-lookups`.
pub const DEFAULT_MAX_CONCURRENT_LOOKUPS: usize = 16;

/// The longest credential name the upstream accepts (characters); a longer one is refused
/// before any lookup.
pub const MAX_CREDENTIAL_NAME_CHARS: usize = 200;

/// The share of first attempts that may be retried.
pub const RETRY_RATIO: f64 = 0.2;

/// The retries the budget holds at most (and starts with).
pub const RETRY_RESERVE: f64 = 10.0;

/// The lookup bounds, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupLimits {
    /// Most distinct credentials one request may name (`--max-credentials-per-request`).
    pub max_per_request: usize,
    /// Most `credentials/get` calls in flight at once (`--max-concurrent-lookups`).
    pub max_concurrent: usize,
}

impl Default for LookupLimits {
    fn default() -> Self {
        Self {
            max_per_request: DEFAULT_MAX_CREDENTIALS_PER_REQUEST,
            max_concurrent: DEFAULT_MAX_CONCURRENT_LOOKUPS,
        }
    }
}

/// The shared state behind the limits: the lookup semaphore and the retry budget.
#[derive(Debug)]
pub(super) struct LookupGate {
    limits: LookupLimits,
    permits: Arc<Semaphore>,
    budget: RetryBudget,
}

impl LookupGate {
    pub(super) fn new(limits: LookupLimits) -> Self {
        Self {
            limits,
            permits: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            budget: RetryBudget::new(RETRY_RATIO, RETRY_RESERVE),
        }
    }

    pub(super) fn limits(&self) -> LookupLimits {
        self.limits
    }

    /// Waits for a lookup slot; held for one upstream call.
    pub(super) async fn slot(&self) -> OwnedSemaphorePermit {
        // The semaphore is never closed.
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .unwrap_or_else(|_| unreachable!("the lookup semaphore is never closed"))
    }

    pub(super) fn budget(&self) -> &RetryBudget {
        &self.budget
    }
}

/// A token bucket of retries, shared by every lookup.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    reserve: f64,
    tokens: Mutex<f64>,
}

impl RetryBudget {
    pub fn new(ratio: f64, reserve: f64) -> Self {
        Self {
            ratio,
            reserve,
            tokens: Mutex::new(reserve),
        }
    }

    /// A first attempt was made: it earns a share of a retry.
    pub fn deposit(&self) {
        let mut tokens = self.tokens.lock();
        *tokens = (*tokens + self.ratio).min(self.reserve);
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn withdraw(&self) -> bool {
        let mut tokens = self.tokens.lock();
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stay_under_the_ratio_once_the_reserve_is_spent() {
        let budget = RetryBudget::new(RETRY_RATIO, RETRY_RESERVE);
        let mut retries = 0;
        for _ in 0..10_000 {
            budget.deposit();
            if budget.withdraw() {
                retries += 1;
            }
        }
        // 10 from the reserve, then one in five calls.
        assert!(retries <= 10 + 2_000 + 1, "{retries}");
        assert!(retries >= 2_000, "{retries}");
    }
}

//! One memory budget for the request bodies the server holds, across every connection and
//! every HTTP/2 stream (`--max-body-memory`).
//!
//! `--max-body` bounds one body; without a shared bound, many connections (or many streams on
//! one HTTP/2 connection) each holding a body just under it add up to far more memory than the
//! limits suggest. The budget is a process-wide byte semaphore (one permit per byte): a body
//! read whole reserves its bytes as they arrive (its declared length at once, its buffer's
//! capacity as it grows), and whatever is derived from it (the parsed document, the rewritten
//! body) reserves its estimate before it is built. The [`Reservation`] is dropped when the
//! request is done, which gives the bytes back. Past the budget a request is refused at once
//! ([`Exhausted`], answered 503 `BODY_BUDGET_EXHAUSTED` with `Retry-After`), never queued and
//! never buffered past it.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The default `--max-body-memory`: 64 MiB.
pub const DEFAULT_MAX_BODY_MEMORY: usize = 64 << 20;

/// What a refused request is told to wait before retrying, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The shared budget. Cheap to clone: clones share the same bytes.
#[derive(Clone, Debug)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
}

/// The budget could not cover a reservation: it is held by other requests, or the request
/// alone needs more than the whole budget (`fits_at_all` false).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    /// Whether the request could ever fit (it needs no more than the whole budget).
    pub fits_at_all: bool,
}

/// Bytes held from the budget until dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: BodyBudget,
    permit: Option<OwnedSemaphorePermit>,
}

impl BodyBudget {
    /// A budget of `total` bytes (at least one byte; at most what a semaphore can count).
    pub fn new(total: usize) -> Self {
        let total = total.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// The whole budget in bytes.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The bytes not reserved right now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// An empty reservation, grown with [`Reservation::grow_to`].
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            permit: None,
        }
    }
}

impl Reservation {
    /// The bytes held.
    pub fn held(&self) -> usize {
        self.permit
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits)
    }

    /// Holds `more` bytes besides those already held, or fails at once.
    pub fn grow(&mut self, more: usize) -> Result<(), Exhausted> {
        if more == 0 {
            return Ok(());
        }
        let wanted = self.held().saturating_add(more);
        let fits_at_all = wanted <= self.budget.total;
        let count = u32::try_from(more).map_err(|_| Exhausted { fits_at_all })?;
        if !fits_at_all {
            return Err(Exhausted { fits_at_all });
        }
        match Arc::clone(&self.budget.bytes).try_acquire_many_owned(count) {
            Ok(permit) => {
                match &mut self.permit {
                    Some(held) => held.merge(permit),
                    None => self.permit = Some(permit),
                }
                Ok(())
            }
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => {
                Err(Exhausted { fits_at_all })
            }
        }
    }

    /// Holds at least `bytes` in all (nothing happens when as many are already held).
    pub fn grow_to(&mut self, bytes: usize) -> Result<(), Exhausted> {
        self.grow(bytes.saturating_sub(self.held()))
    }

    /// Gives back all but `bytes` of what is held (when the buffer turned out smaller).
    pub fn shrink_to(&mut self, bytes: usize) {
        let held = self.held();
        if bytes >= held {
            return;
        }
        if bytes == 0 {
            self.permit = None;
            return;
        }
        if let Some(permit) = &mut self.permit {
            if let Some(released) = permit.split(held - bytes) {
                drop(released);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_budget_and_give_it_back_on_drop() {
        let budget = BodyBudget::new(100);
        let mut first = budget.reservation();
        first.grow(60).unwrap();
        let mut second = budget.reservation();
        assert_eq!(second.grow(50), Err(Exhausted { fits_at_all: true }));
        second.grow(40).unwrap();
        assert_eq!(budget.available(), 0);
        first.shrink_to(10);
        assert_eq!(budget.available(), 50);
        drop(first);
        drop(second);
        assert_eq!(budget.available(), 100);
        let mut huge = budget.reservation();
        assert_eq!(huge.grow(101), Err(Exhausted { fits_at_all: false }));
        huge.grow_to(100).unwrap();
        huge.grow_to(30).unwrap();
        assert_eq!(huge.held(), 100);
    }
}

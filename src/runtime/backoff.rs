//! Exponential backoff with full jitter, for retries that must not march in lockstep.
//!
//! Each delay is drawn uniformly from zero to `base * 2^attempt` (capped), as in the "full
//! jitter" scheme: many sidecars retrying the same upstream outage spread out instead of
//! arriving together.

use std::time::Duration;

use rand::Rng;

/// A backoff policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first delay.
    pub base: Duration,
    /// No delay is longer than this.
    pub max: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The ceiling of the delay before retry number `attempt` (0 for the first retry).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// A random delay in `0..=ceiling(attempt)`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::thread_rng().gen_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_then_cap() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(0), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(1), Duration::from_millis(200));
        assert_eq!(backoff.ceiling(3), Duration::from_millis(800));
        assert_eq!(backoff.ceiling(4), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(500), Duration::from_secs(1));
    }

    #[test]
    fn delays_stay_under_the_ceiling() {
        let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
        for attempt in 0..10 {
            assert!(backoff.delay(attempt) <= backoff.ceiling(attempt));
        }
    }
}

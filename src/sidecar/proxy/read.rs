//! The read of a body the proxy looks into: whole, within `--max-body`, held against the body
//! memory budget together with the estimate of its parsed form, and refused when it nests
//! deeper than [`MAX_DEPTH`].

use bytes::Bytes;
use hyper::body::Incoming;

use crate::http::budget::{BodyBudget, Exhausted, Reservation};
use crate::http::limited::{read_budgeted, BudgetedReadError};
use crate::placeholders::{shape, MAX_DEPTH};
use crate::sidecar::error::SidecarError;

use super::Proxy;

impl Proxy {
    /// Reads a body whole against the memory budget, checks that it nests no deeper than
    /// [`MAX_DEPTH`], and holds the estimate of its parsed form too: every body read whole is
    /// parsed. The reservation is the caller's to keep until the request is done.
    pub(super) async fn read_body(
        &self,
        body: Incoming,
    ) -> Result<(Bytes, Reservation), SidecarError> {
        let limit = self.inner.config.max_body;
        let budget = &self.inner.budget;
        let mut held = budget.reservation();
        let bytes = read_budgeted(body, limit, &mut held)
            .await
            .map_err(|err| match err {
                BudgetedReadError::Budget(exhausted) => over_budget(exhausted, budget),
                BudgetedReadError::Read(err) => match err.status {
                    http::StatusCode::PAYLOAD_TOO_LARGE => SidecarError::PayloadTooLarge { limit },
                    http::StatusCode::REQUEST_TIMEOUT => SidecarError::BodyTimeout,
                    _ => SidecarError::BodyUnreadable,
                },
            })?;
        let measured = shape(&bytes, MAX_DEPTH).map_err(|too_deep| SidecarError::BodyTooDeep {
            limit: too_deep.limit,
        })?;
        held.grow(measured.parse_cost())
            .map_err(|exhausted| over_budget(exhausted, budget))?;
        Ok((bytes, held))
    }
}

/// The refusal of a body the budget cannot hold: retry later, or never if it alone needs more
/// than the whole budget.
fn over_budget(exhausted: Exhausted, budget: &BodyBudget) -> SidecarError {
    if exhausted.fits_at_all {
        SidecarError::BodyBudgetExhausted
    } else {
        SidecarError::BodyTooComplex {
            budget: budget.total(),
        }
    }
}

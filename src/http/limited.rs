//! The bounded read of a whole request body: it stops at the configured limit instead of
//! buffering whatever a client sends, and at a deadline instead of waiting for a client that
//! never finishes. [`read_budgeted`] also holds the bytes it buffers against the process-wide
//! [`BodyBudget`](crate::http::budget::BodyBudget).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::http::body::BoxError;
use crate::http::budget::{Exhausted, Reservation};
use crate::http::envelope::ApiError;

/// How long a client may take to send a request body the server reads whole.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads a whole request body, failing with 413 once it grows past `limit` bytes (at once when
/// its declared length is already over), and with 408 when it does not arrive within
/// [`BODY_READ_TIMEOUT`].
// Only the mock reads a body without a budget; the sidecar reads with one.
#[cfg_attr(not(feature = "mock"), allow(dead_code))]
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let declared = body.size_hint().lower();
    if usize::try_from(declared).map_or(true, |declared| declared > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, limit).collect()).await;
    match read {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::payload_too_large(limit))
        }
        Ok(Err(_)) => Err(ApiError::bad_request("The request body could not be read")),
        Err(_) => Err(timed_out()),
    }
}

/// Why [`read_budgeted`] stopped.
#[derive(Debug)]
pub enum BudgetedReadError {
    /// Over the limit, unreadable or late: answered as [`read_limited`] answers it.
    Read(ApiError),
    /// The body memory budget could not hold the body.
    Budget(Exhausted),
}

/// Reads a whole request body like [`read_limited`], holding in `reservation` the bytes
/// buffered: the declared length before anything is read, and then the buffer's capacity as
/// it grows. Fails at once, without buffering more, when the budget cannot hold them.
pub async fn read_budgeted<B>(
    body: B,
    limit: usize,
    reservation: &mut Reservation,
) -> Result<Bytes, BudgetedReadError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let declared = body.size_hint().lower();
    let declared = match usize::try_from(declared) {
        Ok(declared) if declared <= limit => declared,
        _ => return Err(BudgetedReadError::Read(ApiError::payload_too_large(limit))),
    };
    reservation
        .grow_to(declared)
        .map_err(BudgetedReadError::Budget)?;
    let read = tokio::time::timeout(
        BODY_READ_TIMEOUT,
        collect(body, limit, declared, reservation),
    );
    match read.await {
        Ok(result) => result,
        Err(_) => Err(BudgetedReadError::Read(timed_out())),
    }
}

async fn collect<B>(
    mut body: B,
    limit: usize,
    declared: usize,
    reservation: &mut Reservation,
) -> Result<Bytes, BudgetedReadError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut first: Option<Bytes> = None;
    let mut buffer = BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            BudgetedReadError::Read(ApiError::bad_request("The request body could not be read"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry no body bytes
        };
        if data.is_empty() {
            continue;
        }
        total = total.saturating_add(data.len());
        if total > limit {
            return Err(BudgetedReadError::Read(ApiError::payload_too_large(limit)));
        }
        if first.is_none() && buffer.is_empty() {
            // One frame is kept as it came (no copy); a second one starts the buffer.
            reservation
                .grow_to(data.len())
                .map_err(BudgetedReadError::Budget)?;
            first = Some(data);
            continue;
        }
        if let Some(head) = first.take() {
            let wanted = declared.max(total).min(limit);
            reservation
                .grow_to(head.len() + wanted)
                .map_err(BudgetedReadError::Budget)?;
            buffer.reserve(wanted);
            buffer.extend_from_slice(&head);
        }
        if buffer.capacity() < total {
            let wanted = (total.saturating_mul(2)).min(limit).max(total);
            reservation
                .grow_to(wanted.saturating_add(buffer.capacity()))
                .map_err(BudgetedReadError::Budget)?;
            buffer.reserve(wanted - buffer.len());
        }
        buffer.extend_from_slice(&data);
        reservation
            .grow_to(buffer.capacity())
            .map_err(BudgetedReadError::Budget)?;
    }
    // What stays allocated: the one frame, or the buffer's whole capacity.
    let (bytes, kept) = match first {
        Some(head) => {
            let kept = head.len();
            (head, kept)
        }
        None => {
            let kept = buffer.capacity();
            (buffer.freeze(), kept)
        }
    };
    reservation.shrink_to(kept);
    Ok(bytes)
}

fn timed_out() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "TIMEOUT",
        "The request body did not arrive in time",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_at_once() {
        let body = Full::new(Bytes::from(vec![b'x'; 100]));
        let err = read_limited(body, 10).await.unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
        let body = Full::new(Bytes::from_static(b"{}"));
        assert_eq!(
            read_limited(body, 10).await.unwrap(),
            Bytes::from_static(b"{}")
        );
    }

    #[tokio::test]
    async fn a_budgeted_read_holds_its_bytes_and_stops_past_the_budget() {
        let budget = crate::http::budget::BodyBudget::new(2000);
        let chunks =
            (0..8).map(|_| Ok::<_, BoxError>(http_body::Frame::data(Bytes::from(vec![b'x'; 100]))));
        let body = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
        let mut held = budget.reservation();
        let bytes = read_budgeted(body, 10_000, &mut held).await.unwrap();
        assert_eq!(bytes.len(), 800);
        let kept = held.held();
        assert!((800..=1600).contains(&kept), "{kept}");
        assert_eq!(budget.available(), 2000 - kept);

        let over = 2000 - kept + 1;
        let body = Full::new(Bytes::from(vec![b'x'; over]));
        let mut other = budget.reservation();
        let err = read_budgeted(body, 10_000, &mut other).await.unwrap_err();
        assert!(matches!(err, BudgetedReadError::Budget(_)), "{err:?}");
        drop(held);
        let body = Full::new(Bytes::from(vec![b'x'; over]));
        let read = read_budgeted(body, 10_000, &mut other).await.unwrap();
        assert_eq!(read.len(), over);
        assert_eq!(other.held(), over, "a declared length is held exactly");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_arrives_times_out() {
        let never = futures_util::stream::pending::<Result<http_body::Frame<Bytes>, BoxError>>();
        let body = http_body_util::StreamBody::new(never);
        let err = read_limited(body, 10).await.unwrap_err();
        assert_eq!(err.status, StatusCode::REQUEST_TIMEOUT);
    }
}

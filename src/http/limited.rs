//! The bounded read of a whole request body: it stops at the configured limit instead of
//! buffering whatever a client sends, and at a deadline instead of waiting for a client that
//! never finishes.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::http::body::BoxError;
use crate::http::envelope::ApiError;

/// How long a client may take to send a request body the server reads whole.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads a whole request body, failing with 413 once it grows past `limit` bytes (at once when
/// its declared length is already over), and with 408 when it does not arrive within
/// [`BODY_READ_TIMEOUT`].
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
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "TIMEOUT",
            "The request body did not arrive in time",
        )),
    }
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

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_arrives_times_out() {
        let never = futures_util::stream::pending::<Result<http_body::Frame<Bytes>, BoxError>>();
        let body = http_body_util::StreamBody::new(never);
        let err = read_limited(body, 10).await.unwrap_err();
        assert_eq!(err.status, StatusCode::REQUEST_TIMEOUT);
    }
}

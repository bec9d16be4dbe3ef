//! HTTP body types and the bounded body reader shared by every server in the crate.
//!
//! Answers are boxed so that a buffered JSON answer and a streamed upstream answer share one
//! type. Request bodies are read through [`read_limited`], which stops at the configured limit
//! instead of buffering whatever a client sends.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full, LengthLimitError, Limited};

use crate::envelope::ApiError;

/// Any error a body can fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every answer the crate's servers give.
pub type Body = BoxBody<Bytes, BoxError>;

/// A body holding the given bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// Reads a whole request body, failing with 413 once it grows past `limit` bytes.
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::payload_too_large(limit))
        }
        Err(_) => Err(ApiError::bad_request("The request body could not be read")),
    }
}

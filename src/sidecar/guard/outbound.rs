//! A forwarded request body watched for placeholder text as it streams to the upstream.
//!
//! Every pass-through body goes through [`Watched`]: each chunk is fed to a
//! [`Sniffer`] before it is handed on, and the chunk that completes a placeholder opening is
//! not sent; the body ends in an error instead, so the upstream sees an aborted request, and the
//! shared flag tells the proxy to answer the client 400 `PLACEHOLDER_NOT_ALLOWED`.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::placeholders::outbound::Sniffer;

/// The error a watched body ends with once it has shown a placeholder.
#[derive(Debug, thiserror::Error)]
#[error("placeholder text in a forwarded body")]
pub struct PlaceholderInBody;

/// A body that stops before the chunk completing placeholder text.
pub struct Watched<B> {
    inner: B,
    sniffer: Sniffer,
    seen: Arc<AtomicBool>,
}

impl<B> Watched<B> {
    /// Watches `inner`; `seen` is set once it shows placeholder text.
    pub fn new(inner: B, seen: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            sniffer: Sniffer::new(),
            seen,
        }
    }
}

impl<B> Body for Watched<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.sniffer.found() {
            return Poll::Ready(Some(Err(Box::new(PlaceholderInBody))));
        }
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            if self.sniffer.feed(data) {
                self.seen.store(true, Ordering::Relaxed);
                return Poll::Ready(Some(Err(Box::new(PlaceholderInBody))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

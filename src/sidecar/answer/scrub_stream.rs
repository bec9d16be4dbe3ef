//! Scrubbing secrets out of an answer while it streams: text, HTML, NDJSON, server-sent events.
//!
//! A JSON answer is read whole and checked (see [`crate::sidecar::answer`]), but an event stream (an
//! oRPC event iterator) never ends and a log download may be large, so other textual answers
//! are scrubbed chunk by chunk instead of being buffered. A secret may be split across two
//! chunks, so the last (longest pattern − 1) bytes of what arrived are held back until the
//! next chunk shows whether they start a secret; every match that lies wholly in what arrived
//! is replaced with [`REDACTED`] and everything before the held tail is released at once. The
//! held tail is flushed, scrubbed, when the body ends; a body that fails loses it.
//!
//! [`ChunkScrubber`] is the pure part (bytes in, bytes out); [`ScrubbedBody`] wraps a body with
//! it. The length of a scrubbed answer changes, so its `Content-Length` must go.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tracing::warn;

use crate::http::body::BoxError;
use crate::sidecar::answer::scrub::{Scrubber, REDACTED};

/// Scrubs a byte stream chunk by chunk, holding back what may be the start of a secret.
#[derive(Debug)]
pub struct ChunkScrubber {
    scrubber: Arc<Scrubber>,
    /// Bytes received and not yet released (never longer than the longest pattern − 1 after a
    /// push).
    tail: Vec<u8>,
    redacted: usize,
}

impl ChunkScrubber {
    pub fn new(scrubber: Arc<Scrubber>) -> Self {
        Self {
            scrubber,
            tail: Vec::new(),
            redacted: 0,
        }
    }

    /// Takes the next chunk; returns the bytes that can be released now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.scrubber.is_empty() {
            return chunk.to_vec();
        }
        let keep = self.scrubber.longest_pattern().saturating_sub(1);
        let mut buffer = std::mem::take(&mut self.tail);
        buffer.extend_from_slice(chunk);
        // A match starting before `safe` has room in the buffer for every pattern, so more
        // bytes cannot change it; one starting at or after `safe` must wait.
        let safe = buffer.len().saturating_sub(keep);
        let mut out = Vec::with_capacity(buffer.len());
        let mut released = 0;
        for (start, end) in self.scrubber.spans(&buffer, safe) {
            out.extend_from_slice(&buffer[released..start]);
            out.extend_from_slice(REDACTED.as_bytes());
            released = end;
            self.redacted += 1;
        }
        let release_to = released.max(safe);
        out.extend_from_slice(&buffer[released..release_to]);
        self.tail = buffer.split_off(release_to);
        out
    }

    /// Ends the stream; returns the held bytes, scrubbed.
    pub fn finish(&mut self) -> Vec<u8> {
        let tail = std::mem::take(&mut self.tail);
        let mut out = Vec::with_capacity(tail.len());
        let mut released = 0;
        for (start, end) in self.scrubber.spans(&tail, usize::MAX) {
            out.extend_from_slice(&tail[released..start]);
            out.extend_from_slice(REDACTED.as_bytes());
            released = end;
            self.redacted += 1;
        }
        out.extend_from_slice(&tail[released..]);
        out
    }

    /// How many secrets were replaced so far.
    pub fn redacted(&self) -> usize {
        self.redacted
    }
}

/// A body scrubbed as it streams. Trailers pass after the held bytes are flushed.
pub struct ScrubbedBody<B> {
    inner: B,
    scrub: ChunkScrubber,
    /// Trailers waiting for the flushed tail to go first.
    trailers: Option<Frame<Bytes>>,
    done: bool,
}

impl<B> ScrubbedBody<B> {
    pub fn new(inner: B, scrubber: Arc<Scrubber>) -> Self {
        Self {
            inner,
            scrub: ChunkScrubber::new(scrubber),
            trailers: None,
            done: false,
        }
    }

    fn end(&mut self) -> Vec<u8> {
        self.done = true;
        let flushed = self.scrub.finish();
        if self.scrub.redacted() > 0 {
            warn!(
                matches = self.scrub.redacted(),
                "Secret values scrubbed from a streamed upstream answer"
            );
        }
        flushed
    }
}

impl<B> HttpBody for ScrubbedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(trailers)));
        }
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    let flushed = this.end();
                    return Poll::Ready((!flushed.is_empty()).then(|| Ok(data(flushed))));
                }
                Poll::Ready(Some(Err(err))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(err.into())));
                }
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            match frame.into_data() {
                Ok(chunk) => {
                    let out = this.scrub.push(&chunk);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(data(out))));
                    }
                }
                Err(other) => {
                    let flushed = this.end();
                    if flushed.is_empty() {
                        return Poll::Ready(Some(Ok(other)));
                    }
                    this.trailers = Some(other);
                    return Poll::Ready(Some(Ok(data(flushed))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

fn data(bytes: Vec<u8>) -> Frame<Bytes> {
    Frame::data(Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    const SECRET: &str = "hunter22-secret";

    fn scrubber() -> Arc<Scrubber> {
        Arc::new(Scrubber::new([SECRET]))
    }

    /// Feeds `text` split at every given offset; returns the whole output.
    fn through(text: &str, cuts: &[usize]) -> String {
        let mut scrub = ChunkScrubber::new(scrubber());
        let mut out = Vec::new();
        let mut from = 0;
        for &cut in cuts.iter().chain(std::iter::once(&text.len())) {
            out.extend(scrub.push(&text.as_bytes()[from..cut]));
            from = cut;
        }
        out.extend(scrub.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_secret_split_anywhere_is_redacted() {
        let text = format!("a {SECRET} b {SECRET}");
        for cut in 0..=text.len() {
            assert_eq!(through(&text, &[cut]), "a [redacted] b [redacted]", "{cut}");
        }
        let every: Vec<usize> = (1..text.len()).collect();
        assert_eq!(through(&text, &every), "a [redacted] b [redacted]");
    }

    #[test]
    fn escaped_forms_and_no_secret() {
        assert_eq!(through("plain text", &[3]), "plain text");
        let escaped = "say \\\"hunter22-secret\\\"";
        assert_eq!(through(escaped, &[8]), "say \\\"[redacted]\\\"");
    }

    #[test]
    fn at_most_the_longest_pattern_is_held() {
        let scrubber = scrubber();
        let keep = scrubber.longest_pattern() - 1;
        let mut scrub = ChunkScrubber::new(scrubber);
        let released = scrub.push(&[b'x'; 100]);
        assert_eq!(released.len(), 100 - keep);
        assert_eq!(scrub.finish().len(), keep);
    }

    #[test]
    fn without_secrets_everything_passes_at_once() {
        let mut scrub = ChunkScrubber::new(Arc::new(Scrubber::default()));
        assert_eq!(scrub.push(b"abc"), b"abc");
        assert!(scrub.finish().is_empty());
    }

    #[tokio::test]
    async fn the_body_flushes_its_tail_before_trailers() {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-sum", http::HeaderValue::from_static("1"));
        let frames = vec![
            Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"data: hunter"))),
            Ok(Frame::data(Bytes::from_static(b"22-secret\n\n"))),
            Ok(Frame::trailers(trailers)),
        ];
        let body = ScrubbedBody::new(
            StreamBody::new(futures_util::stream::iter(frames)),
            scrubber(),
        );
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["x-sum"], "1");
        assert_eq!(collected.to_bytes(), "data: [redacted]\n\n");
    }
}

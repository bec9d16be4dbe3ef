//! Deadlines on a client connection's bytes, so that silent connections cannot hold the
//! connection cap.
//!
//! hyper's header read timeout starts only once hyper-util's protocol sniffing has seen bytes,
//! and it does not cover an HTTP/2 connection that sent its preface and then nothing, nor a
//! body that stalls on a route streamed through. So every connection is wrapped in
//! [`Deadlined`]: a connection that sends no first byte within the header read timeout is
//! closed, and so is one on which no byte moves either way for the idle timeout. The idle
//! timeout must exceed the upstream timeout, so that a request waiting on a slow upstream is
//! never cut; a streamed answer silent for longer than it is cut.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// An I/O stream closed (with a `TimedOut` error on read) when its deadline passes: the first
/// byte must arrive within `first_byte`, and after that some byte must move within `idle`.
pub struct Deadlined<IO> {
    inner: IO,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<IO> Deadlined<IO> {
    pub fn new(inner: IO, first_byte: Duration, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(first_byte)),
        }
    }

    fn moved(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Deadlined<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client connection silent past its deadline",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Deadlined<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(written, Poll::Ready(Ok(count)) if count > 0) {
            self.moved();
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(count)) if count > 0) {
            self.moved();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_times_out_and_bytes_push_the_deadline() {
        let (client, server) = tokio::io::duplex(64);
        let mut wrapped = Deadlined::new(server, Duration::from_secs(2), Duration::from_secs(5));
        let mut client = client;
        let mut buf = [0u8; 8];
        client.write_all(b"x").await.unwrap();
        assert_eq!(wrapped.read(&mut buf).await.unwrap(), 1);
        let started = Instant::now();
        let err = wrapped.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(5),
            "idle after a byte"
        );

        let (_client, server) = tokio::io::duplex(64);
        let mut silent = Deadlined::new(server, Duration::from_secs(2), Duration::from_secs(5));
        let started = Instant::now();
        assert!(silent.read(&mut buf).await.is_err());
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(2),
            "first byte deadline"
        );
    }
}

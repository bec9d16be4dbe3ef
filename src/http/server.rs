//! The HTTP serving loop shared by the mock and the sidecar.
//!
//! Takes a bound listener, a [`Handler`] and a shutdown future, so tests bind `127.0.0.1:0`
//! and run the real server. Every connection speaks HTTP/1.1 or h2c (hyper-util's `auto`
//! builder), has a header read timeout and a header size limit, and counts against a
//! connection cap; a connection beyond the cap is answered 503 (counted in the metrics) and
//! closed. Accepted connections are served on the [`Workers`] when there are some (each
//! connection on one of them from start to end), else on the accept loop's runtime. On
//! shutdown the listener closes at once and in-flight connections get `grace` to
//! finish; those still open then are cut, and the log says how many.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info_span, warn, Instrument};

use crate::http::body::Body;
use crate::http::conn_limits::Deadlined;
use crate::http::envelope::ApiError;
use crate::runtime::workers::Workers;

/// Handles one request. Implemented by the mock's router and the sidecar's proxy.
pub trait Handler: Clone + Send + Sync + 'static {
    fn call(&self, request: Request<Incoming>) -> impl Future<Output = Response<Body>> + Send;
}

/// The peer address of the connection a request came on, stored in its extensions.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The smallest request head limit: hyper's HTTP/1.1 server cannot read with a smaller buffer
/// (it would raise a smaller value silently, so the command line refuses one).
pub const MIN_HEADER_BYTES: usize = 8192;

/// Requests one HTTP/2 connection may have open at once (hyper's default is 200).
pub const H2_MAX_STREAMS: u32 = 32;

/// How much request body one HTTP/2 stream may send before the server has read it.
pub const H2_STREAM_WINDOW: u32 = 256 * 1024;

/// How much request body one HTTP/2 connection may send, over all its streams, before the
/// server has read it: what an HTTP/2 client can make the server buffer unread.
pub const H2_CONNECTION_WINDOW: u32 = 1024 * 1024;

/// What a server reports about its connections to whoever counts them (the sidecar's
/// metrics), without this module knowing who that is.
pub trait ConnectionObserver: Send + Sync + 'static {
    /// A connection was accepted; the returned guard is dropped when it closes.
    fn opened(&self) -> Box<dyn Send>;
    /// A request on a connection over the cap was answered 503.
    fn refused(&self, path: &str);
}

/// What a connection over the cap may still be answered, without a permit: the admin
/// listener's probes (`/healthz`, `/readyz`), so a flood of connections cannot make a healthy
/// process look dead. `None` means the usual 503.
pub trait OverCapAnswer: Send + Sync + 'static {
    fn answer(&self, method: &http::Method, path: &str) -> Option<Response<Body>>;
}

/// Connections over the cap being answered at once, at most (beyond, they are closed at once).
/// Each is held to [`OVER_CAP_DEADLINE`].
pub const MAX_OVER_CAP: usize = 1024;

/// How long a connection over the cap has to send its request head; its first byte must come
/// within half of it.
pub const OVER_CAP_DEADLINE: Duration = Duration::from_secs(2);

/// Limits applied to every connection.
#[derive(Clone)]
pub struct ServerOptions {
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// The largest request head accepted (HTTP/1.1 buffer, HTTP/2 header list).
    pub max_header_bytes: usize,
    /// Connections served at once; more are answered 503.
    pub max_connections: usize,
    /// How long in-flight requests may take to finish after shutdown begins.
    pub shutdown_grace: Duration,
    /// Where open and refused connections are counted, if anywhere.
    pub observer: Option<Arc<dyn ConnectionObserver>>,
    /// How long a connection may stay silent (no byte either way) before it is closed.
    pub idle_timeout: Duration,
    /// What connections over the cap may still be answered (the admin listener's probes).
    pub over_cap: Option<Arc<dyn OverCapAnswer>>,
    /// Single-threaded runtimes the accepted connections are spread over (see [`Workers`]),
    /// started by [`serve`] and stopped when it returns; 0 serves them on the runtime of the
    /// accept loop.
    pub worker_threads: usize,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_connections", &self.max_connections)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("idle_timeout", &self.idle_timeout)
            .field("worker_threads", &self.worker_threads)
            .finish_non_exhaustive()
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(10),
            observer: None,
            idle_timeout: Duration::from_secs(60),
            over_cap: None,
            worker_threads: 0,
        }
    }
}

/// The accept queue asked of the kernel (which caps it at `net.core.somaxconn`, 4096 by
/// default). The runtime's own default is 128: a burst of 500 connections at once (an app
/// scaling out) overflowed it, and every connection past it waited a second for its SYN to be
/// sent again.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds a TCP listener with a [`LISTEN_BACKLOG`] accept queue; port 0 picks a free port.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As the standard library's listeners do on Unix: a restart may bind a port whose old
    // connections are still in TIME_WAIT (never one another process listens on).
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The line printed on start-up, once the listener is bound.
pub fn listening_line(listener: &TcpListener) -> std::io::Result<String> {
    Ok(format!("listening on http://{}", listener.local_addr()?))
}

/// Serves connections from `listener` until `shutdown` resolves, then drains them.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: H,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(options.max_header_bytes.max(MIN_HEADER_BYTES));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(H2_MAX_STREAMS)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .max_pending_accept_reset_streams(H2_MAX_STREAMS as usize)
        .max_local_error_reset_streams(Some(64));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let over_cap_permits = Arc::new(Semaphore::new(MAX_OVER_CAP));
    let workers = match options.worker_threads {
        0 => None,
        count => match Workers::start("conn-worker", count) {
            Ok(workers) => Some(workers),
            Err(err) => {
                warn!(error = %err, "Could not start the connection workers; serving on one runtime");
                None
            }
        },
    };
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Accept errors (for example too many open files) are transient: back off briefly.
                    warn!(error = %err, "Accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        let span = info_span!("conn", %peer);
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            debug!(parent: &span, "Connection over the cap");
            // The refusals are bounded too: past them a connection is closed unanswered.
            if let Ok(refusing) = over_cap_permits.clone().try_acquire_owned() {
                let refusal =
                    refuse_over_capacity(io, options.observer.clone(), options.over_cap.clone());
                tokio::spawn(
                    async move {
                        refusal.await;
                        drop(refusing);
                    }
                    .instrument(span),
                );
            }
            continue;
        };
        let handler = handler.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(PeerAddr(peer));
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler.call(request).await) }
        });
        let limits = (options.header_read_timeout, options.idle_timeout);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let open = options.observer.as_ref().map(|observer| observer.opened());
        let run = move |stream: tokio::net::TcpStream| async move {
            let connection =
                builder.serve_connection_with_upgrades(deadlined(stream, limits), service);
            if let Err(err) = watcher.watch(connection.into_owned()).await {
                debug!(error = %err, "Connection ended with an error");
            }
            drop((open, permit));
        };
        let Some(workers) = &workers else {
            drop(tokio::spawn(run(io.into_inner()).instrument(span)));
            continue;
        };
        // The stream was registered with this runtime's reactor when it was accepted; its
        // readiness must come from the worker's own, or every read and write on it would be a
        // wake-up across threads.
        let stream = match io.into_inner().into_std() {
            Ok(stream) => stream,
            Err(err) => {
                debug!(parent: &span, error = %err, "Could not hand the connection over");
                continue;
            }
        };
        workers.spawn(
            async move {
                match tokio::net::TcpStream::from_std(stream) {
                    Ok(stream) => run(stream).await,
                    Err(err) => debug!(error = %err, "Could not take the connection over"),
                }
            }
            .instrument(span),
        );
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => debug!("All connections drained"),
        () = tokio::time::sleep(options.shutdown_grace) => {
            // Each open connection holds a permit until it ends.
            let cut = options.max_connections.max(1) - permits.available_permits();
            warn!(connections = cut, "Shutdown grace elapsed; cutting the connections still open");
        }
    }
}

/// The connection with its first-byte and idle deadlines (see [`crate::http::conn_limits`]):
/// `(header_read_timeout, idle_timeout)`.
fn deadlined(
    stream: tokio::net::TcpStream,
    (first_byte, idle): (Duration, Duration),
) -> TokioIo<Deadlined<tokio::net::TcpStream>> {
    TokioIo::new(Deadlined::new(stream, first_byte, idle))
}

/// Answers every request on an over-cap connection with 503 (or, for the paths `over_cap`
/// answers, with its answer) and closes it. The refusal is
/// counted like any other (request by route and status, error by code) and carries a request
/// id.
async fn refuse_over_capacity(
    io: TokioIo<tokio::net::TcpStream>,
    observer: Option<Arc<dyn ConnectionObserver>>,
    over_cap: Option<Arc<dyn OverCapAnswer>>,
) {
    let service = service_fn(move |request: Request<Incoming>| {
        let observer = observer.clone();
        let over_cap = over_cap.clone();
        async move {
            let request_id = crate::http::headers::request_id(request.headers());
            let answered = over_cap
                .as_ref()
                .and_then(|over_cap| over_cap.answer(request.method(), request.uri().path()));
            if let Some(mut response) = answered {
                let headers = response.headers_mut();
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
                headers.insert(crate::http::headers::REQUEST_ID_HEADER, request_id);
                return Ok::<_, Infallible>(response);
            }
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "Too many open connections; retry shortly",
            )
            .into_response();
            if let Some(observer) = &observer {
                observer.refused(request.uri().path());
            }
            let headers = response.headers_mut();
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            headers.insert(crate::http::headers::REQUEST_ID_HEADER, request_id);
            Ok::<_, Infallible>(response)
        }
    });
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(OVER_CAP_DEADLINE);
    let io = TokioIo::new(Deadlined::new(
        io.into_inner(),
        OVER_CAP_DEADLINE / 2,
        OVER_CAP_DEADLINE,
    ));
    if let Err(err) = http1.serve_connection(io, service).await {
        debug!(error = %err, "Refused connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections queue in the kernel until the accept loop takes them: 600 at once all
    /// complete their handshake though none is accepted yet (with the runtime's default queue
    /// of 128 the rest waited a second for a SYN sent again, or never connected).
    #[tokio::test]
    async fn a_burst_of_connections_fits_the_accept_queue() {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connects = (0..600).map(|_| {
            tokio::time::timeout(
                Duration::from_millis(800),
                tokio::net::TcpStream::connect(addr),
            )
        });
        let done = futures_util::future::join_all(connects).await;
        let connected = done
            .iter()
            .filter(|result| matches!(result, Ok(Ok(_))))
            .count();
        assert_eq!(connected, 600);
        drop(listener);
    }
}

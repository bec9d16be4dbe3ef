//! The sidecar's client for the upstream Libretto API.
//!
//! A pooled hyper-util client over hyper-rustls (one per thread, so that a connection worker
//! reuses upstream connections polled on its own thread) serves every upstream call: plain `http` for
//! local upstreams (the mock, tests) and `https` with HTTP/1.1 or HTTP/2 chosen by ALPN for
//! the real service. The base URL may carry a path prefix, which is put in front of every
//! forwarded path. Two operations live here: [`Upstream::get_credential`], the one lookup the
//! sidecar makes on its own behalf (bounded in time and size, its answer parsed into a typed
//! result), and [`Upstream::forward`], which sends a prepared request and hands back the
//! response head as soon as it arrives so the body can be streamed on.
//!
//! The lookup is a read, so it is retried a few times with jittered backoff on transport
//! errors and 5xx answers, all within `--upstream-timeout`; forwarded requests (writes among
//! them) are sent exactly once by this client. A transport failure after the connection was
//! made is [`UpstreamError::Lost`]: the request may have been processed, and only a caller
//! that knows the upstream dedupes it (a `jobs/create` with a `nonce`) may send it again. The
//! API key sits behind a lock and is read per request, so it
//! can be swapped at run time without touching requests in flight or the connection pool. The
//! key file is read again (without blocking the runtime) when its content changes (polled, so
//! a Kubernetes Secret update is picked up where no signal can be sent), on SIGHUP, and on an
//! upstream 401. A 401 means the upstream did not process the request, so a request whose body
//! the sidecar holds in memory is sent once more when the re-read key differs from the one it
//! was sent with; a streamed body cannot be replayed and its 401 is passed on.

pub(crate) mod base_url;
pub(crate) mod credential_answer;
pub(crate) mod error;
mod key;
pub mod limits;
pub mod list;
mod lookup;
mod tls;

pub use error::{is_retryable, KeyReloadError, UpstreamConfigError, UpstreamError};
pub use key::KEY_FILE_POLL;
pub use limits::LookupLimits;
pub use lookup::LOOKUP_ATTEMPTS;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parking_lot::RwLock;
use thread_local::ThreadLocal;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::http::body::{full, Body};
use crate::secret::Secret;
use crate::sidecar::metrics::{route_label, Metrics};
use crate::sidecar::upstream::base_url::BaseUrl;

/// The header the upstream reads the tenant's API key from.
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

pub use crate::http::headers::REQUEST_ID_HEADER;

/// Settings of the upstream client.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Base URL, `http` or `https`, optionally with a path prefix.
    pub base_url: String,
    /// How long a call may wait for the upstream's answer.
    pub timeout: Duration,
    pub api_key: Secret,
    /// The file `api_key` came from, re-read by [`Upstream::reload_key`].
    pub key_file: Option<PathBuf>,
    pub metrics: Metrics,
    /// A PEM file of CA certificates trusted for `https` besides the public roots
    /// (`--upstream-ca-file`), for an upstream behind a private CA.
    pub ca_file: Option<PathBuf>,
    /// How many lookups run at once and how many credentials one request may name.
    pub lookups: LookupLimits,
}

/// Idle upstream connections kept for reuse, at most: one per client connection the sidecar
/// serves at once by default (`--max-connections`). Idle ones close after 90 s.
const MAX_IDLE_PER_HOST: usize = 1024;

type UpstreamClient = Client<HttpsConnector<HttpConnector>, Body>;

/// The upstream client. Cheap to clone; clones share the connection pools.
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

struct Inner {
    /// How a thread's client connects (TLS settings, timeouts), shared by all of them.
    connector: HttpsConnector<HttpConnector>,
    /// One client, with its own connection pool, per thread that calls upstream: a connection
    /// worker's requests reuse connections polled on its own thread (see
    /// [`crate::runtime::workers`]).
    clients: ThreadLocal<UpstreamClient>,
    base: BaseUrl,
    timeout: Duration,
    /// Read per request, so a rotation never disturbs a request in flight.
    api_key: RwLock<Secret>,
    key_file: Option<PathBuf>,
    metrics: Metrics,
    /// The lookup semaphore and retry budget.
    lookups: limits::LookupGate,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("base", &self.inner.base)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    pub fn new(config: UpstreamConfig) -> Result<Self, UpstreamConfigError> {
        let base = BaseUrl::parse(&config.base_url)?;
        HeaderValue::from_bytes(config.api_key.expose())
            .map_err(|_| UpstreamConfigError::KeyHeader)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls::tls_config(config.ca_file.as_deref())?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Ok(Self {
            inner: Arc::new(Inner {
                connector,
                clients: ThreadLocal::new(),
                base,
                timeout: config.timeout,
                api_key: RwLock::new(config.api_key),
                key_file: config.key_file,
                metrics: config.metrics,
                lookups: limits::LookupGate::new(config.lookups),
            }),
        })
    }

    /// This thread's client, made on its first call.
    fn client(&self) -> &UpstreamClient {
        self.inner.clients.get_or(|| {
            Client::builder(TokioExecutor::new())
                .timer(TokioTimer::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(Duration::from_secs(90))
                // Forwarded requests share the pool with lookups: keep as many idle as were
                // busy at the peak (up to the default client connection cap), or every request
                // above the bound would open a new upstream connection and close it after one
                // answer.
                .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
                .build(self.inner.connector.clone())
        })
    }

    pub fn base(&self) -> &BaseUrl {
        &self.inner.base
    }

    /// The lookup bounds this client was built with.
    pub fn lookup_limits(&self) -> LookupLimits {
        self.inner.lookups.limits()
    }

    /// The sidecar's own API key as a header value, marked sensitive so it never prints.
    fn api_key_header(&self) -> Option<HeaderValue> {
        let mut value = HeaderValue::from_bytes(self.inner.api_key.read().expose()).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// Sends a request to `path_and_query` under the base URL with the sidecar's API key in
    /// place of any the caller had. Resolves when the response head arrives (bounded by the
    /// timeout); the body is left for the caller to stream.
    pub async fn forward(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Body,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let deadline = Instant::now() + self.inner.timeout;
        self.forward_until(method, path_and_query, headers, body, deadline)
            .await
    }

    /// How long a call may wait for the upstream's answer (`--upstream-timeout`).
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// [`Upstream::forward`], waiting for the response head until `deadline`. A failure to
    /// connect is [`UpstreamError::Unreachable`] (the request was not sent); any other
    /// transport failure is [`UpstreamError::Lost`], as the request may have reached the
    /// upstream.
    pub async fn forward_until(
        &self,
        method: Method,
        path_and_query: &str,
        mut headers: HeaderMap,
        body: Body,
        deadline: Instant,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let uri = self
            .inner
            .base
            .join(path_and_query)
            .map_err(|err| UpstreamError::Unreachable(err.to_string()))?;
        headers.remove(header::HOST);
        headers.remove(API_KEY_HEADER);
        if let Some(key) = self.api_key_header() {
            headers.insert(API_KEY_HEADER, key);
        }
        let route = route_label(uri.path());
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let started = Instant::now();
        let answer = tokio::time::timeout_at(deadline, self.client().request(request)).await;
        let status = match &answer {
            Ok(Ok(response)) => Some(response.status().as_u16()),
            _ => None,
        };
        self.inner
            .metrics
            .upstream_request(route, status, started.elapsed());
        match answer {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(Err(err)) => {
                debug!(error = %err, connect = err.is_connect(), "Upstream request failed");
                let reason = error::transport_reason(&err);
                if err.is_connect() {
                    Err(UpstreamError::Unreachable(reason))
                } else {
                    Err(UpstreamError::Lost(reason))
                }
            }
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// Like [`Upstream::forward`], for a body the sidecar holds in memory: on a 401 the key
    /// file is re-read and, if its key differs from the one the request went with, the request
    /// is sent once more (a 401 means the upstream did not process it). Otherwise the 401 is
    /// handed back as it came.
    pub async fn forward_buffered(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let deadline = Instant::now() + self.inner.timeout;
        self.forward_buffered_until(method, path_and_query, headers, body, deadline)
            .await
    }

    /// [`Upstream::forward_buffered`] with every send bounded by `deadline`, so that a caller
    /// that sends a request once more (a `jobs/create` whose answer was lost) stays within one
    /// `--upstream-timeout` in all.
    pub async fn forward_buffered_until(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
        deadline: Instant,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let sent_with = self.current_key();
        let response = self
            .forward_until(
                method.clone(),
                path_and_query,
                headers.clone(),
                full(body.clone()),
                deadline,
            )
            .await?;
        if response.status() != StatusCode::UNAUTHORIZED || self.inner.key_file.is_none() {
            return Ok(response);
        }
        match self.reload_key().await {
            Ok(changed) => info!(changed, "API key file re-read after an upstream 401"),
            Err(err) => warn!(error = %err, "API key file could not be re-read"),
        }
        if self.current_key() == sent_with {
            return Ok(response);
        }
        drop(response);
        info!("Sending the request once more with the new API key");
        self.forward_until(method, path_and_query, headers, full(body), deadline)
            .await
    }
}

#[cfg(test)]
mod tests;

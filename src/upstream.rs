//! The sidecar's client for the upstream Libretto API.
//!
//! One pooled hyper-util client over hyper-rustls serves every upstream call: plain `http` for
//! local upstreams (the mock, tests) and `https` with HTTP/1.1 or HTTP/2 chosen by ALPN for
//! the real service. The base URL may carry a path prefix, which is put in front of every
//! forwarded path. Two operations live here: [`Upstream::get_credential`], the one lookup the
//! sidecar makes on its own behalf (bounded in time and size, its answer parsed into a typed
//! result), and [`Upstream::forward`], which sends a prepared request and hands back the
//! response head as soon as it arrives so the body can be streamed on.
//!
//! The lookup is a read, so it is retried a few times with jittered backoff on transport
//! errors and 5xx answers, all within `--upstream-timeout`; forwarded requests (writes among
//! them) are sent exactly once. The API key sits behind a lock and is read per request, so it
//! can be swapped at run time without touching requests in flight or the connection pool. The
//! key file is read again (without blocking the runtime) when its content changes (polled, so
//! a Kubernetes Secret update is picked up where no signal can be sent), on SIGHUP, and on an
//! upstream 401. A 401 means the upstream did not process the request, so a request whose body
//! the sidecar holds in memory is sent once more when the re-read key differs from the one it
//! was sent with; a streamed body cannot be replayed and its 401 is passed on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parking_lot::RwLock;
use rustls::pki_types::pem::PemObject;
use serde_json::json;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::base_url::BaseUrl;
use crate::body::{full, Body};
use crate::credential_answer::{is_not_found_envelope, parse_credential, FetchedCredential};
use crate::metrics::{route_label, Metrics};
use crate::secret::{extend_zeroizing, Secret};

/// The header the upstream reads the tenant's API key from.
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

/// The header carrying the request id, passed upstream and back to the client.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The largest `credentials/get` answer read; a credential is a small JSON document.
const LOOKUP_BODY_LIMIT: usize = 4 << 20;

/// Most `credentials/get` attempts for one lookup (the first try and its retries).
pub const LOOKUP_ATTEMPTS: u32 = 4;

/// How often the API key file is checked for a new key.
pub const KEY_FILE_POLL: Duration = Duration::from_secs(5);

/// The pause between lookup attempts.
const LOOKUP_BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));

/// Why the upstream base URL or key cannot be used; reported once at start-up.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamConfigError {
    #[error("the upstream URL `{0}` is not a valid http or https URL")]
    Url(String),
    #[error("the upstream URL `{0}` must not carry a query or fragment")]
    UrlQuery(String),
    #[error("the API key contains characters that cannot be sent in an HTTP header")]
    KeyHeader,
    #[error("TLS could not be set up: {0}")]
    Tls(String),
    #[error("the CA file {path} could not be used: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error(
        "the upstream URL `{0}` carries a user name or password: give the API key in the \
         LIBRETTO_API_KEY variable or with --api-key-file instead, and drop it from the URL"
    )]
    UserInfo(String),
}

/// Why an upstream call failed. Cloneable because one failed lookup answers every request
/// that waited on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No connection, a reset, or a protocol error; the text is the transport's own.
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    /// No answer within `--upstream-timeout`.
    #[error("upstream timed out")]
    Timeout,
    /// An answer with a status the sidecar cannot use (5xx, 401, ...).
    #[error("upstream answered with status {0}")]
    Status(u16),
    /// A success status with a body that is not the documented shape.
    #[error("upstream answer could not be read")]
    Unreadable,
}

/// Why the API key file could not be re-read; the key in use stays as it was.
#[derive(Debug, thiserror::Error)]
pub enum KeyReloadError {
    #[error("no API key file was given, so there is nothing to re-read")]
    NoFile,
    #[error("the API key file {path} could not be read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the API key file {0} is empty")]
    Empty(PathBuf),
    #[error("the API key in {0} contains characters that cannot be sent in an HTTP header")]
    Header(PathBuf),
}

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
}

/// The TLS client settings: the public (webpki) roots, plus the certificates of `ca_file` when
/// one is given. A file that cannot be read, holds no certificate or a malformed one stops the
/// start-up rather than failing every call later.
fn tls_config(
    ca_file: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig, UpstreamConfigError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let ca_error = |reason: String| UpstreamConfigError::CaFile {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|err| ca_error(err.to_string()))?;
        let mut added = 0;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert =
                cert.map_err(|err| ca_error(format!("not a PEM certificate file ({err})")))?;
            roots
                .add(cert)
                .map_err(|err| ca_error(format!("a certificate was refused ({err})")))?;
            added += 1;
        }
        if added == 0 {
            return Err(ca_error("it holds no PEM certificate".to_owned()));
        }
        debug!(
            certificates = added,
            "Extra CA certificates trusted for the upstream"
        );
    }
    rustls::ClientConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
        .with_safe_default_protocol_versions()
        .map_err(|err| UpstreamConfigError::Tls(err.to_string()))
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
}

/// The upstream client. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    base: BaseUrl,
    timeout: Duration,
    /// Read per request, so a rotation never disturbs a request in flight.
    api_key: RwLock<Secret>,
    key_file: Option<PathBuf>,
    metrics: Metrics,
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
            .with_tls_config(tls_config(config.ca_file.as_deref())?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                base,
                timeout: config.timeout,
                api_key: RwLock::new(config.api_key),
                key_file: config.key_file,
                metrics: config.metrics,
            }),
        })
    }

    /// Re-reads the API key file and uses its key from the next request on. `Ok(true)` when
    /// the key changed. On any error the key in use is kept. The file is read without
    /// blocking the runtime.
    pub async fn reload_key(&self) -> Result<bool, KeyReloadError> {
        let path = self.inner.key_file.as_ref().ok_or(KeyReloadError::NoFile)?;
        let key = read_key_file(path).await?;
        let mut current = self.inner.api_key.write();
        let changed = *current != key;
        *current = key;
        Ok(changed)
    }

    /// Checks the API key file every `every` and swaps the key in when the file's content
    /// changed (content, not modification time: a Kubernetes Secret volume swaps a symlink).
    /// `None` when the key did not come from a file.
    pub fn spawn_key_watch(&self, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        self.inner.key_file.as_ref()?;
        let upstream = self.clone();
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            // Warn once when the file turns unreadable, not on every tick.
            let mut failing = false;
            loop {
                ticks.tick().await;
                match upstream.reload_key().await {
                    Ok(changed) => {
                        failing = false;
                        if changed {
                            info!("API key file changed; using the new key");
                        }
                    }
                    Err(err) if !failing => {
                        failing = true;
                        warn!(error = %err, "API key file could not be checked; keeping the current key");
                    }
                    Err(err) => debug!(error = %err, "API key file still unreadable"),
                }
            }
        }))
    }

    /// The key in use, to tell later whether it changed.
    fn current_key(&self) -> Secret {
        self.inner.api_key.read().clone()
    }

    pub fn base(&self) -> &BaseUrl {
        &self.inner.base
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
        mut headers: HeaderMap,
        body: Body,
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
        let answer =
            tokio::time::timeout(self.inner.timeout, self.inner.client.request(request)).await;
        self.inner
            .metrics
            .upstream_duration(route, started.elapsed());
        match answer {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(Err(err)) => {
                debug!(error = %err, connect = err.is_connect(), "Upstream request failed");
                Err(UpstreamError::Unreachable(transport_reason(&err)))
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
        let sent_with = self.current_key();
        let response = self
            .forward(
                method.clone(),
                path_and_query,
                headers.clone(),
                full(body.clone()),
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
        self.forward(method, path_and_query, headers, full(body))
            .await
    }

    /// Looks a credential up by name with `credentials/get`. `Ok(None)` means the upstream
    /// answered 404 with its `NOT_FOUND` envelope: there is no credential of that name.
    ///
    /// Transport errors and 5xx answers are retried (at most [`LOOKUP_ATTEMPTS`] tries, with
    /// jittered backoff), and a 401 re-reads the key file and tries once more; all of it within
    /// `--upstream-timeout`.
    pub async fn get_credential(
        &self,
        name: &str,
        request_id: Option<&HeaderValue>,
    ) -> Result<Option<FetchedCredential>, UpstreamError> {
        let deadline = Instant::now() + self.inner.timeout;
        let attempts = async {
            let mut attempt = 0;
            let mut reloaded = false;
            loop {
                let err = match self.lookup_once(name, request_id).await {
                    Err(err) => err,
                    done => return done,
                };
                if err == UpstreamError::Status(401) && !reloaded && self.inner.key_file.is_some() {
                    reloaded = true;
                    match self.reload_key().await {
                        Ok(changed) => info!(changed, "API key file re-read after an upstream 401"),
                        Err(reload) => warn!(error = %reload, "API key file could not be re-read"),
                    }
                    continue;
                }
                attempt += 1;
                let delay = LOOKUP_BACKOFF.delay(attempt - 1);
                if !is_retryable(&err)
                    || attempt >= LOOKUP_ATTEMPTS
                    || Instant::now() + delay >= deadline
                {
                    return Err(err);
                }
                debug!(credential = name, attempt, error = %err, "Retrying the credential lookup");
                tokio::time::sleep(delay).await;
            }
        };
        tokio::time::timeout_at(deadline, attempts)
            .await
            .map_err(|_| UpstreamError::Timeout)?
    }

    /// One `credentials/get` call.
    async fn lookup_once(
        &self,
        name: &str,
        request_id: Option<&HeaderValue>,
    ) -> Result<Option<FetchedCredential>, UpstreamError> {
        let body = serde_json::to_vec(&json!({ "json": { "name": name } }))
            .map_err(|_| UpstreamError::Unreadable)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(id) = request_id {
            headers.insert(REQUEST_ID_HEADER, id.clone());
        }
        let call = async {
            let response = self
                .forward(
                    Method::POST,
                    "/v1/credentials/get",
                    headers,
                    full(Bytes::from(body)),
                )
                .await?;
            let status = response.status();
            let bytes = read_secret_body(response.into_body()).await?;
            Ok::<_, UpstreamError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.inner.timeout, call)
            .await
            .map_err(|_| UpstreamError::Timeout)??;
        match status {
            StatusCode::OK => parse_credential(&bytes).map(Some),
            StatusCode::NOT_FOUND if is_not_found_envelope(&bytes) => Ok(None),
            other => Err(UpstreamError::Status(other.as_u16())),
        }
    }
}

/// Reads a `credentials/get` answer, which holds a credential value in plain text, into a
/// buffer wiped on drop, up to [`LOOKUP_BODY_LIMIT`]. Each chunk the HTTP client hands over is
/// wiped too once copied, when nothing else shares it (the client's own read buffers are out
/// of reach).
async fn read_secret_body(
    mut body: Incoming,
) -> Result<zeroize::Zeroizing<Vec<u8>>, UpstreamError> {
    use hyper::body::Body as _;
    let expected = body.size_hint().lower().min(LOOKUP_BODY_LIMIT as u64);
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(
        usize::try_from(expected).unwrap_or(0).max(1024),
    ));
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame.map_err(|_| UpstreamError::Unreadable)?.into_data() else {
            continue;
        };
        if bytes.len() + chunk.len() > LOOKUP_BODY_LIMIT {
            return Err(UpstreamError::Unreadable);
        }
        extend_zeroizing(&mut bytes, &chunk);
        if let Ok(mut owned) = chunk.try_into_mut() {
            zeroize::Zeroize::zeroize(&mut owned[..]);
        }
    }
    Ok(bytes)
}

/// Reads an API key file without blocking the runtime: one trailing newline trimmed, not
/// empty, and sendable as a header value.
async fn read_key_file(path: &std::path::Path) -> Result<Secret, KeyReloadError> {
    let read = tokio::fs::read(path)
        .await
        .map_err(|source| KeyReloadError::Read {
            path: path.to_owned(),
            source,
        })?;
    let mut bytes = zeroize::Zeroizing::new(read);
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    let key = Secret::new(bytes.as_slice());
    if key.is_empty() {
        return Err(KeyReloadError::Empty(path.to_owned()));
    }
    HeaderValue::from_bytes(key.expose()).map_err(|_| KeyReloadError::Header(path.to_owned()))?;
    Ok(key)
}

/// Whether a failed lookup may succeed if sent again: a transport failure or a 5xx answer.
/// A 4xx (a wrong key, a forbidden read) or an unreadable answer will not get better.
pub fn is_retryable(err: &UpstreamError) -> bool {
    match err {
        UpstreamError::Unreachable(_) | UpstreamError::Timeout => true,
        UpstreamError::Status(status) => *status >= 500,
        UpstreamError::Unreadable => false,
    }
}

/// A short, secret-free description of a transport failure, for logs.
fn transport_reason(err: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transport_errors_and_5xx_are_retried() {
        assert!(is_retryable(&UpstreamError::Unreachable("reset".into())));
        assert!(is_retryable(&UpstreamError::Timeout));
        assert!(is_retryable(&UpstreamError::Status(500)));
        assert!(is_retryable(&UpstreamError::Status(503)));
        for status in [400, 401, 403, 404, 429] {
            assert!(!is_retryable(&UpstreamError::Status(status)), "{status}");
        }
        assert!(!is_retryable(&UpstreamError::Unreadable));
    }

    #[tokio::test]
    async fn the_key_is_swapped_on_reload_and_kept_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "first\n").unwrap();
        let upstream = Upstream::new(UpstreamConfig {
            base_url: "http://127.0.0.1:9".into(),
            timeout: Duration::from_secs(1),
            api_key: Secret::new("first"),
            key_file: Some(path.clone()),
            metrics: Metrics::new(),
            ca_file: None,
        })
        .unwrap();
        assert!(!upstream.reload_key().await.unwrap(), "same key");
        std::fs::write(&path, "second").unwrap();
        assert!(upstream.reload_key().await.unwrap());
        assert_eq!(upstream.api_key_header().unwrap(), "second");
        std::fs::write(&path, "").unwrap();
        assert!(matches!(
            upstream.reload_key().await,
            Err(KeyReloadError::Empty(_))
        ));
        std::fs::write(&path, "bad\u{1}key").unwrap();
        assert!(matches!(
            upstream.reload_key().await,
            Err(KeyReloadError::Header(_))
        ));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            upstream.reload_key().await,
            Err(KeyReloadError::Read { .. })
        ));
        assert_eq!(upstream.api_key_header().unwrap(), "second", "kept");
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        for path in [missing, empty, broken] {
            let err = tls_config(Some(&path)).unwrap_err();
            assert!(matches!(err, UpstreamConfigError::CaFile { .. }), "{err}");
            assert!(err.to_string().contains("CA file"), "{err}");
        }
        assert!(tls_config(None).is_ok());
    }

    #[test]
    fn debug_hides_the_value() {
        let fetched = parse_credential(br#"{"json":{"id":"c1","value":"hunter2"}}"#).unwrap();
        assert!(!format!("{fetched:?}").contains("hunter2"));
    }
}

//! `credentials/get`: the one call the sidecar makes on its own behalf, bounded in time and
//! size, run under the lookup semaphore, retried with jittered backoff on transport errors and
//! 5xx answers (and after the `Retry-After` of a 429 or 503) while the shared retry budget
//! allows, its answer read into a buffer wiped on drop and parsed into a typed result.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::json;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::credential_answer::{is_not_found_envelope, parse_credential, FetchedCredential};
use super::error::{is_retryable, UpstreamError};
use super::Upstream;
use crate::http::body::full;
use crate::http::headers::REQUEST_ID_HEADER;
use crate::runtime::backoff::Backoff;
use crate::secret::extend_zeroizing;

/// The largest `credentials/get` answer read; a credential is a small JSON document.
const LOOKUP_BODY_LIMIT: usize = 4 << 20;

/// Most `credentials/get` attempts for one lookup (the first try and its retries).
pub const LOOKUP_ATTEMPTS: u32 = 4;

/// The pause between lookup attempts.
const LOOKUP_BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));

impl Upstream {
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
        let gate = &self.inner.lookups;
        gate.budget().deposit();
        let attempts = async {
            let mut attempt = 0;
            let mut reloaded = false;
            loop {
                let failed = {
                    let _slot = gate.slot().await;
                    match self.lookup_once(name, request_id).await {
                        Err(failed) => failed,
                        Ok(done) => return Ok(done),
                    }
                };
                let err = failed.error;
                if err == UpstreamError::Status(401) && !reloaded && self.inner.key_file.is_some() {
                    reloaded = true;
                    match self.reload_key().await {
                        Ok(changed) => info!(changed, "API key file re-read after an upstream 401"),
                        Err(reload) => warn!(error = %reload, "API key file could not be re-read"),
                    }
                    continue;
                }
                attempt += 1;
                let Some(delay) = retry_delay(&err, failed.retry_after, attempt) else {
                    return Err(err);
                };
                if attempt >= LOOKUP_ATTEMPTS || Instant::now() + delay >= deadline {
                    return Err(err);
                }
                if !gate.budget().withdraw() {
                    debug!(
                        credential = name,
                        "Retry budget spent: the lookup is not retried"
                    );
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
    ) -> Result<Option<FetchedCredential>, Failed> {
        let body = serde_json::to_vec(&json!({ "json": { "name": name } }))
            .map_err(|_| Failed::from(UpstreamError::Unreadable))?;
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
            let retry_after = retry_after(response.headers());
            let bytes = read_secret_body(response.into_body()).await?;
            Ok::<_, UpstreamError>((status, retry_after, bytes))
        };
        let (status, retry_after, bytes) = tokio::time::timeout(self.inner.timeout, call)
            .await
            .map_err(|_| UpstreamError::Timeout)??;
        match status {
            StatusCode::OK => Ok(Some(parse_credential(&bytes)?)),
            StatusCode::NOT_FOUND if is_not_found_envelope(&bytes) => Ok(None),
            other => Err(Failed {
                error: UpstreamError::Status(other.as_u16()),
                retry_after,
            }),
        }
    }
}

/// A failed attempt, with the pause the upstream asked for (`Retry-After`), if any.
struct Failed {
    error: UpstreamError,
    retry_after: Option<Duration>,
}

impl From<UpstreamError> for Failed {
    fn from(error: UpstreamError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

/// How long to wait before attempt `attempt + 1`, or `None` when the failure is not retried.
/// A 429 or 503 with `Retry-After` waits what the upstream asked for (the caller gives up
/// when that runs past the deadline); a 429 without it is not retried; other transport
/// failures and 5xx answers back off with jitter.
fn retry_delay(
    err: &UpstreamError,
    retry_after: Option<Duration>,
    attempt: u32,
) -> Option<Duration> {
    match (err, retry_after) {
        (UpstreamError::Status(429 | 503), Some(asked)) => Some(asked),
        (UpstreamError::Status(429), None) => None,
        (err, _) if is_retryable(err) => Some(LOOKUP_BACKOFF.delay(attempt - 1)),
        _ => None,
    }
}

/// The pause a `Retry-After` header asks for: delay-seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
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

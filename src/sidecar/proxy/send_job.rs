//! Sending a rewritten job or schedule upstream and reading its answer, with what a lost
//! answer means made explicit.
//!
//! A `jobs/create` that failed in transport either never left (the connection could not be
//! made: `outcome: "not_sent"`) or may have launched the job (the connection was reset or
//! closed after the request was written, no answer came in time, its body was cut off:
//! `outcome: "unknown"`). The upstream launches a given `nonce` once, so when the app sent one
//! (`json.nonce`) the sidecar sends the job once more itself, within what is left of
//! `--upstream-timeout`, and only then answers; without a nonce it never does, as a second
//! send could launch the job twice.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use serde_json::Value;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Proxy, RequestStats};
use crate::http::body::Body;
use crate::placeholders::pointer;
use crate::sidecar::answer::withhold::Watched;
use crate::sidecar::answer::Treatment;
use crate::sidecar::error::{JobOutcome, SidecarError};

/// One request to send: where, with what, and what its answer may echo.
pub(super) struct Outgoing<'a> {
    pub(super) method: Method,
    pub(super) path_and_query: &'a str,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    /// How its answer is treated: checked, with what it may echo.
    pub(super) treatment: Treatment,
    /// A value filled in was served from an expired cache entry (counted once it is sent).
    pub(super) stale: AtomicBool,
    /// A `jobs/create`: its transport failures carry an outcome, and a nonce allows a retry.
    pub(super) job: bool,
}

impl Proxy {
    /// Sends the request and runs its answer through the answer step; returns the answer and,
    /// for a created job, its id.
    pub(super) async fn send_job(
        &self,
        send: Outgoing<'_>,
        stats: &mut RequestStats,
    ) -> Result<(Response<Body>, Option<String>), SidecarError> {
        let deadline = Instant::now() + self.upstream().timeout();
        let first = self.send_once(&send, deadline, stats).await;
        if !send.job {
            return first;
        }
        let source = match first {
            Err(SidecarError::Upstream { source, .. }) if JobOutcome::of(&source).is_some() => {
                source
            }
            other => return other,
        };
        let nonce = has_nonce(&send.body);
        if JobOutcome::of(&source) == Some(JobOutcome::NotSent) {
            return Err(SidecarError::JobUnsettled {
                source,
                nonce,
                retried: false,
            });
        }
        if !nonce || Instant::now() >= deadline {
            warn!(nonce, "The answer to a job was lost; not retried");
            return Err(SidecarError::JobUnsettled {
                source,
                nonce,
                retried: false,
            });
        }
        info!("The answer to a job was lost; sending it once more with its nonce");
        match self.send_once(&send, deadline, stats).await {
            // Whatever the second send met, the first one may have launched the job.
            Err(SidecarError::Upstream { source, .. }) if JobOutcome::of(&source).is_some() => {
                Err(SidecarError::JobUnsettled {
                    source,
                    nonce,
                    retried: true,
                })
            }
            other => other,
        }
    }

    async fn send_once(
        &self,
        send: &Outgoing<'_>,
        deadline: Instant,
        stats: &mut RequestStats,
    ) -> Result<(Response<Body>, Option<String>), SidecarError> {
        let response = self
            .upstream()
            .forward_buffered_until(
                send.method.clone(),
                send.path_and_query,
                send.headers.clone(),
                send.body.clone(),
                deadline,
            )
            .await
            .map_err(SidecarError::forward)?;
        if send.stale.swap(false, Ordering::Relaxed) {
            // Counted once, when the expired value has first reached the upstream.
            self.inner.metrics.stale_serve();
        }
        self.answer(response, &send.treatment, Watched::None, stats)
            .await
    }
}

/// Whether the body carries a nonce the upstream dedupes by: a non-empty string at
/// `json.nonce`.
fn has_nonce(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|body| {
        pointer::get(&body, "/json/nonce")
            .and_then(Value::as_str)
            .is_some_and(|nonce| !nonce.is_empty())
    })
}

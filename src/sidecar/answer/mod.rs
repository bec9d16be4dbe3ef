//! What happens to an upstream answer on its way back to the app: echoes restored, secrets
//! scrubbed.
//!
//! Upstream stores a job's `params` with the real values and echoes them (`jobs/get`,
//! `jobs/list`, `jobs/debugReport`), and a workflow may print them into its logs. So every JSON
//! answer (content type `application/json` or `*+json`) is read whole, bounded by
//! [`ANSWER_LIMIT`], and parsed; for a job this sidecar launched, the `params` get the app's own
//! text back; then every string is scrubbed of every secret value the sidecar knows; and the
//! checked value is serialized again, with a fresh `Content-Length` (never the original bytes,
//! which may hold what the parser dropped, such as a duplicate key). The one exception is an
//! answer whose bytes hold no escape and no known secret and which echoes no job launched here
//! (the usual `jobs/create` answer, and echoes of other jobs): it is sent as it came, the ids
//! it names read by a borrowing parse (see [`plain`]). A JSON answer that cannot
//! be checked (larger than the limit, compressed, unreadable) is refused with 502 rather than
//! passed on unchecked. Every other textual answer (text, HTML, XML, NDJSON, an event stream,
//! or no content type at all) is scrubbed as it streams (see [`crate::sidecar::answer::scrub_stream`]), without
//! its `Content-Length`; a compressed one is refused with 502 too. Binary answers (images,
//! archives, `application/octet-stream`, ...) are streamed through untouched.
//!
//! `jobs/create` answers teach the job memory: the job id upstream gave, and what was filled
//! where. A `credentials/get` that `--allow-credential-reads` let through is passed verbatim:
//! its value is what the app asked to read.

pub mod job_memory;
pub mod known_secrets;
mod plain;
pub mod scrub;
pub(crate) mod scrub_stream;
pub(crate) mod segment;
pub(crate) mod withhold;

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use tracing::warn;

use crate::http::body::{full, Body};
use crate::http::headers::{is_binary, is_json, non_identity_encoding, strip_hop_by_hop};
use crate::placeholders::pointer;
use crate::sidecar::answer::job_memory::{JobMemory, Launched};
use crate::sidecar::answer::known_secrets::KnownSecrets;
use crate::sidecar::answer::scrub::{Scrubber, REDACTED};
use crate::sidecar::answer::scrub_stream::ScrubbedBody;
use crate::sidecar::answer::withhold::{may_pass, Learning, Watched};
use crate::sidecar::error::SidecarError;
use crate::sidecar::upstream::UpstreamError;

/// The largest JSON answer checked. Far above any job, log page or report upstream sends; a
/// larger JSON answer is refused with 502 instead of being passed on unscrubbed.
pub const ANSWER_LIMIT: usize = 16 << 20;

/// Which echo of a job's params an answer may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Echo {
    /// No job echo is expected (still scrubbed).
    None,
    /// The answer to a `jobs/create` launched here: remember what the app sent.
    JobCreated(Launched),
    /// `jobs/get`: `json.params`.
    JobGet,
    /// `jobs/list`: `json.jobs[].params`.
    JobList,
    /// `jobs/debugReport`: `json.job_params`.
    DebugReport,
}

/// How an answer is treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Treatment {
    /// Passed as upstream sent it (an allowed credential read).
    Verbatim,
    /// Checked: echoes restored, secrets scrubbed.
    Clean(Echo),
}

/// An answer ready for the client, and what was done to it.
pub struct Finished {
    pub response: Response<Body>,
    /// The job id of a `jobs/create` answer.
    pub job_id: Option<String>,
    /// Places given back their placeholder text.
    pub restored: usize,
    /// Strings in which a secret was replaced.
    pub redacted: usize,
}

/// The answer step: the known secrets, the job memory and the limits. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Answers {
    pub known: KnownSecrets,
    pub jobs: JobMemory,
    /// Largest JSON answer read.
    pub limit: usize,
    /// How long reading a JSON answer's body may take.
    pub read_timeout: Duration,
    /// Whether the first learning pass after start-up has finished; until then echoes of jobs
    /// the job memory does not know are withheld (see [`withhold`]).
    pub learning: Learning,
}

impl Default for Answers {
    fn default() -> Self {
        Self {
            known: KnownSecrets::new(),
            jobs: JobMemory::default(),
            limit: ANSWER_LIMIT,
            read_timeout: Duration::from_secs(30),
            learning: Learning::default(),
        }
    }
}

/// The result of cleaning one JSON body.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// The body to send instead of the original (always, once the answer parsed), or `None`
    /// when the original may be sent (empty, or text without a secret).
    pub body: Option<Bytes>,
    pub job_id: Option<String>,
    pub restored: usize,
    pub redacted: usize,
}

impl Answers {
    /// Treats an upstream answer and hands back what the client gets.
    pub async fn finish(
        &self,
        response: Response<Incoming>,
        treatment: &Treatment,
    ) -> Result<Finished, SidecarError> {
        self.finish_watched(response, treatment, Watched::None)
            .await
    }

    /// [`Answers::finish`] for an answer on an echo route (`watched`): while learning is
    /// incomplete, a successful answer about a job the job memory does not know is refused
    /// with [`SidecarError::NotReady`].
    pub async fn finish_watched(
        &self,
        response: Response<Incoming>,
        treatment: &Treatment,
        watched: Watched,
    ) -> Result<Finished, SidecarError> {
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let headers_redacted = scrub_headers(&mut parts.headers, &self.known.scrubber());
        let streamed = |parts, body: Incoming| Finished {
            response: Response::from_parts(parts, body.map_err(Into::into).boxed()),
            job_id: None,
            restored: 0,
            redacted: headers_redacted,
        };
        let Treatment::Clean(echo) = treatment else {
            return Ok(streamed(parts, body));
        };
        let withholding =
            watched != Watched::None && parts.status.is_success() && !self.learning.is_complete();
        let json = is_json(&parts.headers);
        if withholding && !json {
            return Err(SidecarError::NotReady);
        }
        if !json && is_binary(&parts.headers) {
            return Ok(streamed(parts, body));
        }
        if non_identity_encoding(&parts.headers).is_some() {
            return Err(SidecarError::AnswerUnchecked { reason: "encoded" });
        }
        if !json {
            // Scrubbing changes the length; hyper sends the answer chunked instead.
            parts.headers.remove(header::CONTENT_LENGTH);
            let scrubbed = ScrubbedBody::new(body, self.known.scrubber());
            return Ok(Finished {
                response: Response::from_parts(parts, scrubbed.boxed()),
                job_id: None,
                restored: 0,
                redacted: headers_redacted,
            });
        }
        let read = Limited::new(body, self.limit).collect();
        let bytes = match tokio::time::timeout(self.read_timeout, read).await {
            Err(_) => return Err(SidecarError::forward(UpstreamError::Timeout)),
            Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(SidecarError::AnswerUnchecked {
                    reason: "too_large",
                })
            }
            // The answer was cut off (a reset, a short body): what the upstream did is unknown.
            Ok(Err(_)) => {
                return Err(SidecarError::forward(UpstreamError::Lost(
                    "answer body cut off".into(),
                )))
            }
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        let success = parts.status.is_success();
        // Checked after the whole answer is read: the first pass may have ended meanwhile.
        if withholding && !self.learning.is_complete() && !may_pass(&bytes, watched, &self.jobs) {
            return Err(SidecarError::NotReady);
        }
        let cleaned = clean(&bytes, echo, success, &self.jobs, &self.known.scrubber())?;
        let body = cleaned.body.clone().unwrap_or(bytes);
        parts.headers.remove(header::TRANSFER_ENCODING);
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        Ok(Finished {
            response: Response::from_parts(parts, full(body)),
            job_id: cleaned.job_id,
            restored: cleaned.restored,
            redacted: cleaned.redacted + headers_redacted,
        })
    }
}

/// Replaces every response header value holding a known secret (in any form the scrubber
/// matches) with [`REDACTED`], keeping the header; returns how many were replaced.
pub fn scrub_headers(headers: &mut HeaderMap, scrubber: &Scrubber) -> usize {
    if scrubber.is_empty() {
        return 0;
    }
    let mut redacted = 0;
    for (_, value) in headers.iter_mut() {
        if scrubber.is_match(value.as_bytes()) {
            *value = HeaderValue::from_static(REDACTED);
            redacted += 1;
        }
    }
    redacted
}

/// Restores echoes and scrubs secrets in one JSON answer body. A body that does not parse is
/// scrubbed as text; one that is not even UTF-8 cannot be checked.
pub fn clean(
    bytes: &[u8],
    echo: &Echo,
    success: bool,
    jobs: &JobMemory,
    scrubber: &Scrubber,
) -> Result<Cleaned, SidecarError> {
    if bytes.is_empty() {
        return Ok(Cleaned::default());
    }
    if let Some(cleaned) = plain::clean_plain(bytes, echo, success, jobs, scrubber) {
        return Ok(cleaned);
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(bytes) else {
        let text = std::str::from_utf8(bytes).map_err(|_| SidecarError::AnswerUnchecked {
            reason: "unreadable",
        })?;
        return Ok(match scrubber.scrub_str(text) {
            Some(clean) => Cleaned {
                body: Some(Bytes::from(clean)),
                redacted: 1,
                ..Cleaned::default()
            },
            None => Cleaned::default(),
        });
    };
    let mut cleaned = Cleaned::default();
    // The pointers of params given back whole: the app's own text, kept out of the scrub (a
    // scrubbed guess of the app's would tell it the guess is right).
    let mut restored_whole: Vec<String> = Vec::new();
    if success {
        let output = value.get_mut("json");
        match (echo, output) {
            (Echo::JobCreated(filled), Some(output)) => {
                if let Some(job_id) = output.get("job_id").and_then(Value::as_str) {
                    jobs.remember(job_id, filled);
                    cleaned.job_id = Some(job_id.to_owned());
                }
            }
            (Echo::JobGet, Some(output)) => {
                cleaned.restored = restore(output, "params", jobs, "/json", &mut restored_whole);
            }
            (Echo::DebugReport, Some(output)) => {
                cleaned.restored =
                    restore(output, "job_params", jobs, "/json", &mut restored_whole);
            }
            (Echo::JobList, Some(output)) => {
                if let Some(list) = output.get_mut("jobs").and_then(Value::as_array_mut) {
                    cleaned.restored = list
                        .iter_mut()
                        .enumerate()
                        .map(|(index, job)| {
                            let at = format!("/json/jobs/{index}");
                            restore(job, "params", jobs, &at, &mut restored_whole)
                        })
                        .sum();
                }
            }
            _ => {}
        }
    }
    let kept: Vec<(String, Value)> = restored_whole
        .into_iter()
        .filter_map(|at| {
            let taken = pointer::get_mut(&mut value, &at).map(Value::take)?;
            Some((at, taken))
        })
        .collect();
    cleaned.redacted = scrubber.scrub_value(&mut value);
    for (at, params) in kept {
        if let Some(slot) = pointer::get_mut(&mut value, &at) {
            *slot = params;
        }
    }
    if cleaned.restored > 0 && cleaned.redacted > 0 {
        // The app may be probing the scrubber with text of its own in a job it launched.
        warn!(
            target: "audit",
            strings = cleaned.redacted,
            "Secret values redacted from an answer about a job launched through the sidecar"
        );
    }
    // Always the re-serialized value: the parsed value is what was checked, and the original
    // bytes may hold more (a duplicate key's first value is dropped by the parser, unchecked).
    let text = serde_json::to_vec(&value).map_err(|_| SidecarError::Serialize)?;
    cleaned.body = Some(Bytes::from(text));
    Ok(cleaned)
}

/// Puts the app's text back into `job[key]` when `job.job_id` is a job launched here; when the
/// whole object came back, its pointer (`at` is the job's) joins `whole`.
fn restore(
    job: &mut Value,
    key: &str,
    jobs: &JobMemory,
    at: &str,
    whole: &mut Vec<String>,
) -> usize {
    let Some(id) = job
        .get("job_id")
        .or_else(|| job.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return 0;
    };
    match job.get_mut(key) {
        Some(params) => {
            let restored = jobs.restore_detail(&id, params);
            if restored.whole {
                whole.push(format!("{at}/{key}"));
            }
            restored.places
        }
        None => 0,
    }
}

#[cfg(test)]
mod tests;

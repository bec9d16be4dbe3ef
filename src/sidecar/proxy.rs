//! The forwarding proxy: the sidecar's request handler.
//!
//! `jobs/create` (and, by choice, `schedules/create|update`) is read whole, bounded by
//! `--max-body`, and goes through the placeholder rewrite before it is forwarded; a failure
//! there is answered by the sidecar and nothing reaches upstream. The credential writes
//! (`credentials/create|update|upsert|delete`) are forwarded as they are and, once upstream
//! accepts them, drop the affected cache entries. These routes are recognized on the
//! normalized path (so no spelling of them slips through unread), take POST only (an oRPC GET
//! would carry its input, placeholders and all, in the query string) and refuse a compressed
//! body (which would hide its placeholders from the scan). Everything else is forwarded with
//! its method, path, query and headers minus the hop-by-hop ones (RFC 9110 §7.6.1), its body
//! streamed but held to `--max-body` as well: refused up front when its declared length is
//! over, cut (413 to the client, an aborted request upstream) when it streams past. In every case the client's `x-api-key` is replaced by the
//! sidecar's. Each request runs in one span carrying its request id, which is passed upstream
//! and returned to the client.
//!
//! A body read whole with a key named twice is refused; no body leaves with placeholder text
//! (pass-through bodies are watched as they stream, [`WatchedBody`]; the others checked whole).
//! Before any of that, the [`Guard`] checks the client token, relay headers and credential
//! reads; after it, every upstream answer goes through the [`Answers`] step (echoes restored,
//! secrets scrubbed). Every forwarded request carries the sidecar's `Via` entry (the loop
//! guard, [`guard::via`]). Each request ends with one "Request finished" line (status, duration,
//! placeholders, cache hits and misses); each credential field a job used gives one event on
//! the `audit` target (credential, field, the `params_paths` it filled, workflow, job id),
//! never a value.
//! Every request is counted in the metrics by route and status, and every refusal by its
//! error code. The bodies read whole are held in memory, so on an upstream 401 they can be
//! sent once more with a re-read key; streamed bodies cannot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response};
use http_body::Body as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::http::body::Body;
use crate::http::budget::BodyBudget;
use crate::http::headers::{non_identity_encoding, strip_hop_by_hop, REQUEST_ID_HEADER};
use crate::placeholders::outbound::holds_placeholder;
use crate::placeholders::unique_keys::check_unique_keys;
use crate::sidecar::answer::withhold::Watched;
use crate::sidecar::answer::{Answers, Echo, Treatment};
use crate::sidecar::credentials::cache::CredentialCache;
use crate::sidecar::credentials::resolve::{
    self, credential_ids_header, Resolution, Rules, Target,
};
use crate::sidecar::credentials::Credentials;
use crate::sidecar::error::SidecarError;
use crate::sidecar::guard::outbound::Watched as WatchedBody;
use crate::sidecar::guard::{self, Guard};
use crate::sidecar::metrics::Metrics;
use crate::sidecar::route::{CredentialWrite, Kind, Route};
use crate::sidecar::upstream::Upstream;

/// The header listing the credential ids a forwarded job uses (the upstream's delete guard).
pub const CREDENTIAL_IDS_HEADER: HeaderName = HeaderName::from_static("x-libretto-credential-ids");

/// The response header marking a job resolved with a credential served past its expiry.
pub const STALE_HEADER: HeaderName = HeaderName::from_static("x-libretto-sidecar-stale");

/// Settings of the proxy.
#[derive(Debug, Clone, Copy)]
pub struct ProxyConfig {
    /// Largest request body: read whole on the routes the proxy must look into, streamed and
    /// cut at it on the others.
    pub max_body: usize,
    /// Resolve placeholders in schedules at save time instead of refusing them.
    pub resolve_schedules: bool,
    /// The memory budget of every request body held at once (`--max-body-memory`), shared by
    /// all connections and streams; see [`BodyBudget`].
    pub max_body_memory: usize,
}

/// The sidecar's handler. Cheap to clone.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    credentials: Credentials,
    config: ProxyConfig,
    budget: BodyBudget,
    guard: Guard,
    answers: Answers,
    metrics: Metrics,
}

/// What one request did, for its "Request finished" line.
#[derive(Debug, Default)]
struct RequestStats {
    placeholders: usize,
    cache_hits: usize,
    cache_misses: usize,
    restored: usize,
    redacted: usize,
}

impl Proxy {
    /// A proxy with the default checks: no client token, relayed requests and credential
    /// reads refused, no policy.
    pub fn new(
        upstream: Upstream,
        cache: CredentialCache,
        config: ProxyConfig,
        metrics: Metrics,
    ) -> Self {
        Self::secured(
            upstream,
            cache,
            config,
            metrics,
            Guard::default(),
            Answers::default(),
        )
    }

    /// A proxy with the given request checks and answer step.
    pub fn secured(
        upstream: Upstream,
        cache: CredentialCache,
        config: ProxyConfig,
        metrics: Metrics,
        guard: Guard,
        answers: Answers,
    ) -> Self {
        let credentials = Credentials::new(cache, upstream, answers.known.clone());
        Self {
            inner: Arc::new(Inner {
                credentials,
                budget: BodyBudget::new(config.max_body_memory),
                config,
                guard,
                answers,
                metrics,
            }),
        }
    }

    pub fn guard(&self) -> &Guard {
        &self.inner.guard
    }

    pub fn answers(&self) -> &Answers {
        &self.inner.answers
    }

    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    pub fn upstream(&self) -> &Upstream {
        self.inner.credentials.upstream()
    }

    pub fn cache(&self) -> &CredentialCache {
        self.inner.credentials.cache()
    }

    /// The memory budget the bodies read whole are held against.
    pub fn budget(&self) -> &BodyBudget {
        &self.inner.budget
    }

    async fn route(
        &self,
        request: Request<Incoming>,
        route: &Route,
        request_id: &HeaderValue,
        stats: &mut RequestStats,
    ) -> Result<Response<Body>, SidecarError> {
        let (parts, body) = request.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        guard::strip_request_headers(&mut headers);
        headers.remove(CREDENTIAL_IDS_HEADER);
        headers.insert(REQUEST_ID_HEADER, request_id.clone());
        self.inner.guard.via.append(&mut headers, parts.version);

        let kind = route.kind();
        if kind.is_read_whole() {
            refuse_encoded(&headers)?;
        }
        match kind {
            Kind::NonCanonical => Err(SidecarError::NonCanonicalPath),
            Kind::NotPost => Err(SidecarError::MethodRefused {
                method: parts.method.to_string(),
            }),
            Kind::PassThrough | Kind::CredentialRead => {
                let treatment = if kind == Kind::CredentialRead {
                    // Only reached with --allow-credential-reads: the value is what was asked.
                    Treatment::Verbatim
                } else {
                    Treatment::Clean(route.echo())
                };
                let limit = self.inner.config.max_body;
                if body.size_hint().lower() > u64::try_from(limit).unwrap_or(u64::MAX) {
                    return Err(SidecarError::PayloadTooLarge { limit });
                }
                // A body without a declared length is cut at the limit: the upstream sees an
                // aborted request, the client a 413.
                let cut = Arc::new(AtomicBool::new(false));
                let seen = Arc::clone(&cut);
                // The chunk completing placeholder text is held back, the request aborted.
                let placeholder = Arc::new(AtomicBool::new(false));
                let limited = Limited::new(body, limit).map_err(move |err| {
                    if err.downcast_ref::<LengthLimitError>().is_some() {
                        seen.store(true, Ordering::Relaxed);
                    }
                    err
                });
                let body = WatchedBody::new(limited, Arc::clone(&placeholder)).boxed();
                let forwarded = self
                    .upstream()
                    .forward(parts.method, &path_and_query, headers, body)
                    .await;
                if placeholder.load(Ordering::Relaxed) {
                    return Err(SidecarError::PlaceholderForwarded);
                }
                let response = match forwarded {
                    Err(_) if cut.load(Ordering::Relaxed) => {
                        return Err(SidecarError::PayloadTooLarge { limit })
                    }
                    other => other.map_err(SidecarError::forward)?,
                };
                let watched = Watched::of_path(route.normalized());
                Ok(self.answer(response, &treatment, watched, stats).await?.0)
            }
            Kind::Job | Kind::Schedule => {
                let target = match kind {
                    Kind::Job => Target::Job,
                    _ if self.inner.config.resolve_schedules => Target::ScheduleResolved,
                    _ => Target::ScheduleRefused,
                };
                // Held until the request is done: the body, its parsed form, the rewrite.
                let (bytes, mut held) = self.read_body(body).await?;
                check_unique_keys(&bytes)?;
                let rules = Rules {
                    target,
                    policy: self.inner.guard.policy(),
                    max_added: self.inner.config.max_body,
                };
                let resolution =
                    resolve::resolve(bytes, rules, &self.inner.credentials, request_id).await?;
                if !resolution.rewritten && holds_placeholder(&resolution.body) {
                    // Text the scan did not see would reach the upstream unresolved.
                    return Err(SidecarError::PlaceholderForwarded);
                }
                held.grow(resolution.body.len())
                    .map_err(|_| SidecarError::BodyBudgetExhausted)?;
                stats.placeholders = resolution.uses.len();
                stats.cache_hits = resolution.cache_hits;
                stats.cache_misses = resolution.cache_misses;
                let Resolution {
                    body,
                    credential_ids,
                    workflow,
                    uses,
                    filled,
                    stale,
                    ..
                } = resolution;
                self.inner.metrics.placeholders_resolved(uses.len());
                if let Some(value) = credential_ids_header(&credential_ids)? {
                    headers.insert(CREDENTIAL_IDS_HEADER, value);
                }
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                let echo = match kind {
                    Kind::Job if !filled.is_empty() => Echo::JobCreated(filled),
                    _ => Echo::None,
                };
                let send = Outgoing {
                    method: parts.method,
                    path_and_query: &path_and_query,
                    headers,
                    body,
                    treatment: Treatment::Clean(echo),
                    stale: AtomicBool::new(stale),
                    job: kind == Kind::Job,
                };
                let answered = self.send_job(send, stats).await;
                let (status, job_id) = match &answered {
                    Ok((response, job_id)) => (Some(response.status().as_u16()), job_id.as_deref()),
                    Err(_) => (None, None),
                };
                audit(&uses, workflow.as_deref(), job_id, status);
                Ok(mark_stale(answered?.0, stale))
            }
            Kind::CredentialWrite(write) => {
                let (bytes, _held) = self.read_body(body).await?;
                check_unique_keys(&bytes)?;
                if holds_placeholder(&bytes) {
                    return Err(SidecarError::PlaceholderForwarded);
                }
                let input = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|mut body| body.get_mut("json").map(Value::take));
                self.inner
                    .guard
                    .check_credential_write(write, input.as_ref())?;
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
                let response = self
                    .upstream()
                    .forward_buffered(parts.method, &path_and_query, headers, bytes)
                    .await
                    .map_err(SidecarError::forward)?;
                if response.status().is_success() {
                    self.invalidate(write, input.as_ref()).await;
                }
                let treatment = Treatment::Clean(Echo::None);
                Ok(self
                    .answer(response, &treatment, Watched::None, stats)
                    .await?
                    .0)
            }
        }
    }

    /// Drops the cache entries a successful credential write made stale: the name written
    /// (which may be remembered as not found), and the id's old name on update and delete.
    /// A write whose input cannot be read, or an update or delete without an id, drops every
    /// entry: the sidecar cannot tell what changed.
    async fn invalidate(&self, write: CredentialWrite, input: Option<&Value>) {
        if !input.is_some_and(Value::is_object) {
            self.cache().invalidate_all();
            debug!(
                ?write,
                "Cache dropped after a credential write it could not read"
            );
            return;
        }
        let field = |key: &str| {
            input
                .and_then(|input| input.get(key))
                .and_then(Value::as_str)
        };
        if let Some(name) = field("name") {
            self.cache().invalidate_name(name).await;
        }
        if matches!(write, CredentialWrite::Update | CredentialWrite::Delete) {
            match field("id") {
                Some(id) => self.cache().invalidate_id(id).await,
                None => self.cache().invalidate_all(),
            }
        }
        debug!(?write, "Cache entries dropped after a credential write");
    }
}

impl Proxy {
    /// Runs an upstream answer through the answer step (`watched`: the echo route it is on);
    /// returns it and, for a created job, its id.
    async fn answer(
        &self,
        response: Response<Incoming>,
        treatment: &Treatment,
        watched: Watched,
        stats: &mut RequestStats,
    ) -> Result<(Response<Body>, Option<String>), SidecarError> {
        let finished = self
            .inner
            .answers
            .finish_watched(response, treatment, watched)
            .await?;
        stats.restored = finished.restored;
        stats.redacted = finished.redacted;
        if finished.redacted > 0 {
            warn!(
                strings = finished.redacted,
                "Secret values scrubbed from an upstream answer"
            );
        }
        Ok((finished.response, finished.job_id))
    }
}

/// Refuses a body the sidecar must read but could not: any `Content-Encoding` other than
/// `identity`. A compressed `jobs/create` would hide its placeholders from the scan.
fn refuse_encoded(headers: &HeaderMap) -> Result<(), SidecarError> {
    match non_identity_encoding(headers) {
        Some(encoding) => Err(SidecarError::EncodingRefused { encoding }),
        None => Ok(()),
    }
}

/// One audit event per credential field a job used: which credential and field went into which
/// workflow's job, and every place in the body it filled (`params_paths`, a JSON array of
/// pointers in document order, with their count). Never a value. A job filling one password
/// into five places is one event, not five: each line costs the request thread its formatting.
fn audit(uses: &[resolve::Use], workflow: Option<&str>, job_id: Option<&str>, status: Option<u16>) {
    let mut accesses: Vec<(&str, Option<&str>, Vec<&str>)> = Vec::new();
    for used in uses {
        let key = (used.credential.as_str(), used.field.as_deref());
        match accesses
            .iter_mut()
            .find(|(name, field, _)| (*name, *field) == key)
        {
            Some((_, _, paths)) => paths.push(&used.path),
            None => accesses.push((key.0, key.1, vec![used.path.as_str()])),
        }
    }
    for (credential, field, paths) in accesses {
        info!(
            target: "audit",
            credential = %credential,
            field,
            params_paths = %serde_json::Value::from(paths.as_slice()),
            placeholders = paths.len(),
            workflow,
            job_id,
            upstream_status = status,
            "Credential resolved"
        );
    }
}

/// Marks a response whose job used a credential served past its expiry.
fn mark_stale(mut response: Response<Body>, stale: bool) -> Response<Body> {
    if stale {
        response
            .headers_mut()
            .insert(STALE_HEADER, HeaderValue::from_static("1"));
    }
    response
}

mod handler;
mod read;
mod send_job;

use send_job::Outgoing;
#[cfg(test)]
mod tests;

//! Resolving the placeholders of one request body: the step between reading a `jobs/create`
//! body and forwarding it.
//!
//! A body without `{{` is forwarded byte for byte, never parsed. Otherwise the body is parsed
//! and scanned; every credential it names is fetched at once through the cache; the rewrite
//! plans a JSON Patch from the opened values and applies it; the result is serialized again.
//! The ids of the credentials used travel with the job so the upstream can refuse to delete a
//! credential a queued job still needs.

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::future::join_all;
use http::HeaderValue;
use serde_json::Value;
use tracing::debug;

use crate::cache::{CachedCredential, CredentialCache};
use crate::placeholder::may_contain_placeholder;
use crate::rewrite::{apply, parse_body, plan, scan, Scope};
use crate::sidecar_error::SidecarError;
use crate::upstream::Upstream;

/// Which kind of body is being resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A `jobs/create` body: placeholders in `params` are filled in.
    Job,
    /// A schedule body with `--resolve-schedules`: filled in like a job, at save time.
    ScheduleResolved,
    /// A schedule body without `--resolve-schedules`: any placeholder is refused.
    ScheduleRefused,
}

/// The body to forward and the ids of the credentials it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub body: Bytes,
    pub credential_ids: Vec<String>,
    /// How many placeholders were filled in.
    pub placeholders: usize,
    /// Whether any credential used was served past its expiry (`--stale-if-error`).
    pub stale: bool,
}

impl Resolution {
    fn unchanged(body: Bytes) -> Self {
        Self {
            body,
            credential_ids: Vec::new(),
            placeholders: 0,
            stale: false,
        }
    }
}

/// Resolves the placeholders in `bytes` for `target`.
pub async fn resolve(
    bytes: Bytes,
    target: Target,
    cache: &CredentialCache,
    upstream: &Upstream,
    request_id: &HeaderValue,
) -> Result<Resolution, SidecarError> {
    if !may_contain_placeholder(&bytes) {
        return Ok(Resolution::unchanged(bytes));
    }
    let mut body = parse_body(&bytes)?;
    let scope = match target {
        Target::Job | Target::ScheduleResolved => Scope::JobParams,
        Target::ScheduleRefused => Scope::Stored,
    };
    let scan = scan(&body, scope)?;
    if scan.is_empty() {
        return Ok(Resolution::unchanged(bytes));
    }
    let names = scan.credential_names();
    debug!(
        credentials = names.len(),
        placeholders = scan.placeholder_count(),
        "Resolving placeholders"
    );
    let found = fetch_all(&names, cache, upstream, request_id).await?;
    let stale = found.values().any(CachedCredential::is_stale);
    let mut opened: HashMap<&str, Value> = HashMap::with_capacity(found.len());
    for (name, credential) in &found {
        let value = credential
            .open()
            .map_err(|err| SidecarError::lookup(name, err))?;
        opened.insert(name.as_str(), value);
    }
    let patch = plan(&scan, &|name| opened.get(name).cloned())?;
    drop(opened);
    apply(&mut body, &patch)?;
    drop(patch);
    let rewritten = serde_json::to_vec(&body).map_err(|_| SidecarError::Serialize)?;
    // Only the credentials a placeholder actually names are reported, in name order.
    let credential_ids = names
        .iter()
        .filter_map(|name| found.get(name).map(|c| c.id().to_owned()))
        .collect();
    Ok(Resolution {
        body: Bytes::from(rewritten),
        credential_ids,
        placeholders: scan.placeholder_count(),
        stale,
    })
}

/// Fetches every named credential at once through the cache. Names the upstream does not know
/// are absent from the map; any other failure fails the whole request.
pub async fn fetch_all(
    names: &[String],
    cache: &CredentialCache,
    upstream: &Upstream,
    request_id: &HeaderValue,
) -> Result<HashMap<String, CachedCredential>, SidecarError> {
    let lookups = names.iter().map(|name| async move {
        let found = cache
            .get(name, || upstream.get_credential(name, Some(request_id)))
            .await
            .map_err(|err| SidecarError::lookup(name, err))?;
        Ok::<_, SidecarError>((name, found))
    });
    let mut found = HashMap::with_capacity(names.len());
    for result in join_all(lookups).await {
        let (name, credential) = result?;
        if let Some(credential) = credential {
            found.insert(name.clone(), credential);
        }
    }
    Ok(found)
}

//! Resolving the placeholders of one request body: the step between reading a `jobs/create`
//! body and forwarding it.
//!
//! A body without `{{` is forwarded byte for byte; it is parsed (once) only when a policy must
//! check it or it is a job whose params are remembered for its echoes. Otherwise the body is parsed
//! and scanned; every credential it names is fetched at once through the cache; the rewrite
//! plans a JSON Patch from the opened values and applies it; the result is serialized again.
//! The ids of the credentials used travel with the job so the upstream can refuse to delete a
//! credential a queued job still needs.
//!
//! A body naming more distinct credentials than `--max-credentials-per-request`, or a name
//! longer than the upstream accepts, is refused right after the scan, before any lookup.
//!
//! With a policy, the workflow and the credentials the scan found are checked before anything
//! is fetched, so a refused job costs no lookup. Every opened value is taught to the known
//! secrets (for scrubbing answers; every cache fill is learned too, through
//! [`Credentials`], so a prefetched value is scrubbed before any job uses it), and the
//! resolution reports what it filled where (for
//! putting placeholders back into echoes, and for the audit log) without holding any value.

use std::collections::HashMap;

use bytes::Bytes;
use http::HeaderValue;
use serde_json::Value;
use tracing::{debug, warn};

use crate::placeholders::grammar::may_contain_placeholder;
use crate::placeholders::pointer;
use crate::placeholders::{
    apply, is_enveloped, parse_body, plan_within, scan, RewriteError, Scope,
};
use crate::secret::WipeOnDrop;
use crate::sidecar::answer::job_memory::{Filled, Launched};
use crate::sidecar::credentials::cache::CachedCredential;
use crate::sidecar::credentials::Credentials;
use crate::sidecar::error::SidecarError;
use crate::sidecar::guard::policy::{Policy, Refusal};
use crate::sidecar::upstream::limits::MAX_CREDENTIAL_NAME_CHARS;
use crate::sidecar::upstream::LookupLimits;

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

/// One placeholder that was resolved: where, which credential, which field. Never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// JSON Pointer of the string in the body.
    pub path: String,
    pub credential: String,
    pub field: Option<String>,
}

/// The body to forward, the ids of the credentials it used, and what was filled where.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolution {
    pub body: Bytes,
    pub credential_ids: Vec<String>,
    /// The job's workflow (`/json/workflow`), when the body names one.
    pub workflow: Option<String>,
    /// Every placeholder resolved, in document order.
    pub uses: Vec<Use>,
    /// What the app sent in a job: every string filled, with the text the app had there
    /// (pointers relative to `params`), and its whole `params`.
    pub filled: Launched,
    pub cache_hits: usize,
    pub cache_misses: usize,
    /// Whether any credential used was served past its expiry (`--stale-if-error`).
    pub stale: bool,
    /// Whether `body` was serialized again from the parsed body (else it is the bytes as
    /// they came, which the proxy checks once more for placeholder text).
    pub rewritten: bool,
}

impl Resolution {
    fn unchanged(body: Bytes) -> Self {
        Self {
            body,
            ..Self::default()
        }
    }
}

/// The pointer of `/json/params`, which filled places are remembered relative to.
const PARAMS_POINTER: &str = "/json/params";

/// What a body is resolved as, and the rules it is held to.
#[derive(Clone, Copy)]
pub struct Rules<'a> {
    pub target: Target,
    /// Which workflows may use which credentials; `None` allows all.
    pub policy: Option<&'a Policy>,
    /// The most bytes the filled-in values may add to the body (`--max-body`).
    pub max_added: usize,
}

/// Resolves the placeholders in `bytes` under `rules`. The body is parsed at most once.
pub async fn resolve(
    bytes: Bytes,
    rules: Rules<'_>,
    credentials: &Credentials,
    request_id: &HeaderValue,
) -> Result<Resolution, SidecarError> {
    let Rules {
        target,
        policy,
        max_added,
    } = rules;
    let placeholders = may_contain_placeholder(&bytes);
    if !placeholders && policy.is_none() && target != Target::Job {
        return Ok(Resolution::unchanged(bytes));
    }
    // Holds the filled-in values once the patch is applied: wiped on every way out.
    let mut body = match parse_body(&bytes) {
        Ok(body) => WipeOnDrop::new(body),
        // Without placeholders, a body that is not JSON is the upstream's to refuse.
        Err(_) if !placeholders => return Ok(Resolution::unchanged(bytes)),
        Err(err) => return Err(err.into()),
    };
    if policy.is_some() {
        check_under_policy(&body, target)?;
    }
    if !placeholders {
        return Ok(unchanged(bytes, &body, target));
    }
    let scope = match target {
        Target::Job | Target::ScheduleResolved => Scope::JobParams,
        Target::ScheduleRefused => Scope::Stored,
    };
    let scan = match scan(&body, scope) {
        // Placeholders in a body without the envelope: say what is wrong with the body, not
        // that each placeholder is misplaced.
        Err(RewriteError::NotAllowed { .. })
            if scope == Scope::JobParams && !is_enveloped(&body) =>
        {
            return Err(RewriteError::NotEnveloped.into())
        }
        scanned => scanned?,
    };
    if scan.is_empty() {
        return Ok(unchanged(bytes, &body, target));
    }
    let names = scan.credential_names();
    check_names(&names, credentials.upstream().lookup_limits())?;
    let workflow = pointer::get(&body, "/json/workflow")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(policy) = policy {
        policy
            .check(
                workflow.as_deref().unwrap_or_default(),
                scan.sites()
                    .map(|(path, placeholder)| (path, placeholder.name.as_str())),
            )
            .map_err(SidecarError::NotAllowed)?;
    }
    debug!(
        credentials = names.len(),
        placeholders = scan.placeholder_count(),
        "Resolving placeholders"
    );
    let fetched = credentials.fetch_all(&names, request_id).await?;
    let stale = fetched.found.values().any(CachedCredential::is_stale);
    let mut opened: HashMap<&str, WipeOnDrop<Value>> = HashMap::with_capacity(fetched.found.len());
    for (name, credential) in &fetched.found {
        let value = credential
            .open()
            .map_err(|err| SidecarError::lookup(name, err))?;
        // A value the scrubber cannot hold is never forwarded.
        credentials
            .known()
            .learn(name, &value)
            .map_err(|err| SidecarError::unlearned(name, err))?;
        opened.insert(name.as_str(), value);
    }
    let patch = WipeOnDrop::new(plan_within(
        &scan,
        &|name| opened.get(name).map(|value| Value::clone(value)),
        max_added,
    )?);
    drop(opened);
    let uses = scan
        .sites()
        .map(|(path, placeholder)| Use {
            path: path.to_owned(),
            credential: placeholder.name.clone(),
            field: placeholder.pointer.clone(),
        })
        .collect();
    let filled = match target {
        Target::Job => Launched::new(
            filled_places(&body, &scan),
            pointer::get(&body, PARAMS_POINTER),
        ),
        _ => Launched::default(),
    };
    apply(&mut body, &patch)?;
    drop(patch);
    // The serialized body is what goes to the upstream; it is handed to the HTTP client and
    // not wiped.
    let rewritten = serde_json::to_vec(&*body).map_err(|_| SidecarError::Serialize)?;
    drop(body);
    // Only the credentials a placeholder actually names are reported, in name order.
    let credential_ids = names
        .iter()
        .filter_map(|name| fetched.found.get(name).map(|c| c.id().to_owned()))
        .collect();
    Ok(Resolution {
        body: Bytes::from(rewritten),
        credential_ids,
        workflow,
        uses,
        filled,
        cache_hits: fetched.hits,
        cache_misses: fetched.misses,
        stale,
        rewritten: true,
    })
}

/// Refuses, before any lookup, a body naming more distinct credentials than
/// `--max-credentials-per-request` or a name longer than the upstream accepts.
fn check_names(names: &[String], limits: LookupLimits) -> Result<(), SidecarError> {
    if names.len() > limits.max_per_request {
        return Err(SidecarError::TooManyCredentials {
            limit: limits.max_per_request,
            found: names.len(),
        });
    }
    if let Some(name) = names
        .iter()
        .find(|name| name.chars().count() > MAX_CREDENTIAL_NAME_CHARS)
    {
        return Err(SidecarError::NameTooLong {
            prefix: name.chars().take(32).collect(),
            limit: MAX_CREDENTIAL_NAME_CHARS,
        });
    }
    Ok(())
}

/// The `x-libretto-credential-ids` value for the ids a job used; `None` for none. An id that
/// cannot be sent in a header is an unreadable upstream answer: the job is not forwarded
/// without the header, or the upstream's delete guard would not see it.
pub fn credential_ids_header(ids: &[String]) -> Result<Option<HeaderValue>, SidecarError> {
    if ids.is_empty() {
        return Ok(None);
    }
    let list = ids.join(",");
    match HeaderValue::from_str(&list) {
        Ok(value) if ids.iter().all(|id| !id.is_empty() && !id.contains(',')) => Ok(Some(value)),
        _ => {
            warn!("A credential id from the upstream cannot be sent in a header");
            Err(SidecarError::forward(
                crate::sidecar::upstream::UpstreamError::Unreadable,
            ))
        }
    }
}

/// A body forwarded as it came; for a job, what the app sent is remembered for its echoes.
fn unchanged(bytes: Bytes, body: &Value, target: Target) -> Resolution {
    let filled = match target {
        Target::Job => Launched::new(Vec::new(), pointer::get(body, PARAMS_POINTER)),
        _ => Launched::default(),
    };
    Resolution {
        filled,
        ..Resolution::unchanged(bytes)
    }
}

/// What a loaded policy refuses whatever its rules: a job's `credential_id`, and a schedule
/// update that changes the workflow of params resolved earlier. A body that does not parse is
/// left to the usual checks.
fn check_under_policy(body: &Value, target: Target) -> Result<(), SidecarError> {
    let schedule = match target {
        Target::Job => false,
        Target::ScheduleResolved => true,
        Target::ScheduleRefused => return Ok(()),
    };
    Ok(Refusal::check_body(body, schedule)?)
}

/// The strings holding placeholders, before they are filled: pointer relative to `params`,
/// and the text the app sent. Read from the body before the patch is applied.
fn filled_places(body: &Value, scan: &crate::placeholders::Scan) -> Vec<Filled> {
    let mut filled: Vec<Filled> = Vec::new();
    for (path, _) in scan.sites() {
        if filled
            .last()
            .is_some_and(|last| path.strip_prefix(PARAMS_POINTER) == Some(last.pointer.as_str()))
        {
            continue;
        }
        let (Some(relative), Some(original)) = (
            path.strip_prefix(PARAMS_POINTER),
            pointer::get(body, path).and_then(Value::as_str),
        ) else {
            continue;
        };
        filled.push(Filled {
            pointer: relative.to_owned(),
            original: original.to_owned(),
        });
    }
    filled
}

//! Every way a request through the sidecar can fail, and the answer each one gets.
//!
//! The sidecar answers in the upstream's oRPC envelope with `defined: true`, so an app handles
//! the sidecar's refusals the way it handles the upstream's own declared errors. `data` names
//! the credential or the JSON path involved; no variant carries a credential value or a key.

use http::StatusCode;
use serde_json::{json, Value};

use crate::http::envelope::ApiError;
use crate::placeholders::RewriteError;
use crate::sidecar::answer::known_secrets::LearnError;
use crate::sidecar::credentials::cache::CacheError;
use crate::sidecar::guard::policy::{NotAllowed, Refusal};
use crate::sidecar::upstream::UpstreamError;

/// Every code the sidecar's own refusals carry (its [`SidecarError`]s, the placeholder errors
/// and the guard's checks), sorted. `docs/openapi.yaml` lists the same set as
/// `SidecarErrorCode`; tests hold the three equal.
pub const ERROR_CODES: &[&str] = &[
    "BAD_REQUEST",
    "BODY_BUDGET_EXHAUSTED",
    "BODY_TOO_COMPLEX",
    "BODY_TOO_DEEP",
    "CREDENTIAL_FIELD_NOT_FOUND",
    "CREDENTIAL_FIELD_NOT_TEXT",
    "CREDENTIAL_NOT_ALLOWED",
    "CREDENTIAL_NOT_FOUND",
    "CREDENTIAL_READ_FORBIDDEN",
    "CREDENTIAL_TOO_LARGE",
    "DUPLICATE_KEY",
    "FORBIDDEN",
    "INTERNAL_SERVER_ERROR",
    "METHOD_NOT_SUPPORTED",
    "NOT_READY",
    "PAYLOAD_TOO_LARGE",
    "PLACEHOLDER_EXPANSION_TOO_LARGE",
    "PLACEHOLDER_INVALID",
    "PLACEHOLDER_NOT_ALLOWED",
    "POLICY_REFUSED",
    "SECRET_BUDGET_EXHAUSTED",
    "TIMEOUT",
    "TOO_MANY_CREDENTIALS",
    "UNAUTHORIZED",
    "UNSUPPORTED_MEDIA_TYPE",
    "UPSTREAM_ERROR",
    "UPSTREAM_TIMEOUT",
];

/// A request the sidecar refuses or cannot complete.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SidecarError {
    /// The upstream failed while looking up `credential` (if any) or answering a forwarded call.
    #[error("upstream call failed")]
    Upstream {
        credential: Option<String>,
        source: UpstreamError,
    },
    /// A forwarded `jobs/create` failed in transport: not sent at all, or sent with its
    /// answer lost (see [`JobOutcome`]). `nonce`: the body carried one; `retried`: the sidecar
    /// sent it once more with that nonce, and that failed too.
    #[error("job launch failed in transport")]
    JobUnsettled {
        source: UpstreamError,
        nonce: bool,
        retried: bool,
    },
    /// A credential value could not be sealed or opened in the cache.
    #[error("credential cache failure")]
    Cache { credential: String },
    /// The request body is larger than `--max-body`.
    #[error("request body over the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The request body could not be read from the client.
    #[error("request body could not be read")]
    BodyUnreadable,
    /// The body memory budget (`--max-body-memory`) is held by other requests right now.
    #[error("body memory budget exhausted")]
    BodyBudgetExhausted,
    /// Parsing the body would take more memory than the whole body memory budget.
    #[error("request body too complex to parse within the body memory budget")]
    BodyTooComplex { budget: usize },
    /// The body nests arrays and objects deeper than the limit.
    #[error("request body nested too deeply")]
    BodyTooDeep { limit: usize },
    /// The request body did not arrive within [`crate::http::limited::BODY_READ_TIMEOUT`].
    #[error("request body did not arrive in time")]
    BodyTimeout,
    /// The rewritten body could not be serialized again.
    #[error("rewritten body could not be serialized")]
    Serialize,
    /// The rewrite refused the body (malformed, misplaced or unresolvable placeholder).
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
    /// The policy does not let the job's workflow use a credential it names.
    #[error(transparent)]
    NotAllowed(NotAllowed),
    /// A route the sidecar reads (jobs, schedules, credential writes) asked for with another
    /// method than POST.
    #[error("special route asked for without POST")]
    MethodRefused { method: String },
    /// A body the sidecar must read came with a `Content-Encoding` it does not decode.
    #[error("request body encoded")]
    EncodingRefused { encoding: String },
    /// A request a loaded policy cannot check (a rename, a job's `credential_id`).
    #[error(transparent)]
    PolicyRefused(#[from] Refusal),
    /// A JSON answer from upstream could not be checked for secrets (too large, encoded or
    /// unreadable), so it is not passed on.
    #[error("upstream answer could not be checked")]
    AnswerUnchecked { reason: &'static str },
    /// A credential value too large for the scrubber (`--max-secret-value-bytes`): it is not
    /// used, so no answer can carry it unscrubbed.
    #[error("credential value too large to scrub")]
    CredentialTooLarge { credential: String, limit: usize },
    /// The known secrets are full of values still echoed (`--max-known-secret-bytes`): a new
    /// value cannot be scrubbed, so it is not used.
    #[error("known secrets budget exhausted")]
    SecretBudgetExhausted { credential: String, budget: usize },
    /// An echo of a job this sidecar did not launch, asked for before the first learning pass
    /// after start-up has finished (the secrets it may hold are not known yet).
    #[error("secrets still being learned")]
    NotReady,
    /// A body naming more distinct credentials than `--max-credentials-per-request`.
    #[error("too many credentials in one request")]
    TooManyCredentials { limit: usize, found: usize },
    /// A placeholder naming a credential longer than the upstream accepts; `prefix` is the
    /// name's start.
    #[error("credential name too long")]
    NameTooLong { prefix: String, limit: usize },
    /// A body on a route the sidecar reads in which an object names a key twice.
    #[error("duplicate key")]
    DuplicateKey { path: String },
    /// A body about to be forwarded still holds placeholder text (in any spelling).
    #[error("placeholder in a forwarded body")]
    PlaceholderForwarded,
    /// A path near a Libretto route that is not in canonical form.
    #[error("non-canonical path")]
    NonCanonicalPath,
}

impl From<crate::placeholders::unique_keys::DuplicateKey> for SidecarError {
    fn from(duplicate: crate::placeholders::unique_keys::DuplicateKey) -> Self {
        Self::DuplicateKey {
            path: duplicate.path,
        }
    }
}

impl SidecarError {
    /// Wraps a failed cache lookup for `credential`.
    pub fn lookup(credential: &str, err: CacheError) -> Self {
        match err {
            CacheError::Upstream(source) => Self::Upstream {
                credential: Some(credential.to_owned()),
                source,
            },
            CacheError::Seal => Self::Cache {
                credential: credential.to_owned(),
            },
        }
    }

    /// Wraps a value the known secrets could not learn for `credential`.
    pub fn unlearned(credential: &str, err: LearnError) -> Self {
        match err {
            LearnError::TooLarge { limit, .. } => Self::CredentialTooLarge {
                credential: credential.to_owned(),
                limit,
            },
            LearnError::BudgetFull { budget } => Self::SecretBudgetExhausted {
                credential: credential.to_owned(),
                budget,
            },
        }
    }

    /// A failed forward of the client's own request.
    pub fn forward(source: UpstreamError) -> Self {
        Self::Upstream {
            credential: None,
            source,
        }
    }

    /// The envelope answer for this error.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            Self::Upstream { credential, source } => upstream_error(credential.as_deref(), source),
            Self::JobUnsettled {
                source,
                nonce,
                retried,
            } => job_unsettled(source, *nonce, *retried),
            Self::Cache { credential } => ApiError::internal(format!(
                "The value of credential `{credential}` could not be read from the cache"
            ))
            .defined()
            .with_data(json!({ "credential": credential })),
            Self::PayloadTooLarge { limit } => ApiError::payload_too_large(*limit)
                .defined()
                .with_data(json!({ "limit": limit })),
            Self::BodyBudgetExhausted => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "BODY_BUDGET_EXHAUSTED",
                "The sidecar is holding as many request bodies as its memory budget \
                 (--max-body-memory) allows; retry shortly",
            )
            .defined()
            .with_data(json!({ "retry_after_seconds": crate::http::budget::RETRY_AFTER_SECS })),
            Self::BodyTooComplex { budget } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BODY_TOO_COMPLEX",
                format!(
                    "The request body holds too many values: parsed, it would take more than the \
                     whole body memory budget of {budget} bytes (--max-body-memory)"
                ),
            )
            .defined()
            .with_data(json!({ "budget": budget })),
            Self::BodyTooDeep { limit } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "BODY_TOO_DEEP",
                format!("The request body nests arrays and objects deeper than {limit} levels"),
            )
            .defined()
            .with_data(json!({ "limit": limit })),
            Self::BodyUnreadable => {
                ApiError::bad_request("The request body could not be read").defined()
            }
            Self::BodyTimeout => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "TIMEOUT",
                format!(
                    "The request body did not arrive within {}s",
                    crate::http::limited::BODY_READ_TIMEOUT.as_secs()
                ),
            )
            .defined(),
            Self::Serialize => {
                ApiError::internal("The rewritten request body could not be serialized").defined()
            }
            Self::MethodRefused { method } => ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_SUPPORTED",
                format!(
                    "This route takes POST only through the sidecar, not {method}: its body is \
                     read (placeholders resolved or refused, caches kept up to date), and an \
                     input in the query string would pass unread"
                ),
            )
            .defined()
            .with_data(json!({ "reason": "method", "method": method })),
            Self::EncodingRefused { encoding } => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "The sidecar reads this route's body and does not decode it: send it without \
                 Content-Encoding (or with `identity`)",
            )
            .defined()
            .with_data(json!({ "content_encoding": encoding })),
            Self::Rewrite(err) => err.to_api_error(),
            Self::NotAllowed(err) => err.to_api_error(),
            Self::PolicyRefused(err) => err.to_api_error(),
            Self::AnswerUnchecked { reason } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "UPSTREAM_ERROR",
                "The upstream's answer could not be checked for secrets, so it was not passed on",
            )
            .defined()
            .with_data(json!({ "reason": reason })),
            Self::CredentialTooLarge { credential, limit } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "CREDENTIAL_TOO_LARGE",
                format!(
                    "The value of credential `{credential}` is larger than the sidecar can scrub \
                     from answers ({limit} bytes, --max-secret-value-bytes), so it is not used"
                ),
            )
            .defined()
            .with_data(json!({ "credential": credential, "limit": limit })),
            Self::SecretBudgetExhausted { credential, budget } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SECRET_BUDGET_EXHAUSTED",
                format!(
                    "The sidecar holds as many secret values as it can scrub \
                     ({budget} bytes, --max-known-secret-bytes), all still in use, so the value of \
                     credential `{credential}` is not used"
                ),
            )
            .defined()
            .with_data(json!({ "credential": credential, "budget": budget })),
            Self::NotReady => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "NOT_READY",
                "The sidecar has just started and is still learning the tenant's credentials, so \
                 it cannot yet check this answer about a job it did not launch; retry shortly",
            )
            .defined()
            .with_data(json!({ "reason": "learning" })),
            Self::TooManyCredentials { limit, found } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "TOO_MANY_CREDENTIALS",
                format!(
                    "The request names {found} different credentials; the sidecar resolves at \
                     most {limit} per request (--max-credentials-per-request)"
                ),
            )
            .defined()
            .with_data(json!({ "limit": limit, "found": found })),
            Self::NameTooLong { prefix, limit } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "PLACEHOLDER_INVALID",
                format!(
                    "A placeholder names a credential longer than {limit} characters (starting \
                     `{prefix}`); no credential has such a name"
                ),
            )
            .defined()
            .with_data(
                json!({ "reason": "name_too_long", "limit": limit, "credential_prefix": prefix }),
            ),
            Self::DuplicateKey { path } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "DUPLICATE_KEY",
                format!(
                    "The body names the key at `{path}` twice; JSON readers disagree on which \
                     one counts, so the sidecar refuses it"
                ),
            )
            .defined()
            .with_data(json!({ "path": path })),
            Self::PlaceholderForwarded => ApiError::new(
                StatusCode::BAD_REQUEST,
                "PLACEHOLDER_NOT_ALLOWED",
                "The body holds a `{{credential:...}}` placeholder (possibly JSON-escaped) where \
                 the sidecar does not resolve it; it was not forwarded",
            )
            .defined()
            .with_data(json!({ "path": "", "reason": "unresolved" })),
            Self::NonCanonicalPath => ApiError::bad_request(
                "Non-canonical path: send the route as /v1/group/verb, without percent-escapes, \
                 backslashes, empty, `.` or `..` segments, `;` parameters, or trailing dots or \
                 spaces",
            )
            .defined()
            .with_data(json!({ "reason": "non_canonical_path" })),
        }
    }
}

/// What became of a `jobs/create` the upstream gave no answer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// The connection was never made: the job was not launched, sending it again is safe.
    NotSent,
    /// The request was sent (or may have been) and the answer lost: the job may be running.
    Unknown,
}

impl JobOutcome {
    /// The outcome a transport failure leaves; `None` when the upstream did answer.
    pub fn of(source: &UpstreamError) -> Option<Self> {
        match source {
            UpstreamError::Unreachable(_) => Some(Self::NotSent),
            UpstreamError::Lost(_) | UpstreamError::Timeout => Some(Self::Unknown),
            UpstreamError::Status(_) | UpstreamError::Unreadable => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::NotSent => "not_sent",
            Self::Unknown => "unknown",
        }
    }
}

/// A job launch lost in transport: the upstream failure's status, code and reason, with
/// `outcome` (and, for an unknown one, whether it was already retried) and a message that
/// says what a retry would do.
fn job_unsettled(source: &UpstreamError, nonce: bool, retried: bool) -> ApiError {
    let mut error = upstream_error(None, source);
    let outcome = JobOutcome::of(source).unwrap_or(JobOutcome::Unknown);
    error.message = match (outcome, nonce, retried) {
        (JobOutcome::NotSent, _, _) => "The upstream could not be reached, so the job was not \
             sent; sending it again is safe"
            .to_owned(),
        (JobOutcome::Unknown, _, true) => "The upstream's answer to the job was lost after it \
             was sent, twice (the sidecar retried once with the request's nonce); the job may \
             be running: retrying with the same nonce is safe, the upstream launches a nonce \
             once"
            .to_owned(),
        (JobOutcome::Unknown, true, false) => "The upstream's answer to the job was lost after \
             it was sent and no time was left to retry; the job may be running: retrying with \
             the same nonce is safe, the upstream launches a nonce once"
            .to_owned(),
        (JobOutcome::Unknown, false, false) => "The upstream's answer to the job was lost after \
             it was sent; the job may be running. The request had no nonce, so it was not \
             retried (that could launch the job twice): send a nonce with every job, then a \
             retry with the same nonce is safe"
            .to_owned(),
    };
    if let Some(Value::Object(data)) = error.data.as_deref_mut() {
        data.insert("outcome".into(), Value::String(outcome.as_str().into()));
        if outcome == JobOutcome::Unknown {
            data.insert("retried".into(), Value::Bool(retried));
        }
    }
    error
}

fn upstream_error(credential: Option<&str>, source: &UpstreamError) -> ApiError {
    let mut data = serde_json::Map::new();
    if let Some(name) = credential {
        data.insert("credential".into(), Value::String(name.to_owned()));
    }
    let (status, code, reason) = match source {
        UpstreamError::Timeout => (StatusCode::GATEWAY_TIMEOUT, "UPSTREAM_TIMEOUT", "timeout"),
        UpstreamError::Unreachable(_) => (StatusCode::BAD_GATEWAY, "UPSTREAM_ERROR", "unreachable"),
        UpstreamError::Lost(_) => (StatusCode::BAD_GATEWAY, "UPSTREAM_ERROR", "answer_lost"),
        UpstreamError::Status(upstream_status) => {
            data.insert("upstream_status".into(), json!(upstream_status));
            (StatusCode::BAD_GATEWAY, "UPSTREAM_ERROR", "status")
        }
        UpstreamError::Unreadable => (StatusCode::BAD_GATEWAY, "UPSTREAM_ERROR", "unreadable"),
    };
    data.insert("reason".into(), Value::String(reason.into()));
    let message = match (source, credential) {
        (UpstreamError::Timeout, Some(name)) => {
            format!("The upstream did not answer in time while looking up credential `{name}`")
        }
        (UpstreamError::Timeout, None) => "The upstream did not answer in time".to_owned(),
        (_, Some(name)) => format!("The upstream lookup of credential `{name}` failed"),
        (_, None) => "The upstream could not be reached or gave no usable answer".to_owned(),
    };
    ApiError::new(status, code, message)
        .defined()
        .with_data(Value::Object(data))
}

#[cfg(test)]
mod tests;

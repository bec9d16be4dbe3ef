//! What can be wrong with a body's placeholders, each error with its status, envelope code
//! and data, and a message that names the path, the credential and the field.

use std::fmt;

use http::StatusCode;
use serde_json::{json, Map, Value};

use crate::http::envelope::ApiError;
use crate::placeholders::grammar::ParseErrorKind;

use super::scope::Scope;

/// Where in an object a refused placeholder stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Key,
    Value,
    /// The value of `params` itself.
    Params,
}

/// Why a body cannot be rewritten. Every variant names the JSON Pointer in the body; none ever
/// holds a credential's value.
#[derive(Debug, Clone, PartialEq)]
pub enum RewriteError {
    /// The body holds `{{` (or its `\u007b` spelling) but is not JSON.
    NotJson {
        line: usize,
        column: usize,
        reason: String,
    },
    /// A malformed placeholder inside `params`.
    Invalid {
        path: String,
        credential: Option<String>,
        /// Character offset of the placeholder in its string.
        offset: usize,
        kind: ParseErrorKind,
    },
    /// A placeholder (well-formed or not) where none may stand.
    NotAllowed {
        path: String,
        credential: Option<String>,
        field: Option<String>,
        location: Location,
        scope: Scope,
    },
    CredentialNotFound {
        path: String,
        credential: String,
    },
    FieldNotFound {
        path: String,
        credential: String,
        field: String,
        /// The JSON type of the credential's value when it is not an object or array to point
        /// into (a plain-string credential), `None` when the field is just absent.
        scalar: Option<&'static str>,
    },
    FieldNotText {
        path: String,
        credential: String,
        field: Option<String>,
        found: &'static str,
    },
    /// The planned patch did not fit the body (the body changed between scan and apply).
    PatchFailed {
        path: String,
    },
    /// A body with placeholders that is not wrapped as `{"json": {...}}`, so it has no
    /// `/json/params` for them to stand in.
    NotEnveloped,
    /// The values filled in would add more than `limit` bytes to the body (an expansion bomb:
    /// many whole-value placeholders naming a large credential). `path` is where the limit
    /// was crossed.
    ExpansionTooLarge {
        path: String,
        limit: usize,
    },
}

impl RewriteError {
    /// The JSON Pointer in the body the error is about (empty for the whole body).
    pub fn path(&self) -> &str {
        match self {
            RewriteError::NotJson { .. } | RewriteError::NotEnveloped => "",
            RewriteError::Invalid { path, .. }
            | RewriteError::NotAllowed { path, .. }
            | RewriteError::CredentialNotFound { path, .. }
            | RewriteError::FieldNotFound { path, .. }
            | RewriteError::FieldNotText { path, .. }
            | RewriteError::PatchFailed { path }
            | RewriteError::ExpansionTooLarge { path, .. } => path,
        }
    }

    /// The envelope code.
    pub fn code(&self) -> &'static str {
        match self {
            RewriteError::NotJson { .. }
            | RewriteError::Invalid { .. }
            | RewriteError::NotEnveloped => "PLACEHOLDER_INVALID",
            RewriteError::NotAllowed { .. } => "PLACEHOLDER_NOT_ALLOWED",
            RewriteError::CredentialNotFound { .. } => "CREDENTIAL_NOT_FOUND",
            RewriteError::FieldNotFound { .. } => "CREDENTIAL_FIELD_NOT_FOUND",
            RewriteError::FieldNotText { .. } => "CREDENTIAL_FIELD_NOT_TEXT",
            RewriteError::PatchFailed { .. } => "INTERNAL_SERVER_ERROR",
            RewriteError::ExpansionTooLarge { .. } => "PLACEHOLDER_EXPANSION_TOO_LARGE",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            RewriteError::NotJson { .. }
            | RewriteError::Invalid { .. }
            | RewriteError::NotAllowed { .. }
            | RewriteError::NotEnveloped => StatusCode::BAD_REQUEST,
            RewriteError::CredentialNotFound { .. }
            | RewriteError::FieldNotFound { .. }
            | RewriteError::FieldNotText { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            RewriteError::PatchFailed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            RewriteError::ExpansionTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The answer to the client: the status and code of the error table, `defined: true`, and
    /// `data` naming the path, the credential and the field when known.
    pub fn to_api_error(&self) -> ApiError {
        let mut data = Map::new();
        data.insert("path".into(), Value::String(self.path().to_owned()));
        let (credential, field) = match self {
            RewriteError::NotJson { line, column, .. } => {
                data.insert("line".into(), json!(line));
                data.insert("column".into(), json!(column));
                (None, None)
            }
            RewriteError::Invalid {
                credential, offset, ..
            } => {
                data.insert("offset".into(), json!(offset));
                (credential.as_deref(), None)
            }
            RewriteError::NotAllowed {
                credential, field, ..
            } => (credential.as_deref(), field.as_deref()),
            RewriteError::CredentialNotFound { credential, .. } => {
                (Some(credential.as_str()), None)
            }
            RewriteError::FieldNotFound {
                credential, field, ..
            } => (Some(credential.as_str()), Some(field.as_str())),
            RewriteError::FieldNotText {
                credential, field, ..
            } => (Some(credential.as_str()), field.as_deref()),
            RewriteError::PatchFailed { .. } | RewriteError::NotEnveloped => (None, None),
            RewriteError::ExpansionTooLarge { limit, .. } => {
                data.insert("limit".into(), json!(limit));
                (None, None)
            }
        };
        if let Some(credential) = credential {
            data.insert("credential".into(), Value::String(credential.to_owned()));
        }
        if let Some(field) = field {
            data.insert("field".into(), Value::String(field.to_owned()));
        }
        let error = ApiError::new(self.status(), self.code(), self.to_string())
            .with_data(Value::Object(data));
        match self {
            RewriteError::PatchFailed { .. } => error,
            _ => error.defined(),
        }
    }
}

const GRAMMAR_HINT: &str = "A placeholder reads {{credential:NAME}} or {{credential:NAME/FIELD}}; write {{!credential: for the literal text";

impl fmt::Display for RewriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RewriteError::NotJson { reason, .. } => write!(
                f,
                "The request body holds `{{{{` but is not valid JSON ({reason}), so its placeholders cannot be read; nothing was forwarded"
            ),
            RewriteError::Invalid {
                path, offset, kind, ..
            } => write!(
                f,
                "Malformed credential placeholder at {path} (character {offset}): {kind}. {GRAMMAR_HINT}"
            ),
            RewriteError::NotAllowed {
                path,
                scope: Scope::Stored,
                ..
            } => write!(
                f,
                "Credential placeholders are not resolved in schedules: a schedule stores its params upstream and runs later, away from the sidecar (placeholder at {path}). Start the sidecar with --resolve-schedules to fill them in when the schedule is saved, or launch jobs with jobs/create"
            ),
            RewriteError::NotAllowed {
                path,
                location: Location::Key,
                ..
            } => write!(
                f,
                "Credential placeholders are not allowed in object keys (key at {path}); they are resolved only in string values inside `params`"
            ),
            RewriteError::NotAllowed {
                path,
                location: Location::Params,
                ..
            } => write!(
                f,
                "`params` itself cannot be a placeholder (at {path}); put placeholders in the string values inside it"
            ),
            RewriteError::NotAllowed {
                path,
                location: Location::Value,
                ..
            } => write!(
                f,
                "Credential placeholders are resolved only in string values inside `params`; found one at {path}"
            ),
            RewriteError::CredentialNotFound { path, credential } => write!(
                f,
                "No credential named `{credential}` (placeholder at {path})"
            ),
            RewriteError::FieldNotFound {
                path,
                credential,
                field,
                scalar: None,
            } => write!(
                f,
                "Credential `{credential}` has no field `{field}` (placeholder at {path})"
            ),
            RewriteError::FieldNotFound {
                path,
                credential,
                field,
                scalar: Some(kind),
            } => write!(
                f,
                "Credential `{credential}` holds a single {kind}, not an object, so it has no field `{field}` (placeholder at {path}); use {{{{credential:{credential}}}}} for the whole value"
            ),
            RewriteError::FieldNotText {
                path,
                credential,
                field,
                found,
            } => {
                match field {
                    Some(field) => write!(f, "Credential `{credential}` field `{field}`")?,
                    None => write!(f, "Credential `{credential}`")?,
                }
                write!(
                    f,
                    " is {found}, which cannot be placed inside a longer string; only a string, number or boolean can (placeholder at {path}). Make the placeholder the whole string to insert the value as JSON"
                )
            }
            RewriteError::PatchFailed { path } => write!(
                f,
                "The rewrite of {path} could not be applied to the request body; nothing was forwarded"
            ),
            RewriteError::ExpansionTooLarge { path, limit } => write!(
                f,
                "The credential values filled in would add more than {limit} bytes to the request body (limit crossed at {path}); nothing was forwarded. Use fewer placeholders naming large values, or name a field of the credential"
            ),
            RewriteError::NotEnveloped => write!(
                f,
                "The request body must be wrapped as {{\"json\": {{...}}}} (the oRPC envelope): placeholders are resolved only inside /json/params, and this body has no `json` object"
            ),
        }
    }
}

impl std::error::Error for RewriteError {}

//! The rewrite of a request body: find the placeholders, plan their substitution as a JSON Patch,
//! apply it.
//!
//! The proxy runs `parse_body` → [`scan`] → (fetch the named credentials) → [`plan`] →
//! [`apply`] → serialize, and answers any [`RewriteError`] through [`RewriteError::to_api_error`]
//! instead of forwarding: a request whose placeholders cannot all be resolved never leaves the
//! sidecar. Splitting the scan from the plan lets the proxy learn which credentials to fetch
//! before it fetches them, and lets the offline `check` lint reuse the scan without any
//! credentials at all. The substitutions are an RFC 6902 patch of `replace` operations, one per
//! string that changes, so the rest of the body keeps its key order and its numbers exactly as
//! sent (serde_json runs with `preserve_order` and `arbitrary_precision`).
//!
//! Where placeholders may stand ([`Scope::JobParams`]): string values strictly inside
//! `/json/params`, at any depth of objects and arrays. Anywhere else — another field, the value
//! of `params` itself, any object key (also inside `params`) — a placeholder, even a malformed
//! one, is refused with `PLACEHOLDER_NOT_ALLOWED`. The `{{!credential:` escape is removed in
//! every string value of a scanned body (keys are never rewritten and are forwarded verbatim).
//!
//! How a value is filled in: a string that is exactly one placeholder becomes the JSON value it
//! points to, whatever its type. A placeholder inside a longer string is replaced by text: a
//! string as is, a number as its JSON text, a boolean as `true`/`false`; `null`, objects and
//! arrays are refused with `CREDENTIAL_FIELD_NOT_TEXT` (there is no text that would be right for
//! all of them, and guessing would hide a mistake). Filled-in values are never scanned again.

mod error;
pub mod grammar;
pub mod outbound;
mod plan;
pub mod pointer;
mod scan;
mod scope;
mod shape;
pub mod unique_keys;

pub use error::{Location, RewriteError};
pub use plan::{apply, plan, plan_within, redacted};
pub use scan::{scan, scan_with, Collect, Scan, Scope};
pub use shape::{shape, Shape, TooDeep, MAX_DEPTH};

use serde_json::Value;

/// What the value of every patch operation is shown as in [`redacted`].
pub const REDACTED: &str = "[redacted]";

/// Parses a raw body that may hold placeholders; a body that is not JSON is
/// `PLACEHOLDER_INVALID`, since its placeholders cannot be found, let alone resolved.
pub fn parse_body(bytes: &[u8]) -> Result<Value, RewriteError> {
    serde_json::from_slice(bytes).map_err(|err| RewriteError::NotJson {
        line: err.line(),
        column: err.column(),
        reason: err.to_string(),
    })
}

/// Whether a body is wrapped in the oRPC envelope: an object whose `json` member is an object
/// (other members, such as `meta`, may stand beside it).
pub fn is_enveloped(body: &Value) -> bool {
    body.get("json").is_some_and(Value::is_object)
}

#[cfg(test)]
mod tests;

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

pub mod grammar;

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use http::StatusCode;
use json_patch::jsonptr::PointerBuf;
use json_patch::{Patch, PatchOperation, ReplaceOperation};
use serde_json::{json, Map, Value};

use crate::http::envelope::{json_type_name, ApiError};
use crate::placeholders::grammar::{ParseErrorKind, Placeholder, Template};
use crate::secret::{wipe_string, wipe_value, Wipe, WipeOnDrop};

/// What the value of every patch operation is shown as in [`redacted`].
pub const REDACTED: &str = "[redacted]";

/// Which part of a body may hold placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `jobs/create` (and schedules under `--resolve-schedules`): string values inside
    /// `/json/params`.
    JobParams,
    /// A body stored upstream and replayed later, away from the sidecar (schedules): no
    /// placeholder is allowed anywhere, since it would be stored unresolved.
    Stored,
}

/// How many errors a scan gathers before it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collect {
    /// Stop at the first error in document order (the proxy answers one error).
    First,
    /// Walk the whole body and report every error (the `check` lint).
    All,
}

/// One string value that the rewrite changes.
#[derive(Debug, Clone)]
struct Site {
    path: PointerBuf,
    template: Template,
}

/// The strings of a body that hold placeholders or escapes, in document order.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    sites: Vec<Site>,
}

impl Scan {
    /// True when nothing needs rewriting: no placeholder and no escape.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// The credentials the placeholders name, distinct and sorted.
    pub fn credential_names(&self) -> Vec<String> {
        let names: BTreeSet<&str> = self
            .sites
            .iter()
            .flat_map(|site| site.template.placeholders())
            .map(|placeholder| placeholder.name.as_str())
            .collect();
        names.into_iter().map(str::to_owned).collect()
    }

    pub fn placeholder_count(&self) -> usize {
        self.sites
            .iter()
            .map(|site| site.template.placeholder_count())
            .sum()
    }

    /// Every placeholder with the JSON Pointer (from the body root) of the string holding it.
    pub fn sites(&self) -> impl Iterator<Item = (&str, &Placeholder)> {
        self.sites.iter().flat_map(|site| {
            site.template
                .placeholders()
                .map(move |placeholder| (site.path.as_str(), placeholder))
        })
    }

    /// The JSON Pointers of strings that hold escapes and no placeholder.
    pub fn escape_only_paths(&self) -> impl Iterator<Item = &str> {
        self.sites
            .iter()
            .filter(|site| site.template.placeholder_count() == 0)
            .map(|site| site.path.as_str())
    }
}

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
            | RewriteError::PatchFailed { path } => path,
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
            RewriteError::NotEnveloped => write!(
                f,
                "The request body must be wrapped as {{\"json\": {{...}}}} (the oRPC envelope): placeholders are resolved only inside /json/params, and this body has no `json` object"
            ),
        }
    }
}

impl std::error::Error for RewriteError {}

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

/// Finds every placeholder and escape, and fails on the first misplaced or malformed one.
pub fn scan(body: &Value, scope: Scope) -> Result<Scan, RewriteError> {
    let (scan, errors) = scan_with(body, scope, Collect::First);
    match errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(scan),
    }
}

/// Finds every placeholder and escape, and gathers errors as `collect` says, in document order.
pub fn scan_with(body: &Value, scope: Scope, collect: Collect) -> (Scan, Vec<RewriteError>) {
    let mut walker = Walker {
        scope,
        collect,
        path: PointerBuf::root(),
        scan: Scan::default(),
        errors: Vec::new(),
    };
    walker.value(body, Zone::Root);
    (walker.scan, walker.errors)
}

/// Where the walker stands relative to `/json/params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    /// The body itself.
    Root,
    /// The object at `/json`.
    Envelope,
    /// The value at `/json/params` itself.
    ParamsRoot,
    /// Strictly inside `/json/params`.
    Params,
    /// Anywhere else.
    Outside,
}

struct Walker {
    scope: Scope,
    collect: Collect,
    path: PointerBuf,
    scan: Scan,
    errors: Vec<RewriteError>,
}

impl Walker {
    fn done(&self) -> bool {
        self.collect == Collect::First && !self.errors.is_empty()
    }

    fn value(&mut self, value: &Value, zone: Zone) {
        if self.done() {
            return;
        }
        match value {
            Value::String(text) => self.string(text, zone),
            Value::Array(items) => {
                let inner = Self::child_zone(zone, None);
                for (index, item) in items.iter().enumerate() {
                    self.path.push_back(index);
                    self.value(item, inner);
                    self.path.pop_back();
                }
            }
            Value::Object(members) => {
                for (key, item) in members {
                    self.path.push_back(key.as_str());
                    self.key(key);
                    self.value(item, Self::child_zone(zone, Some(key)));
                    self.path.pop_back();
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn child_zone(zone: Zone, key: Option<&str>) -> Zone {
        match (zone, key) {
            (Zone::Root, Some("json")) => Zone::Envelope,
            (Zone::Envelope, Some("params")) => Zone::ParamsRoot,
            (Zone::ParamsRoot | Zone::Params, _) => Zone::Params,
            _ => Zone::Outside,
        }
    }

    fn allowed(&self, zone: Zone) -> bool {
        self.scope == Scope::JobParams && zone == Zone::Params
    }

    fn key(&mut self, key: &str) {
        if self.done() || !key.contains("{{") {
            return;
        }
        // Keys are never rewritten, so an escape in a key is forwarded as written.
        match Template::parse(key) {
            Ok(template) => {
                if let Some(first) = template.placeholders().next().cloned() {
                    self.not_allowed(Some(first), Location::Key);
                }
            }
            Err(err) => {
                let placeholder = err.name.map(|name| Placeholder {
                    name,
                    pointer: None,
                });
                self.not_allowed(placeholder, Location::Key);
            }
        }
    }

    fn string(&mut self, text: &str, zone: Zone) {
        if !text.contains("{{") {
            return;
        }
        let location = match zone {
            Zone::ParamsRoot if self.scope == Scope::JobParams => Location::Params,
            _ => Location::Value,
        };
        match Template::parse(text) {
            Ok(template) => {
                if template.is_verbatim() {
                    return;
                }
                let first = template.placeholders().next().cloned();
                match first {
                    Some(first) if !self.allowed(zone) => self.not_allowed(Some(first), location),
                    _ => self.scan.sites.push(Site {
                        path: self.path.clone(),
                        template,
                    }),
                }
            }
            Err(err) if self.allowed(zone) => self.errors.push(RewriteError::Invalid {
                path: self.path.to_string(),
                credential: err.name,
                offset: err.offset,
                kind: err.kind,
            }),
            Err(err) => {
                let placeholder = err.name.map(|name| Placeholder {
                    name,
                    pointer: None,
                });
                self.not_allowed(placeholder, location);
            }
        }
    }

    fn not_allowed(&mut self, placeholder: Option<Placeholder>, location: Location) {
        let (credential, field) = match placeholder {
            Some(placeholder) => (Some(placeholder.name), placeholder.pointer),
            None => (None, None),
        };
        self.errors.push(RewriteError::NotAllowed {
            path: self.path.to_string(),
            credential,
            field,
            location,
            scope: self.scope,
        });
    }
}

/// Plans the substitutions: one `replace` per string that changes, in document order.
/// `lookup(name)` gives a credential's stored value, or `None` when there is no such credential;
/// it is called once per distinct name. The values looked up are wiped before this returns;
/// the patch holds copies, which its caller should wipe after use (see [`Wipe`] for `Patch`).
pub fn plan(scan: &Scan, lookup: &dyn Fn(&str) -> Option<Value>) -> Result<Patch, RewriteError> {
    let values: HashMap<String, Option<WipeOnDrop<Value>>> = scan
        .credential_names()
        .into_iter()
        .map(|name| {
            let value = lookup(&name).map(WipeOnDrop::new);
            (name, value)
        })
        .collect();
    let mut operations = Vec::with_capacity(scan.sites.len());
    for site in &scan.sites {
        let resolve = |placeholder: &Placeholder| resolve(&values, placeholder, &site.path);
        let value = match site.template.whole() {
            Some(placeholder) => resolve(placeholder)?.clone(),
            None => {
                // Wiped if a later placeholder fails; otherwise its text moves into the patch.
                let mut text = WipeOnDrop::new(String::new());
                for piece in site.template.pieces() {
                    match piece {
                        crate::placeholders::grammar::Piece::Text(literal) => {
                            text.push_str(literal)
                        }
                        crate::placeholders::grammar::Piece::Placeholder(placeholder) => {
                            as_text(resolve(placeholder)?, placeholder, &site.path, &mut text)?
                        }
                    }
                }
                Value::String(std::mem::take(&mut *text))
            }
        };
        operations.push(PatchOperation::Replace(ReplaceOperation {
            path: site.path.clone(),
            value,
        }));
    }
    Ok(Patch(operations))
}

/// The value a placeholder points to.
fn resolve<'v>(
    values: &'v HashMap<String, Option<WipeOnDrop<Value>>>,
    placeholder: &Placeholder,
    path: &PointerBuf,
) -> Result<&'v Value, RewriteError> {
    let Some(Some(stored)) = values.get(&placeholder.name) else {
        return Err(RewriteError::CredentialNotFound {
            path: path.to_string(),
            credential: placeholder.name.clone(),
        });
    };
    let stored: &Value = stored;
    let Some(field) = &placeholder.pointer else {
        return Ok(stored);
    };
    let not_found = |scalar| RewriteError::FieldNotFound {
        path: path.to_string(),
        credential: placeholder.name.clone(),
        field: field.clone(),
        scalar,
    };
    match stored {
        Value::Object(_) | Value::Array(_) => stored
            .pointer(&placeholder.json_pointer())
            .ok_or_else(|| not_found(None)),
        scalar => Err(not_found(Some(json_type_name(scalar)))),
    }
}

/// Appends a value's text for interpolation, or refuses a value that has none.
fn as_text(
    value: &Value,
    placeholder: &Placeholder,
    path: &PointerBuf,
    out: &mut String,
) -> Result<(), RewriteError> {
    match value {
        Value::String(text) => out.push_str(text),
        // With `arbitrary_precision` this is the number exactly as stored.
        Value::Number(number) => {
            let mut digits = number.to_string();
            out.push_str(&digits);
            wipe_string(&mut digits);
        }
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Null | Value::Array(_) | Value::Object(_) => {
            let found = match value {
                Value::Null => "null",
                Value::Array(_) => "an array",
                _ => "an object",
            };
            return Err(RewriteError::FieldNotText {
                path: path.to_string(),
                credential: placeholder.name.clone(),
                field: placeholder.pointer.clone(),
                found,
            });
        }
    }
    Ok(())
}

/// Applies a planned patch; on failure the body is left as it was.
pub fn apply(body: &mut Value, patch: &Patch) -> Result<(), RewriteError> {
    json_patch::patch(body, &patch.0).map_err(|err| RewriteError::PatchFailed {
        path: err.path.to_string(),
    })
}

/// A planned patch holds copies of the credential values it fills in: every value in it is
/// overwritten in place (paths are body locations, not secrets).
impl Wipe for Patch {
    fn wipe(&mut self) {
        for operation in &mut self.0 {
            match operation {
                PatchOperation::Add(op) => wipe_value(&mut op.value),
                PatchOperation::Replace(op) => wipe_value(&mut op.value),
                PatchOperation::Test(op) => wipe_value(&mut op.value),
                PatchOperation::Remove(_) | PatchOperation::Move(_) | PatchOperation::Copy(_) => {}
            }
        }
    }
}

/// The patch as RFC 6902 JSON with every value shown as `"[redacted]"`, for logs and audits.
pub fn redacted(patch: &Patch) -> Value {
    let operations = patch
        .0
        .iter()
        .map(|operation| match operation {
            PatchOperation::Add(op) => {
                json!({"op": "add", "path": op.path.as_str(), "value": REDACTED})
            }
            PatchOperation::Remove(op) => json!({"op": "remove", "path": op.path.as_str()}),
            PatchOperation::Replace(op) => {
                json!({"op": "replace", "path": op.path.as_str(), "value": REDACTED})
            }
            PatchOperation::Move(op) => {
                json!({"op": "move", "from": op.from.as_str(), "path": op.path.as_str()})
            }
            PatchOperation::Copy(op) => {
                json!({"op": "copy", "from": op.from.as_str(), "path": op.path.as_str()})
            }
            PatchOperation::Test(op) => {
                json!({"op": "test", "path": op.path.as_str(), "value": REDACTED})
            }
        })
        .collect();
    Value::Array(operations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wiped_patch_holds_no_value() {
        let body = json!({"json": {"params": {
            "whole": "{{credential:c}}",
            "inside": "x-{{credential:c/k}}-{{credential:c/n}}",
        }}});
        let scan = scan(&body, Scope::JobParams).unwrap();
        let mut patch = plan(&scan, &|_| Some(json!({"k": "secret", "n": 42}))).unwrap();
        patch.wipe();
        let PatchOperation::Replace(whole) = &patch.0[0] else {
            panic!("{patch:?}")
        };
        assert_eq!(whole.value["k"], json!("\0".repeat(6)));
        let PatchOperation::Replace(inside) = &patch.0[1] else {
            panic!("{patch:?}")
        };
        let text = inside.value.as_str().unwrap();
        assert_eq!(text.len(), "x-secret-42".len());
        assert!(text.bytes().all(|byte| byte == 0), "{text:?}");
    }

    fn creds(value: Value) -> impl Fn(&str) -> Option<Value> {
        move |name| value.get(name).cloned()
    }

    fn rewrite(body: &str, credentials: Value) -> Result<Value, RewriteError> {
        let mut body = parse_body(body.as_bytes())?;
        let scan = scan(&body, Scope::JobParams)?;
        let patch = plan(&scan, &creds(credentials))?;
        apply(&mut body, &patch)?;
        Ok(body)
    }

    #[test]
    fn quickstart() {
        let out = rewrite(
            r#"{"json":{"workflow":"portal-login","params":{"memberId":"12345",
              "username":"{{credential:portal-production/username}}",
              "password":"{{credential:portal-production/password}}"}}}"#,
            json!({"portal-production": {"username": "ada", "password": "pw\"\\"}}),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"json":{"workflow":"portal-login","params":{"memberId":"12345","username":"ada","password":"pw\"\\"}}}"#
        );
    }

    #[test]
    fn numbers_and_key_order_survive() {
        let text = r#"{"json":{"z":1.0000000000000000001,"a":1e400,"m":123456789012345678901234567890,"params":{"b":"{{credential:c/n}}","a":-0.0}}}"#;
        let out = rewrite(text, json!({"c": {"n": 7}})).unwrap();
        // Digits survive exactly; serde_json spells a positive exponent with its sign
        // (`1e400` as `1e+400`), the same number.
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            text.replace("\"{{credential:c/n}}\"", "7")
                .replace("1e400", "1e+400")
        );
    }

    #[test]
    fn interpolated_numbers_keep_their_text() {
        let credentials: Value = serde_json::from_str(r#"{"c": {"n": 1.50, "b": 1e400}}"#).unwrap();
        let out = rewrite(
            r#"{"json":{"params":{"s":"{{credential:c/n}}/{{credential:c/b}}"}}}"#,
            credentials,
        )
        .unwrap();
        assert_eq!(out["json"]["params"]["s"], json!("1.50/1e+400"));
    }

    #[test]
    fn scan_reports_sites_and_names() {
        let body = json!({"json": {"params": {"a/b": ["{{credential:z/x}} {{credential:a}}"], "c~": "{{credential:a/y}}"}}});
        let scan = scan(&body, Scope::JobParams).unwrap();
        assert_eq!(scan.credential_names(), vec!["a", "z"]);
        assert_eq!(scan.placeholder_count(), 3);
        let paths: Vec<&str> = scan.sites().map(|(path, _)| path).collect();
        assert_eq!(
            paths,
            vec![
                "/json/params/a~1b/0",
                "/json/params/a~1b/0",
                "/json/params/c~0"
            ]
        );
    }

    #[test]
    fn empty_scan_for_plain_bodies() {
        let body =
            json!({"json": {"workflow": "{{name}}", "params": {"a": "{{ x }}", "{{y}}": 1}}});
        assert!(scan(&body, Scope::JobParams).unwrap().is_empty());
    }

    #[test]
    fn collect_all_errors_in_document_order() {
        let body = json!({"json": {"workflow": "{{credential:a}}", "params": {
            "{{credential:k}}": "x", "bad": "{{credential:", "ok": "{{credential:b}}"}}});
        let (scan, errors) = scan_with(&body, Scope::JobParams, Collect::All);
        let seen: Vec<(&str, &str)> = errors.iter().map(|e| (e.code(), e.path())).collect();
        assert_eq!(
            seen,
            vec![
                ("PLACEHOLDER_NOT_ALLOWED", "/json/workflow"),
                ("PLACEHOLDER_NOT_ALLOWED", "/json/params/{{credential:k}}"),
                ("PLACEHOLDER_INVALID", "/json/params/bad"),
            ]
        );
        assert_eq!(scan.placeholder_count(), 1);
        let (_, first) = scan_with(&body, Scope::JobParams, Collect::First);
        assert_eq!(first.len(), 1);
    }

    #[test]
    fn params_itself_is_not_a_site() {
        let err = scan(
            &json!({"json": {"params": "{{credential:a}}"}}),
            Scope::JobParams,
        )
        .unwrap_err();
        assert_eq!(err.code(), "PLACEHOLDER_NOT_ALLOWED");
        assert_eq!(err.path(), "/json/params");
    }

    #[test]
    fn stored_scope_refuses_everything_with_a_reason() {
        let err = scan(
            &json!({"json": {"params": {"a": "{{credential:a}}"}}}),
            Scope::Stored,
        )
        .unwrap_err();
        assert_eq!(err.code(), "PLACEHOLDER_NOT_ALLOWED");
        assert!(err.to_string().contains("--resolve-schedules"));
    }

    #[test]
    fn errors_map_to_the_table() {
        let cases = [
            (
                rewrite("{\"json\": {{", json!({})),
                400,
                "PLACEHOLDER_INVALID",
            ),
            (
                rewrite(
                    r#"{"json":{"params":{"a":"{{credential:x/~9}}"}}}"#,
                    json!({}),
                ),
                400,
                "PLACEHOLDER_INVALID",
            ),
            (
                rewrite(r#"{"json":{"workflow":"{{credential:x}}"}}"#, json!({})),
                400,
                "PLACEHOLDER_NOT_ALLOWED",
            ),
            (
                rewrite(r#"{"json":{"params":{"a":"{{credential:x}}"}}}"#, json!({})),
                422,
                "CREDENTIAL_NOT_FOUND",
            ),
            (
                rewrite(
                    r#"{"json":{"params":{"a":"{{credential:x/y}}"}}}"#,
                    json!({"x": {}}),
                ),
                422,
                "CREDENTIAL_FIELD_NOT_FOUND",
            ),
            (
                rewrite(
                    r#"{"json":{"params":{"a":"{{credential:x/y}}"}}}"#,
                    json!({"x": "s3cret"}),
                ),
                422,
                "CREDENTIAL_FIELD_NOT_FOUND",
            ),
            (
                rewrite(
                    r#"{"json":{"params":{"a":"k={{credential:x}}"}}}"#,
                    json!({"x": {"s": "s3cret"}}),
                ),
                422,
                "CREDENTIAL_FIELD_NOT_TEXT",
            ),
            (
                rewrite(
                    r#"{"json":{"params":{"a":"k={{credential:x/n}}"}}}"#,
                    json!({"x": {"n": null}}),
                ),
                422,
                "CREDENTIAL_FIELD_NOT_TEXT",
            ),
        ];
        for (result, status, code) in cases {
            let api = result.unwrap_err().to_api_error();
            assert_eq!(api.status.as_u16(), status, "{code}");
            assert_eq!(api.code, code);
            assert!(api.defined);
            assert!(!api.message.contains("s3cret"));
            assert!(api.data.as_ref().unwrap().get("path").is_some());
        }
    }

    #[test]
    fn error_data_names_path_credential_and_field() {
        let err = rewrite(
            r#"{"json":{"params":{"password":"{{credential:db/pw}}"}}}"#,
            json!({"db": {"user": "u"}}),
        )
        .unwrap_err();
        assert_eq!(
            err.to_api_error().to_json()["json"]["data"],
            json!({"path": "/json/params/password", "credential": "db", "field": "pw"})
        );
    }

    #[test]
    fn lookup_is_called_once_per_name() {
        let calls = std::cell::Cell::new(0);
        let lookup = |_: &str| {
            calls.set(calls.get() + 1);
            Some(json!({"a": "x"}))
        };
        let body = json!({"json": {"params": {"a": "{{credential:c/a}}", "b": "{{credential:c/a}}{{credential:c/a}}"}}});
        let scan = scan(&body, Scope::JobParams).unwrap();
        plan(&scan, &lookup).unwrap();
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn redaction_hides_every_value() {
        let body = json!({"json": {"params": {"a": "{{credential:c}}"}}});
        let scan = scan(&body, Scope::JobParams).unwrap();
        let patch = plan(&scan, &creds(json!({"c": "s3cret"}))).unwrap();
        let shown = redacted(&patch);
        assert_eq!(
            shown,
            json!([{"op": "replace", "path": "/json/params/a", "value": "[redacted]"}])
        );
    }

    #[test]
    fn failed_apply_leaves_the_body() {
        let body = json!({"json": {"params": {"a": "{{credential:c}}"}}});
        let scan = scan(&body, Scope::JobParams).unwrap();
        let patch = plan(&scan, &creds(json!({"c": 1}))).unwrap();
        let mut other = json!({"json": {}});
        let err = apply(&mut other, &patch).unwrap_err();
        assert_eq!(err.code(), "INTERNAL_SERVER_ERROR");
        assert_eq!(other, json!({"json": {}}));
    }
}

//! The plan and its application: the opened credentials turned into an RFC 6902 patch of
//! `replace` operations, one per string that changes, applied to the parsed body; the patch is
//! wiped after use and can be shown redacted.

use std::collections::HashMap;

use json_patch::jsonptr::resolve::ResolveMut;
use json_patch::jsonptr::{Pointer, PointerBuf};
use json_patch::{Patch, PatchOperation, ReplaceOperation};
use serde_json::{json, Value};

use crate::http::envelope::json_type_name;
use crate::placeholders::grammar::Placeholder;
use crate::secret::{wipe_string, wipe_value, Wipe, WipeOnDrop};

use super::error::RewriteError;
use super::pointer;
use super::scan::Scan;
use super::REDACTED;

/// Plans the substitutions: one `replace` per string that changes, in document order.
/// `lookup(name)` gives a credential's stored value, or `None` when there is no such credential;
/// it is called once per distinct name. The values looked up are wiped before this returns;
/// the patch holds copies, which its caller should wipe after use (see [`Wipe`] for `Patch`).
pub fn plan(scan: &Scan, lookup: &dyn Fn(&str) -> Option<Value>) -> Result<Patch, RewriteError> {
    plan_within(scan, lookup, usize::MAX)
}

/// [`plan`], refusing with [`RewriteError::ExpansionTooLarge`] once the values filled in add up
/// to more than `max_added` bytes (their JSON text), before the one that crosses it is copied.
pub fn plan_within(
    scan: &Scan,
    lookup: &dyn Fn(&str) -> Option<Value>,
    max_added: usize,
) -> Result<Patch, RewriteError> {
    let values: HashMap<String, Option<WipeOnDrop<Value>>> = scan
        .credential_names()
        .into_iter()
        .map(|name| {
            let value = lookup(&name).map(WipeOnDrop::new);
            (name, value)
        })
        .collect();
    let mut operations = Vec::with_capacity(scan.sites.len());
    let mut added = 0usize;
    for site in &scan.sites {
        let resolve = |placeholder: &Placeholder| resolve(&values, placeholder, &site.path);
        let too_large = || RewriteError::ExpansionTooLarge {
            path: site.path.to_string(),
            limit: max_added,
        };
        let value = match site.template.whole() {
            Some(placeholder) => {
                let found = resolve(placeholder)?;
                let left = max_added - added;
                let len = json_len(found, left);
                if len > left {
                    return Err(too_large());
                }
                added += len;
                found.clone()
            }
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
                    if text.len() > max_added - added {
                        // Refused as soon as the text outgrows what is left.
                        return Err(too_large());
                    }
                }
                added += text.len();
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

/// The length of a value's JSON text, counted without building it; the count stops a little
/// past `stop` (anything over it is refused anyway).
fn json_len(value: &Value, stop: usize) -> usize {
    struct Counter {
        count: usize,
        stop: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.count = self.count.saturating_add(buf.len());
            if self.count > self.stop {
                return Err(std::io::Error::other("over the expansion limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { count: 0, stop };
    let _ = serde_json::to_writer(&mut counter, value);
    counter.count
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
        Value::Object(_) | Value::Array(_) => {
            pointer::get(stored, &placeholder.json_pointer()).ok_or_else(|| not_found(None))
        }
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
///
/// A plan is `replace` operations only, applied here in place, each pointer resolved as it is
/// (json-patch's own `patch` looks each one up again through `serde_json::Value::pointer`,
/// which copies every token); a patch with any other operation goes to `json_patch`.
/// Either way a failed patch is undone, and the values it had filled in are wiped.
pub fn apply(body: &mut Value, patch: &Patch) -> Result<(), RewriteError> {
    let replaces = patch
        .0
        .iter()
        .map(|operation| match operation {
            PatchOperation::Replace(op) => Some(op),
            _ => None,
        })
        .collect::<Option<Vec<&ReplaceOperation>>>();
    let Some(replaces) = replaces else {
        return json_patch::patch(body, &patch.0).map_err(|err| RewriteError::PatchFailed {
            path: err.path.to_string(),
        });
    };
    let mut undo: Vec<(&Pointer, Value)> = Vec::with_capacity(replaces.len());
    for op in replaces {
        if let Ok(slot) = body.resolve_mut(&op.path) {
            undo.push((&op.path, std::mem::replace(slot, op.value.clone())));
            continue;
        }
        for (path, before) in undo.into_iter().rev() {
            if let Ok(slot) = body.resolve_mut(path) {
                wipe_value(&mut std::mem::replace(slot, before));
            }
        }
        return Err(RewriteError::PatchFailed {
            path: op.path.to_string(),
        });
    }
    Ok(())
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

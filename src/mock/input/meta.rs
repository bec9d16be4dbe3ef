//! The oRPC RPC serializer's `meta`, decoded before validation as a real oRPC server does.
//!
//! `@orpc/client` sends values JSON cannot carry as JSON plus a `meta` entry `[type, ...path]`:
//! `0` BigInt (a decimal string), `1` Date (an ISO string, `null` when invalid), `2` NaN
//! (`null`), `3` undefined (`null`), `4` URL (a string), `5` RegExp (`/source/flags`), `6` Set
//! (an array), `7` Map (an array of entries). The server restores those values first and
//! validates after, so a Date where a string is due fails validation at its path.
//!
//! [`decode`] follows `StandardRPCJsonSerializer.deserialize` step by step: entries whose type is
//! not one of the eight are skipped; a path that does not exist, a path through a value that has
//! no own properties, or a value of the wrong JSON shape for its type refuses the whole request
//! as malformed (400 BAD_REQUEST, the same answer as a body that is not JSON).
//!
//! Restored values then take the form the mock's validation and storage need:
//! - inside a free-form value (`params`, `credentials`, `value`) they become what storing them as
//!   JSON gives (`JSON.stringify`): a Date its ISO string, a URL its normalized `href`, NaN and an
//!   undefined array item `null`, a RegExp, Set or Map `{}`; an undefined property disappears. A
//!   BigInt has no JSON form, so it is a validation issue at its path, not a stored string;
//! - anywhere else a Date, BigInt, NaN, Set or Map becomes a marker object that every field
//!   reader refuses with zod's name for it (`Expected string, received date`), a URL or RegExp
//!   reads as an object without keys (as zod 3 sees one), and an undefined property is absent.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::http::envelope::{json_type_name, ApiError, Issue};

/// The key of the marker object that stands for a restored value no JSON type describes.
const MARKER_KEY: &str = "\u{0}orpc";

/// Most digits a BigInt may have, as `DEFAULT_MAX_BIGINT_DIGITS` in `@orpc/shared`.
const MAX_BIGINT_DIGITS: usize = 4300;

/// The message of the issue about a BigInt inside a free-form value.
const BIGINT_NOT_JSON: &str = "BigInt values cannot be stored as JSON";

/// The types of the RPC serializer, numbered as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    BigInt,
    Date,
    NaN,
    Undefined,
    Url,
    RegExp,
    Set,
    Map,
}

impl Kind {
    fn from_type(value: &Value) -> Option<Self> {
        let number = value.as_number()?.as_f64()?;
        let kinds = [
            Self::BigInt,
            Self::Date,
            Self::NaN,
            Self::Undefined,
            Self::Url,
            Self::RegExp,
            Self::Set,
            Self::Map,
        ];
        (number.fract() == 0.0 && (0.0..8.0).contains(&number)).then(|| kinds[number as usize])
    }

    /// zod's name for the restored value's type, for those with a marker.
    fn marker_name(self) -> Option<&'static str> {
        match self {
            Self::BigInt => Some("bigint"),
            Self::Date => Some("date"),
            Self::NaN => Some("nan"),
            Self::Set => Some("set"),
            Self::Map => Some("map"),
            Self::Undefined | Self::Url | Self::RegExp => None,
        }
    }

    /// Whether `new Map(...)` takes the restored value as an entry (it must be an object).
    fn is_object(self) -> bool {
        matches!(
            self,
            Self::Date | Self::Url | Self::RegExp | Self::Set | Self::Map
        )
    }
}

/// One step of a path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl Step {
    fn to_json(&self) -> Value {
        match self {
            Self::Key(key) => json!(key),
            Self::Index(index) => json!(index),
        }
    }
}

/// A free-form field of a route: its top-level key, and whether the field itself (not only
/// what it contains) is free-form.
pub(crate) type FreeForm = (&'static str, bool);

/// zod's name for a value's type, seeing through restored-value markers.
pub(crate) fn type_name(value: &Value) -> &'static str {
    marker(value).unwrap_or_else(|| json_type_name(value))
}

/// The zod type name a marker object stands for, or `None` for any other value.
pub(crate) fn marker(value: &Value) -> Option<&'static str> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let name = map.get(MARKER_KEY)?.as_str()?;
    ["bigint", "date", "nan", "set", "map"]
        .into_iter()
        .find(|known| *known == name)
}

/// JavaScript's `ToPropertyKey` of a JSON value used as a path segment.
fn property_key(segment: &Value) -> String {
    match segment {
        Value::String(text) => text.clone(),
        Value::Null => "null".into(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => js_number(number),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Null => String::new(),
                other => property_key(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// The text JavaScript gives a number (exact for integers and ordinary fractions).
fn js_number(number: &serde_json::Number) -> String {
    match number.as_f64() {
        Some(float) if float.is_finite() && float.fract() == 0.0 && float.abs() < 1e21 => {
            format!("{float:.0}")
        }
        Some(float) if float.is_finite() => float.to_string(),
        _ => "Infinity".into(),
    }
}

/// The canonical array index a property key names, if any.
fn array_index(key: &str) -> Option<usize> {
    let digits = !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
    let canonical = key == "0" || !key.starts_with('0');
    if digits && canonical {
        key.parse().ok()
    } else {
        None
    }
}

/// The type and raw path segments of one `meta` entry, or `None` when the serializer skips it.
fn entry(item: &Value) -> Result<Option<(Kind, Vec<Value>)>, ApiError> {
    match item {
        // `null[0]` throws.
        Value::Null => Err(ApiError::malformed()),
        Value::Array(parts) => Ok(parts
            .first()
            .and_then(Kind::from_type)
            .map(|kind| (kind, parts[1..].to_vec()))),
        // An object is read like an array: `item[0]` and `item.length`.
        Value::Object(map) => {
            let Some(kind) = map.get("0").and_then(Kind::from_type) else {
                return Ok(None);
            };
            let length = map
                .get("length")
                .and_then(Value::as_f64)
                .filter(|length| *length >= 1.0)
                .map_or(1, |length| length.ceil().min(4096.0) as usize);
            let segments = (1..length)
                .map(|i| {
                    map.get(&i.to_string())
                        .cloned()
                        .unwrap_or(json!("undefined"))
                })
                .collect();
            Ok(Some((kind, segments)))
        }
        // `item[0]` of a string is its first character, of a number or boolean `undefined`.
        _ => Ok(None),
    }
}

/// Follows `segments` from the root; each step must name an own property of an object or an
/// array that is still plain JSON.
fn walk(root: Option<&Value>, segments: &[Value]) -> Result<Vec<Step>, ApiError> {
    let mut current = root;
    let mut path = Vec::with_capacity(segments.len());
    for segment in segments {
        let key = property_key(segment);
        let (step, next) = match current {
            Some(Value::Object(map)) => {
                let next = map.get(&key).ok_or_else(ApiError::malformed)?;
                (Step::Key(key), next)
            }
            Some(Value::Array(items)) => {
                let index = array_index(&key).ok_or_else(ApiError::malformed)?;
                let next = items.get(index).ok_or_else(ApiError::malformed)?;
                (Step::Index(index), next)
            }
            // Primitives either have no such property or cannot take the restored value.
            _ => return Err(ApiError::malformed()),
        };
        path.push(step);
        current = Some(next);
    }
    Ok(path)
}

fn at<'a>(root: Option<&'a Value>, path: &[Step]) -> Option<&'a Value> {
    path.iter()
        .try_fold(root?, |value, step| match (value, step) {
            (Value::Object(map), Step::Key(key)) => map.get(key),
            (Value::Array(items), Step::Index(index)) => items.get(*index),
            _ => None,
        })
}

fn is_regexp(text: &str) -> bool {
    let Some(body) = text.strip_prefix('/') else {
        return false;
    };
    let Some((source, flags)) = body.rsplit_once('/') else {
        return false;
    };
    // `.` in `^\/(.*)\/([a-z]*)$` stops at line terminators.
    let one_line = !source.contains(['\n', '\r', '\u{2028}', '\u{2029}']);
    let mut seen = String::new();
    let flags_ok = flags.chars().all(|flag| {
        let fresh = "dgimsuvy".contains(flag) && !seen.contains(flag);
        seen.push(flag);
        fresh
    }) && !(flags.contains('u') && flags.contains('v'));
    one_line && flags_ok
}

fn is_bigint(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.len() <= MAX_BIGINT_DIGITS
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

/// Checks that the serialized value has the JSON shape its type wants.
fn check_shape(
    kind: Kind,
    value: Option<&Value>,
    path: &[Step],
    restored: &[(Kind, Vec<Step>)],
) -> Result<(), ApiError> {
    let ok = match (kind, value) {
        (Kind::BigInt, Some(Value::String(text))) => is_bigint(text),
        (Kind::Date, Some(Value::String(_) | Value::Null)) => true,
        (Kind::NaN | Kind::Undefined, Some(Value::Null)) => true,
        (Kind::Url, Some(Value::String(text))) => ::url::Url::parse(text).is_ok(),
        (Kind::RegExp, Some(Value::String(text))) => is_regexp(text),
        (Kind::Set, Some(Value::Array(_))) => true,
        (Kind::Map, Some(Value::Array(items))) => items.iter().enumerate().all(|(i, item)| {
            let mut item_path = path.to_vec();
            item_path.push(Step::Index(i));
            match restored.iter().rev().find(|(_, p)| *p == item_path) {
                Some((item_kind, _)) => item_kind.is_object(),
                None => matches!(item, Value::Array(_) | Value::Object(_)),
            }
        }),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::malformed())
    }
}

/// Validates every `meta` entry against the input; the restored values, in order.
fn read_entries(
    root: Option<&Value>,
    meta: Option<&Value>,
) -> Result<Vec<(Kind, Vec<Step>)>, ApiError> {
    let items = match meta {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        // A string iterates as characters, each skipped; anything else is not iterable.
        Some(Value::String(_)) => return Ok(Vec::new()),
        Some(_) => return Err(ApiError::malformed()),
    };
    let mut restored: Vec<(Kind, Vec<Step>)> = Vec::new();
    for item in items {
        let Some((kind, segments)) = entry(item)? else {
            continue;
        };
        let path = walk(root, &segments)?;
        // A restored value has no own properties and no JSON shape a type accepts.
        if restored.iter().any(|(_, done)| path.starts_with(done)) {
            return Err(ApiError::malformed());
        }
        check_shape(kind, at(root, &path), &path, &restored)?;
        restored.push((kind, path));
    }
    Ok(restored)
}

/// The ISO form `Date.prototype.toJSON` gives a date string, or `None` for an invalid date.
fn iso_date(text: &str) -> Option<String> {
    let utc = DateTime::parse_from_rfc3339(text)
        .map(|date| date.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
                .iter()
                .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
                .map(|naive| naive.and_utc())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|date| date.and_hms_opt(0, 0, 0))
                .map(|naive| naive.and_utc())
        })?;
    Some(utc.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// What a restored value becomes where it sits: `None` removes it (an undefined property).
fn replacement(kind: Kind, serialized: &Value, free_form: bool) -> Option<Value> {
    if free_form {
        if kind == Kind::Undefined {
            return None;
        }
        return Some(match kind {
            Kind::Date => serialized
                .as_str()
                .and_then(iso_date)
                .map_or(Value::Null, Value::String),
            Kind::Url => serialized
                .as_str()
                .and_then(|text| ::url::Url::parse(text).ok())
                .map_or(Value::Null, |url| Value::String(url.into())),
            Kind::NaN | Kind::Undefined => Value::Null,
            Kind::RegExp | Kind::Set | Kind::Map => Value::Object(Map::new()),
            // Only reached after the BigInt issue was recorded; never stored.
            Kind::BigInt => Value::Null,
        });
    }
    match kind.marker_name() {
        Some(name) => Some(json!({ MARKER_KEY: name })),
        None if kind == Kind::Undefined => None,
        None => Some(Value::Object(Map::new())),
    }
}

fn is_free_form(path: &[Step], free_form: &[FreeForm]) -> bool {
    let Some(Step::Key(top)) = path.first() else {
        return false;
    };
    free_form
        .iter()
        .any(|(key, itself)| key == top && (*itself || path.len() > 1))
}

/// Puts `value` at `path` (or removes what is there when `None`); an undefined array item
/// becomes `null`, as JSON keeps array positions.
fn place(root: &mut Option<Value>, path: &[Step], value: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        *root = value;
        return;
    };
    let mut parent = root.as_mut();
    for step in parents {
        parent = match (parent, step) {
            (Some(Value::Object(map)), Step::Key(key)) => map.get_mut(key),
            (Some(Value::Array(items)), Step::Index(index)) => items.get_mut(*index),
            _ => None,
        };
    }
    match (parent, last) {
        (Some(Value::Object(map)), Step::Key(key)) => match value {
            Some(value) => {
                map.insert(key.clone(), value);
            }
            None => {
                map.shift_remove(key);
            }
        },
        (Some(Value::Array(items)), Step::Index(index)) => {
            if let Some(slot) = items.get_mut(*index) {
                *slot = value.unwrap_or(Value::Null);
            }
        }
        _ => {}
    }
}

/// Restores the values `meta` describes in `input` (the value under `json`, `None` when
/// absent). Malformed `meta` is a 400 BAD_REQUEST; a BigInt inside a free-form field is a
/// 400 "Input validation failed" at its path.
pub(crate) fn decode(
    input: Option<Value>,
    meta: Option<&Value>,
    free_form: &[FreeForm],
) -> Result<Option<Value>, ApiError> {
    let restored = read_entries(input.as_ref(), meta)?;
    // What a restored Set or Map holds is gone once it is restored itself.
    let effective: Vec<&(Kind, Vec<Step>)> = restored
        .iter()
        .enumerate()
        .filter(|(i, (_, path))| {
            !restored[i + 1..]
                .iter()
                .any(|(_, later)| path.len() > later.len() && path.starts_with(later))
        })
        .map(|(_, entry)| entry)
        .collect();
    let mut issues = Vec::new();
    let mut input = input;
    for (kind, path) in effective {
        let free = is_free_form(path, free_form);
        if free && *kind == Kind::BigInt {
            let path = path.iter().map(Step::to_json).collect();
            issues.push(Issue::new("custom", BIGINT_NOT_JSON, path));
            continue;
        }
        let serialized = at(input.as_ref(), path).cloned().unwrap_or(Value::Null);
        place(&mut input, path, replacement(*kind, &serialized, free));
    }
    if issues.is_empty() {
        Ok(input)
    } else {
        Err(ApiError::validation(issues))
    }
}

#[cfg(test)]
#[path = "meta_tests.rs"]
mod tests;

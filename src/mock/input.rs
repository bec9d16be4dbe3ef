//! Input validation for the mock's routes, reporting problems the way upstream's zod schemas do.
//!
//! A route reads its fields through [`Fields`], which records one [`Issue`] per problem
//! (missing, wrong type, out of range, not a UUID) instead of stopping at the first, and
//! [`Fields::finish`] turns them into one 400 "Input validation failed". Unknown fields are
//! ignored, as upstream. An optional field sent as `null` counts as absent, because clients
//! commonly pass back a `null` cursor they were given.
//!
//! Validators that more than one route shares live beside [`Fields`]: web URLs in `url.rs`
//! (webhook endpoints and job callbacks), and the launch options `jobs/create` and schedules
//! both accept in `launch.rs`.

use serde_json::{json, Map, Number, Value};
use uuid::Uuid;

use crate::http::envelope::{ApiError, Issue};
use meta::type_name;

pub(crate) mod launch;
pub(crate) mod meta;
pub(crate) mod url;

/// The longest credential name accepted.
pub(crate) const MAX_NAME_CHARS: usize = 200;

/// Longest accepted URL, description or secret, in characters.
pub(crate) const MAX_TEXT_CHARS: usize = 2048;

/// The message of an issue about a name of only whitespace.
const BLANK_NAME: &str = "Name must not be blank";

/// The message of an issue about a string that is not a UUID.
const INVALID_UUID: &str = "Invalid uuid";

/// The `Invalid uuid` issue at `path`.
pub(crate) fn invalid_uuid(path: Vec<Value>) -> Issue {
    Issue::invalid_string("uuid", INVALID_UUID, path)
}

/// 400 "Input validation failed" carrying `issues`.
pub(crate) fn validation_error(issues: &[Issue]) -> ApiError {
    ApiError::validation(issues.to_vec())
}

/// The input of a route that takes only an `id`: the UUID, or the validation error.
pub(crate) fn read_id(input: Option<&Value>) -> Result<Uuid, ApiError> {
    let mut fields = Fields::new(input, false);
    let id = fields.uuid("id", true);
    fields.finish()?;
    id.ok_or_else(|| ApiError::validation(Vec::new()))
}

/// Parses a UUID in the hyphenated form zod's `uuid()` accepts.
pub(crate) fn parse_uuid(text: &str) -> Option<Uuid> {
    if text.len() != 36 {
        return None;
    }
    Uuid::try_parse(text).ok()
}

/// What a JSON number is, read as an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whole {
    /// A whole number that fits an `i64`.
    Int(i64),
    /// A whole number (or an infinity) below every `i64`.
    BelowRange,
    /// A whole number (or an infinity) above every `i64`.
    AboveRange,
    /// Not a whole number.
    Fraction,
}

/// Reads a JSON number as an integer the way a JavaScript client would: `5`, `5.0` and `5e0`
/// are all 5. The crate keeps numbers as text, so the value is judged by its real size, not
/// by whether its text happens to be plain digits.
pub(crate) fn whole_number(number: &Number) -> Whole {
    if let Some(int) = number.as_i64() {
        return Whole::Int(int);
    }
    let negative = number.to_string().starts_with('-');
    let Some(float) = number.as_f64() else {
        // Too large for a double: an infinity to JavaScript.
        return if negative {
            Whole::BelowRange
        } else {
            Whole::AboveRange
        };
    };
    if float.fract() != 0.0 {
        return Whole::Fraction;
    }
    // `i64::MAX as f64` rounds up to 2^63, which no `i64` reaches.
    if float >= i64::MAX as f64 {
        Whole::AboveRange
    } else if float < i64::MIN as f64 {
        Whole::BelowRange
    } else {
        // Whole and within range, so the cast is exact.
        Whole::Int(float as i64)
    }
}

fn too_small(min: i64) -> (&'static str, String) {
    (
        "too_small",
        format!("Number must be greater than or equal to {min}"),
    )
}

fn too_big(max: i64) -> (&'static str, String) {
    (
        "too_big",
        format!("Number must be less than or equal to {max}"),
    )
}

/// Reads the fields of one route input, collecting issues.
pub(crate) struct Fields<'a> {
    map: Option<&'a Map<String, Value>>,
    issues: Vec<Issue>,
}

impl<'a> Fields<'a> {
    /// Starts reading `input` (the value under `json`). A route whose fields are all optional
    /// passes `optional_input`, so a missing input reads as `{}`.
    pub(crate) fn new(input: Option<&'a Value>, optional_input: bool) -> Self {
        let mut issues = Vec::new();
        let map = match input {
            Some(Value::Object(map)) => Some(map),
            None | Some(Value::Null) if optional_input => None,
            None => {
                issues.push(Issue {
                    message: "Required".into(),
                    ..Issue::invalid_type(vec![], "object", "undefined")
                });
                None
            }
            Some(other) => {
                issues.push(Issue::invalid_type(vec![], "object", type_name(other)));
                None
            }
        };
        Self { map, issues }
    }

    /// Records a problem found outside the field readers.
    pub(crate) fn push(&mut self, issue: Issue) {
        self.issues.push(issue);
    }

    /// A required field of any JSON type; `null` counts as missing.
    pub(crate) fn required_value(&mut self, key: &str) -> Option<&'a Value> {
        let value = self.value(key);
        if value.is_none() && self.readable() {
            self.issues.push(Issue::required(key));
        }
        value
    }

    /// A name: 1 to [`MAX_NAME_CHARS`] characters, not only whitespace.
    pub(crate) fn name(&mut self, key: &str, required: bool) -> Option<&'a str> {
        let name = self.bounded_string(key, required, MAX_NAME_CHARS)?;
        if name.trim().is_empty() {
            self.issues
                .push(Issue::new("custom", BLANK_NAME, vec![json!(key)]));
            return None;
        }
        Some(name)
    }

    /// The raw value of a field, absent when missing or `null`.
    pub(crate) fn value(&self, key: &str) -> Option<&'a Value> {
        self.map
            .and_then(|map| map.get(key))
            .filter(|value| !value.is_null())
    }

    /// Whether the whole input was readable as an object (so per-field issues make sense).
    fn readable(&self) -> bool {
        self.map.is_some() || self.issues.is_empty()
    }

    fn typed<T>(
        &mut self,
        key: &str,
        required: bool,
        expected: &'static str,
        read: impl Fn(&'a Value) -> Option<T>,
    ) -> Option<T> {
        let raw = self.map.and_then(|map| map.get(key));
        match raw {
            None if required && self.readable() => {
                self.issues.push(Issue {
                    message: "Required".into(),
                    ..Issue::invalid_type(vec![json!(key)], expected, "undefined")
                });
                None
            }
            Some(Value::Null) if required => {
                self.issues
                    .push(Issue::invalid_type(vec![json!(key)], expected, "null"));
                None
            }
            None | Some(Value::Null) => None,
            Some(value) => {
                let read_value = read(value).filter(|_| meta::marker(value).is_none());
                if read_value.is_none() {
                    self.issues.push(Issue::invalid_type(
                        vec![json!(key)],
                        expected,
                        type_name(value),
                    ));
                }
                read_value
            }
        }
    }

    pub(crate) fn string(&mut self, key: &str, required: bool) -> Option<&'a str> {
        self.typed(key, required, "string", Value::as_str)
    }

    pub(crate) fn bool(&mut self, key: &str) -> Option<bool> {
        self.typed(key, false, "boolean", Value::as_bool)
    }

    pub(crate) fn object(&mut self, key: &str, required: bool) -> Option<&'a Map<String, Value>> {
        self.typed(key, required, "object", Value::as_object)
    }

    /// A string of 1 to `max` characters.
    pub(crate) fn bounded_string(
        &mut self,
        key: &str,
        required: bool,
        max: usize,
    ) -> Option<&'a str> {
        let text = self.string(key, required)?;
        let chars = text.chars().count();
        if chars == 0 {
            self.issues.push(Issue::new(
                "too_small",
                "String must contain at least 1 character(s)",
                vec![json!(key)],
            ));
            return None;
        }
        if chars > max {
            self.issues.push(Issue::new(
                "too_big",
                format!("String must contain at most {max} character(s)"),
                vec![json!(key)],
            ));
            return None;
        }
        Some(text)
    }

    pub(crate) fn uuid(&mut self, key: &str, required: bool) -> Option<Uuid> {
        let text = self.string(key, required)?;
        let parsed = parse_uuid(text);
        if parsed.is_none() {
            self.issues.push(invalid_uuid(vec![json!(key)]));
        }
        parsed
    }

    /// An integer within `min..=max`. A whole number written as a float or with an exponent
    /// (`5.0`, `1e3`) is that integer, as JavaScript reads it; a fraction is refused.
    pub(crate) fn integer(&mut self, key: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.value(key)?;
        let Some(number) = value.as_number() else {
            self.issues.push(Issue::invalid_type(
                vec![json!(key)],
                "number",
                type_name(value),
            ));
            return None;
        };
        let issue = match whole_number(number) {
            Whole::Int(int) if int < min => too_small(min),
            Whole::Int(int) if int > max => too_big(max),
            Whole::Int(int) => return Some(int),
            Whole::BelowRange => too_small(min),
            Whole::AboveRange => too_big(max),
            Whole::Fraction => (
                "invalid_type",
                "Expected integer, received float".to_string(),
            ),
        };
        let (code, message) = issue;
        self.issues
            .push(Issue::new(code, message, vec![json!(key)]));
        None
    }

    /// One of `allowed`.
    pub(crate) fn one_of(&mut self, key: &str, allowed: &[&'static str]) -> Option<&'static str> {
        let text = self.string(key, false)?;
        let found = allowed.iter().copied().find(|candidate| *candidate == text);
        if found.is_none() {
            let expected = allowed
                .iter()
                .map(|candidate| format!("'{candidate}'"))
                .collect::<Vec<_>>()
                .join(" | ");
            self.issues.push(Issue::new(
                "invalid_enum_value",
                format!("Invalid enum value. Expected {expected}, received '{text}'"),
                vec![json!(key)],
            ));
        }
        found
    }

    /// Ends reading: every recorded problem, or nothing.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.issues.is_empty() {
            Ok(())
        } else {
            Err(validation_error(&self.issues))
        }
    }
}

#[cfg(test)]
mod tests;

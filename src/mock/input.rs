//! Input validation for the mock's routes, reporting problems the way upstream's zod schemas do.
//!
//! A route reads its fields through [`Fields`], which records one [`Issue`] per problem
//! (missing, wrong type, out of range, not a UUID) instead of stopping at the first, and
//! [`Fields::finish`] turns them into one 400 "Input validation failed". Unknown fields are
//! ignored, as upstream. An optional field sent as `null` counts as absent, because clients
//! commonly pass back a `null` cursor they were given.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::envelope::{json_type_name, ApiError, Issue};

/// The longest credential name accepted.
pub const MAX_NAME_CHARS: usize = 200;

/// The message of an issue about a string that is not a UUID.
pub const INVALID_UUID: &str = "Invalid uuid";

/// The `Invalid uuid` issue at `path`.
pub fn invalid_uuid(path: Vec<Value>) -> Issue {
    Issue::invalid_string("uuid", INVALID_UUID, path)
}

/// 400 "Input validation failed" carrying `issues`.
pub fn validation_error(issues: &[Issue]) -> ApiError {
    ApiError::validation(issues.to_vec())
}

/// Parses a UUID in the hyphenated form zod's `uuid()` accepts.
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    if text.len() != 36 {
        return None;
    }
    Uuid::try_parse(text).ok()
}

/// Reads the fields of one route input, collecting issues.
pub struct Fields<'a> {
    map: Option<&'a Map<String, Value>>,
    issues: Vec<Issue>,
}

impl<'a> Fields<'a> {
    /// Starts reading `input` (the value under `json`). A route whose fields are all optional
    /// passes `optional_input`, so a missing input reads as `{}`.
    pub fn new(input: Option<&'a Value>, optional_input: bool) -> Self {
        let mut issues = Vec::new();
        let map = match input {
            Some(Value::Object(map)) => Some(map),
            None | Some(Value::Null) if optional_input => None,
            None => {
                issues.push(Issue::new("invalid_type", "Required", vec![]));
                None
            }
            Some(other) => {
                issues.push(Issue::new(
                    "invalid_type",
                    format!("Expected object, received {}", json_type_name(other)),
                    vec![],
                ));
                None
            }
        };
        Self { map, issues }
    }

    /// Records a problem found outside the field readers.
    pub fn push(&mut self, issue: Issue) {
        self.issues.push(issue);
    }

    /// Whether any problem was found so far.
    pub fn has_issues(&self) -> bool {
        !self.issues.is_empty()
    }

    /// The raw value of a field, absent when missing or `null`.
    pub fn value(&self, key: &str) -> Option<&'a Value> {
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
        expected: &str,
        read: impl Fn(&'a Value) -> Option<T>,
    ) -> Option<T> {
        let raw = self.map.and_then(|map| map.get(key));
        match raw {
            None if required && self.readable() => {
                self.issues.push(Issue::required(key));
                None
            }
            Some(Value::Null) if required => {
                self.issues
                    .push(Issue::wrong_type(key, expected, &Value::Null));
                None
            }
            None | Some(Value::Null) => None,
            Some(value) => {
                let read_value = read(value);
                if read_value.is_none() {
                    self.issues.push(Issue::wrong_type(key, expected, value));
                }
                read_value
            }
        }
    }

    pub fn string(&mut self, key: &str, required: bool) -> Option<&'a str> {
        self.typed(key, required, "string", Value::as_str)
    }

    pub fn bool(&mut self, key: &str) -> Option<bool> {
        self.typed(key, false, "boolean", Value::as_bool)
    }

    pub fn object(&mut self, key: &str, required: bool) -> Option<&'a Map<String, Value>> {
        self.typed(key, required, "object", Value::as_object)
    }

    /// A string of 1 to `max` characters.
    pub fn bounded_string(&mut self, key: &str, required: bool, max: usize) -> Option<&'a str> {
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

    pub fn uuid(&mut self, key: &str, required: bool) -> Option<Uuid> {
        let text = self.string(key, required)?;
        let parsed = parse_uuid(text);
        if parsed.is_none() {
            self.issues.push(invalid_uuid(vec![json!(key)]));
        }
        parsed
    }

    /// An integer within `min..=max`.
    pub fn integer(&mut self, key: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.value(key)?;
        let Some(number) = value.as_number() else {
            self.issues.push(Issue::wrong_type(key, "number", value));
            return None;
        };
        let Some(int) = number.as_i64() else {
            let message = if number.as_f64().is_some_and(|f| f.fract() != 0.0) {
                "Expected integer, received float".to_string()
            } else {
                format!("Number must be less than or equal to {max}")
            };
            let code = if message.starts_with("Expected") {
                "invalid_type"
            } else {
                "too_big"
            };
            self.issues
                .push(Issue::new(code, message, vec![json!(key)]));
            return None;
        };
        if int < min {
            self.issues.push(Issue::new(
                "too_small",
                format!("Number must be greater than or equal to {min}"),
                vec![json!(key)],
            ));
            return None;
        }
        if int > max {
            self.issues.push(Issue::new(
                "too_big",
                format!("Number must be less than or equal to {max}"),
                vec![json!(key)],
            ));
            return None;
        }
        Some(int)
    }

    /// One of `allowed`.
    pub fn one_of(&mut self, key: &str, allowed: &[&'static str]) -> Option<&'static str> {
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
    pub fn finish(self) -> Result<(), ApiError> {
        if self.issues.is_empty() {
            Ok(())
        } else {
            Err(validation_error(&self.issues))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(err: ApiError) -> Value {
        err.data.unwrap()["issues"].clone()
    }

    #[test]
    fn missing_input_is_one_issue_at_the_root() {
        let mut fields = Fields::new(None, false);
        assert!(fields.string("name", true).is_none());
        assert_eq!(
            issues(fields.finish().unwrap_err()),
            json!([{"code": "invalid_type", "message": "Required", "path": []}])
        );
    }

    #[test]
    fn optional_input_may_be_missing() {
        let mut fields = Fields::new(None, true);
        assert!(fields.string("cursor", false).is_none());
        assert!(fields.finish().is_ok());
    }

    #[test]
    fn one_issue_per_problem() {
        let input = json!({"name": 5, "id": "nope", "limit": 0, "extra": true});
        let mut fields = Fields::new(Some(&input), false);
        fields.string("name", true);
        fields.uuid("id", true);
        fields.integer("limit", 1, 100);
        fields.string("missing", true);
        assert_eq!(
            issues(fields.finish().unwrap_err()),
            json!([
                {"code": "invalid_type", "message": "Expected string, received number", "path": ["name"]},
                {"code": "invalid_string", "validation": "uuid", "message": "Invalid uuid", "path": ["id"]},
                {"code": "too_small", "message": "Number must be greater than or equal to 1", "path": ["limit"]},
                {"code": "invalid_type", "message": "Required", "path": ["missing"]},
            ])
        );
    }

    #[test]
    fn integers_and_floats() {
        let input = json!({"a": 1.5, "b": 101, "c": 7});
        let mut fields = Fields::new(Some(&input), false);
        assert_eq!(fields.integer("a", 1, 100), None);
        assert_eq!(fields.integer("b", 1, 100), None);
        assert_eq!(fields.integer("c", 1, 100), Some(7));
        let found = issues(fields.finish().unwrap_err());
        assert_eq!(found[0]["message"], "Expected integer, received float");
        assert_eq!(found[1]["code"], "too_big");
    }

    #[test]
    fn names_are_bounded() {
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        let input = json!({"a": "", "b": long, "c": "ü".repeat(MAX_NAME_CHARS)});
        let mut fields = Fields::new(Some(&input), false);
        assert!(fields.bounded_string("a", true, MAX_NAME_CHARS).is_none());
        assert!(fields.bounded_string("b", true, MAX_NAME_CHARS).is_none());
        assert!(fields.bounded_string("c", true, MAX_NAME_CHARS).is_some());
        assert_eq!(
            issues(fields.finish().unwrap_err())
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn uuids_must_be_hyphenated() {
        assert!(parse_uuid("6f1c2a4e-0d3b-4c5a-9e7f-1a2b3c4d5e6f").is_some());
        assert!(parse_uuid("6f1c2a4e0d3b4c5a9e7f1a2b3c4d5e6f").is_none());
        assert!(parse_uuid("not-a-uuid").is_none());
    }

    #[test]
    fn enums_name_the_choices() {
        let input = json!({"level": "debug"});
        let mut fields = Fields::new(Some(&input), false);
        assert_eq!(fields.one_of("level", &["info", "warn"]), None);
        assert_eq!(
            issues(fields.finish().unwrap_err())[0]["message"],
            "Invalid enum value. Expected 'info' | 'warn', received 'debug'"
        );
    }
}

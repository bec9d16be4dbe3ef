//! Input validation for the mock's routes, reporting problems the way upstream's zod schemas do.
//!
//! A route reads its fields through [`Fields`], which records one [`Issue`] per problem
//! (missing, wrong type, out of range, not a UUID) instead of stopping at the first, and
//! [`Fields::finish`] turns them into one 400 "Input validation failed". Unknown fields are
//! ignored, as upstream. An optional field sent as `null` counts as absent, because clients
//! commonly pass back a `null` cursor they were given.

use serde_json::{json, Map, Number, Value};
use uuid::Uuid;

use crate::envelope::{json_type_name, ApiError, Issue};

/// The longest credential name accepted.
pub const MAX_NAME_CHARS: usize = 200;

/// The message of an issue about a name of only whitespace.
pub const BLANK_NAME: &str = "Name must not be blank";

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

/// What a JSON number is, read as an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whole {
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
pub fn whole_number(number: &Number) -> Whole {
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

    /// A required field of any JSON type; `null` counts as missing.
    pub fn required_value(&mut self, key: &str) -> Option<&'a Value> {
        let value = self.value(key);
        if value.is_none() && self.readable() {
            self.issues.push(Issue::required(key));
        }
        value
    }

    /// A name: 1 to [`MAX_NAME_CHARS`] characters, not only whitespace.
    pub fn name(&mut self, key: &str, required: bool) -> Option<&'a str> {
        let name = self.bounded_string(key, required, MAX_NAME_CHARS)?;
        if name.trim().is_empty() {
            self.issues
                .push(Issue::new("custom", BLANK_NAME, vec![json!(key)]));
            return None;
        }
        Some(name)
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

    /// An integer within `min..=max`. A whole number written as a float or with an exponent
    /// (`5.0`, `1e3`) is that integer, as JavaScript reads it; a fraction is refused.
    pub fn integer(&mut self, key: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.value(key)?;
        let Some(number) = value.as_number() else {
            self.issues.push(Issue::wrong_type(key, "number", value));
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
    fn whole_numbers_in_any_spelling_are_integers() {
        let input: Value = serde_json::from_str(
            r#"{"a": 5.0, "b": 1e3, "c": -1.0, "d": 10.0, "e": 5.5, "f": 1e400, "g": -1e400,
                "h": 123456789012345678901234567890, "i": -9e30, "j": 2.5e0, "k": 0.5e1}"#,
        )
        .unwrap();
        let mut fields = Fields::new(Some(&input), false);
        assert_eq!(fields.integer("a", 1, 100), Some(5));
        assert_eq!(fields.integer("b", 1, 3600), Some(1000));
        assert_eq!(fields.integer("d", 1, 3600), Some(10));
        assert_eq!(fields.integer("k", 1, 100), Some(5));
        assert_eq!(fields.integer("c", 1, 1000), None);
        assert_eq!(fields.integer("e", 1, 100), None);
        assert_eq!(fields.integer("f", 1, 100), None);
        assert_eq!(fields.integer("g", 1, 100), None);
        assert_eq!(fields.integer("h", 1, 100), None);
        assert_eq!(fields.integer("i", 1, 100), None);
        assert_eq!(fields.integer("j", 1, 100), None);
        let found = issues(fields.finish().unwrap_err());
        let codes: Vec<(&str, &str)> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|issue| {
                (
                    issue["path"][0].as_str().unwrap(),
                    issue["code"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            codes,
            [
                ("c", "too_small"),
                ("e", "invalid_type"),
                ("f", "too_big"),
                ("g", "too_small"),
                ("h", "too_big"),
                ("i", "too_small"),
                ("j", "invalid_type"),
            ]
        );
        assert_eq!(found[1]["message"], "Expected integer, received float");
        assert_eq!(
            found[0]["message"],
            "Number must be greater than or equal to 1"
        );
    }

    #[test]
    fn whole_number_edges() {
        let read = |text: &str| whole_number(&serde_json::from_str::<Number>(text).unwrap());
        assert_eq!(read("9223372036854775807"), Whole::Int(i64::MAX));
        assert_eq!(read("9223372036854775808"), Whole::AboveRange);
        assert_eq!(read("-9223372036854775808"), Whole::Int(i64::MIN));
        assert_eq!(read("-9223372036854775808.0"), Whole::Int(i64::MIN));
        assert_eq!(read("9.3e18"), Whole::AboveRange);
        assert_eq!(read("-0.0"), Whole::Int(0));
        assert_eq!(read("0.1"), Whole::Fraction);
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
    fn names_are_not_blank() {
        let input = json!({"a": "  \t", "b": " x ", "c": ""});
        let mut fields = Fields::new(Some(&input), false);
        assert_eq!(fields.name("a", true), None);
        assert_eq!(fields.name("b", true), Some(" x "));
        assert_eq!(fields.name("c", true), None);
        assert_eq!(fields.name("d", false), None);
        let found = issues(fields.finish().unwrap_err());
        assert_eq!(
            found,
            json!([
                {"code": "custom", "message": "Name must not be blank", "path": ["a"]},
                {"code": "too_small", "message": "String must contain at least 1 character(s)", "path": ["c"]},
            ])
        );
    }

    #[test]
    fn required_values_may_be_any_json() {
        let input = json!({"a": "text", "b": null});
        let mut fields = Fields::new(Some(&input), false);
        assert_eq!(fields.required_value("a"), Some(&json!("text")));
        assert_eq!(fields.required_value("b"), None);
        assert_eq!(
            issues(fields.finish().unwrap_err()),
            json!([{"code": "invalid_type", "message": "Required", "path": ["b"]}])
        );
        let not_an_object = json!(5);
        let mut fields = Fields::new(Some(&not_an_object), false);
        assert_eq!(fields.required_value("a"), None);
        assert_eq!(
            issues(fields.finish().unwrap_err())
                .as_array()
                .unwrap()
                .len(),
            1
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

//! Tests of the input readers: one issue per problem, numbers read as JavaScript reads them,
//! bounded and non-blank names, UUIDs and enums.

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
        json!([{"code": "invalid_type", "expected": "object", "received": "undefined", "message": "Required", "path": []}])
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
            {"code": "invalid_type", "expected": "string", "received": "number", "message": "Expected string, received number", "path": ["name"]},
            {"code": "invalid_string", "validation": "uuid", "message": "Invalid uuid", "path": ["id"]},
            {"code": "too_small", "message": "Number must be greater than or equal to 1", "path": ["limit"]},
            {"code": "invalid_type", "expected": "string", "received": "undefined", "message": "Required", "path": ["missing"]},
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

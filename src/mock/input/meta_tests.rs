//! Unit tests of `meta` decoding, each case checked against a real `@orpc/server` RPCHandler.

use serde_json::{json, Value};

use super::*;

const FREE: &[FreeForm] = &[("params", false), ("value", true)];

fn decoded(input: Value, meta: Value) -> Result<Option<Value>, ApiError> {
    decode(Some(input), Some(&meta), FREE)
}

fn malformed(input: Value, meta: Value) {
    assert_eq!(
        decoded(input.clone(), meta.clone()).unwrap_err(),
        ApiError::malformed(),
        "{input} {meta}"
    );
}

#[test]
fn no_meta_leaves_the_input_alone() {
    let input = json!({"name": "a"});
    assert_eq!(
        decode(Some(input.clone()), None, FREE).unwrap(),
        Some(input.clone())
    );
    assert_eq!(
        decoded(input.clone(), json!(null)).unwrap(),
        Some(input.clone())
    );
    assert_eq!(
        decoded(input.clone(), json!([])).unwrap(),
        Some(input.clone())
    );
    // A string iterates as characters, none of them a type.
    assert_eq!(
        decoded(input.clone(), json!("abc")).unwrap(),
        Some(input.clone())
    );
    // Unknown types, types that are not numbers and items that are not arrays are skipped.
    assert_eq!(
        decoded(
            input.clone(),
            json!([[9, "x"], ["1", "name"], [1.5], true, 3, "1"])
        )
        .unwrap(),
        Some(input)
    );
}

#[test]
fn meta_that_is_not_a_list_or_holds_null_is_malformed() {
    malformed(json!({"name": "a"}), json!(5));
    malformed(json!({"name": "a"}), json!({}));
    malformed(json!({"name": "a"}), json!([null]));
}

#[test]
fn paths_must_exist_and_lead_through_plain_json() {
    malformed(json!({"name": "a"}), json!([[1, "nope"]]));
    malformed(json!({"a": [null]}), json!([[3, "a", 1]]));
    malformed(json!({"a": [null]}), json!([[3, "a", "00"]]));
    malformed(json!({"a": [null]}), json!([[3, "a", "length"]]));
    malformed(json!({"a": "text"}), json!([[1, "a", 0]]));
    // Through a value restored before.
    malformed(json!({"a": [null]}), json!([[3, "a", 0], [3, "a", "0"]]));
    malformed(json!({"s": [["x"]]}), json!([[6, "s"], [6, "s", 0]]));
    // No input at all.
    assert_eq!(
        decode(None, Some(&json!([[1]])), FREE).unwrap_err(),
        ApiError::malformed()
    );
}

#[test]
fn each_type_wants_its_json_shape() {
    malformed(json!({"x": "a"}), json!([[0, "x"]]));
    malformed(json!({"x": "012"}), json!([[0, "x"]]));
    malformed(json!({"x": 12}), json!([[0, "x"]]));
    malformed(json!({"x": {}}), json!([[1, "x"]]));
    malformed(json!({"x": 5}), json!([[2, "x"]]));
    malformed(json!({"x": 5}), json!([[3, "x"]]));
    malformed(json!({"x": "notaurl"}), json!([[4, "x"]]));
    malformed(json!({"x": "/a/gg"}), json!([[5, "x"]]));
    malformed(json!({"x": "/a/uv"}), json!([[5, "x"]]));
    malformed(json!({"x": "a"}), json!([[6, "x"]]));
    malformed(json!({"x": [1, 2]}), json!([[7, "x"]]));
    malformed(json!({"x": [[1, 2], "a"]}), json!([[7, "x"]]));
}

#[test]
fn restored_values_in_schema_fields_are_typed_for_validation() {
    let input =
        json!({"name": "2020-01-01T00:00:00.000Z", "n": null, "u": "https://a", "gone": null});
    let out = decoded(input, json!([[1, "name"], [2, "n"], [4, "u"], [3, "gone"]]))
        .unwrap()
        .unwrap();
    assert_eq!(type_name(&out["name"]), "date");
    assert_eq!(type_name(&out["n"]), "nan");
    // zod 3 sees a URL as an object without keys.
    assert_eq!(out["u"], json!({}));
    assert!(out.get("gone").is_none());
    // The whole input restored.
    let root = decoded(json!("2020-01-01T00:00:00.000Z"), json!([[1]]))
        .unwrap()
        .unwrap();
    assert_eq!(type_name(&root), "date");
    // A Set of Dates: the Set is what counts.
    let set = decoded(json!({"s": ["2020-01-01"]}), json!([[1, "s", 0], [6, "s"]]))
        .unwrap()
        .unwrap();
    assert_eq!(type_name(&set["s"]), "set");
}

#[test]
fn restored_values_in_free_form_fields_take_their_json_form() {
    let input = json!({"params": {
        "d": "2020-01-01", "bad": "garbage", "u": "https://x.y/a b", "s": [1], "m": [[1, 2]],
        "n": null, "r": "/a/g", "list": [null, 1], "gone": null,
    }});
    let meta = json!([
        [1, "params", "d"],
        [1, "params", "bad"],
        [4, "params", "u"],
        [6, "params", "s"],
        [7, "params", "m"],
        [2, "params", "n"],
        [5, "params", "r"],
        [3, "params", "list", 0],
        [3, "params", "gone"],
    ]);
    assert_eq!(
        decoded(input, meta).unwrap().unwrap(),
        json!({"params": {
            "d": "2020-01-01T00:00:00.000Z", "bad": null, "u": "https://x.y/a%20b", "s": {},
            "m": {}, "n": null, "r": {}, "list": [null, 1],
        }})
    );
    // `params` itself is not free-form, `value` is.
    let out = decoded(
        json!({"params": [], "value": "2020-05-17T01:15:26.670+02:00"}),
        json!([[6, "params"], [1, "value"]]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(type_name(&out["params"]), "set");
    assert_eq!(out["value"], "2020-05-16T23:15:26.670Z");
}

#[test]
fn a_bigint_has_no_json_form() {
    let err = decoded(json!({"params": {"b": "12"}}), json!([[0, "params", "b"]])).unwrap_err();
    assert_eq!(
        err,
        ApiError::validation(vec![Issue::new(
            "custom",
            BIGINT_NOT_JSON,
            vec![json!("params"), json!("b")]
        )])
    );
    // Unless a Set around it is stored as `{}`.
    assert_eq!(
        decoded(
            json!({"params": {"s": ["12"]}}),
            json!([[0, "params", "s", 0], [6, "params", "s"]])
        )
        .unwrap()
        .unwrap(),
        json!({"params": {"s": {}}})
    );
    let out = decoded(json!({"limit": "10"}), json!([[0, "limit"]]))
        .unwrap()
        .unwrap();
    assert_eq!(type_name(&out["limit"]), "bigint");
}

#[test]
fn segments_are_property_keys() {
    let out = decoded(
        json!({"a": [null], "1": null}),
        json!([[3, "a", 0.0], [2, 1]]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(out["a"], json!([null]));
    assert_eq!(type_name(&out["1"]), "nan");
    // An array-like object item.
    let out = decoded(json!({"n": null}), json!([{"0": 2, "1": "n", "length": 2}]))
        .unwrap()
        .unwrap();
    assert_eq!(type_name(&out["n"]), "nan");
}

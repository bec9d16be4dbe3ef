//! Unit tests of `placeholders`.

use super::*;
use crate::secret::Wipe;
use json_patch::PatchOperation;
use serde_json::json;

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
    let body = json!({"json": {"workflow": "{{name}}", "params": {"a": "{{ x }}", "{{y}}": 1}}});
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

#[test]
fn a_patch_failing_midway_is_undone() {
    let body = json!({"json": {"params": {"a": "{{credential:c}}", "b": "{{credential:c}}"}}});
    let scan = scan(&body, Scope::JobParams).unwrap();
    let patch = plan(&scan, &creds(json!({"c": "s3cret"}))).unwrap();
    // The first operation finds its string, the second does not.
    let mut other = json!({"json": {"params": {"a": "app text"}}});
    let err = apply(&mut other, &patch).unwrap_err();
    assert!(matches!(err, RewriteError::PatchFailed { ref path } if path == "/json/params/b"));
    assert_eq!(other, json!({"json": {"params": {"a": "app text"}}}));
}

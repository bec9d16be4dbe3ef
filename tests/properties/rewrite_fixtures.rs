//! Snapshot tests of the rewrite, one per file in `fixtures/rewrite/`.
//!
//! A fixture holds `description`, the request `body` (or `body_text`, raw, for bodies that are
//! not JSON), and the `credentials` the upstream would return by name. The test runs what the
//! sidecar runs — parse, scan, plan, apply — and snapshots either the outcome (the credentials
//! used, each placeholder's site, the planned patch with its values redacted, and the rewritten
//! body) or the error envelope the client would get.
//!
//! The rewritten body is shown with its real values: fixture secrets are fake, and seeing them
//! land in the right place with the right type and escaping is the point of the test. The patch
//! is shown redacted, as it would be in any log. Every error envelope is checked to hold none of
//! the fixture's secret strings.

use std::path::Path;

use libretto_sidecar::placeholders::{
    apply, parse_body, plan, redacted, scan, RewriteError, Scope,
};
use serde_json::{json, Map, Value};

fn run_fixture(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let credentials = fixture["credentials"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let raw = match (fixture.get("body"), fixture.get("body_text")) {
        (Some(body), None) => serde_json::to_vec(body).unwrap(),
        (None, Some(Value::String(raw))) => raw.clone().into_bytes(),
        _ => panic!("{}: a fixture has `body` or `body_text`", path.display()),
    };
    let mut out = Map::new();
    out.insert("description".into(), fixture["description"].clone());
    match rewrite(&raw, &credentials) {
        Ok(outcome) => out.extend(outcome),
        Err(err) => {
            let envelope = err.to_api_error().to_json();
            let shown = envelope.to_string();
            for secret in strings(&Value::Object(credentials.clone())) {
                assert!(
                    !shown.contains(&secret),
                    "{}: the error shows a secret",
                    path.display()
                );
            }
            out.insert("error".into(), envelope);
        }
    }
    Value::Object(out)
}

fn rewrite(
    raw: &[u8],
    credentials: &Map<String, Value>,
) -> Result<Map<String, Value>, RewriteError> {
    let mut body = parse_body(raw)?;
    let scan = scan(&body, Scope::JobParams)?;
    let lookup = |name: &str| credentials.get(name).cloned();
    let patch = plan(&scan, &lookup)?;
    apply(&mut body, &patch)?;
    // The rewritten body goes upstream as bytes; show what those bytes parse back to.
    let forwarded = serde_json::to_vec(&body).unwrap();
    let reparsed: Value = serde_json::from_slice(&forwarded).unwrap();
    assert_eq!(reparsed, body);

    let shown_patch = redacted(&patch);
    for secret in strings(&Value::Object(credentials.clone())) {
        assert!(!shown_patch.to_string().contains(&secret));
    }
    let sites: Vec<Value> = scan
        .sites()
        .map(|(path, placeholder)| json!([path, placeholder.to_string()]))
        .collect();
    let mut out = Map::new();
    out.insert("unchanged".into(), json!(scan.is_empty()));
    out.insert("credentials".into(), json!(scan.credential_names()));
    out.insert("sites".into(), Value::Array(sites));
    out.insert("patch".into(), shown_patch);
    out.insert("body".into(), reparsed);
    Ok(out)
}

/// Every string in a value (the fixture's secrets), at least a few characters long so that a
/// short common word cannot match by chance.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) if text.chars().count() >= 3 => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(members) => members.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn rewrite_fixtures() {
    insta::with_settings!({snapshot_path => "../../snapshots", prepend_module_to_snapshot => false}, {
        insta::glob!("../../fixtures/rewrite", "*.json", |path| {
            let outcome = run_fixture(path);
            // Pretty JSON text, not insta's own serializer, so key order and numbers' digits
            // are shown exactly as the sidecar would send them.
            insta::assert_snapshot!("rewrite_fixture", serde_json::to_string_pretty(&outcome).unwrap());
        });
    });
}

#[test]
fn every_error_code_has_a_fixture() {
    let mut codes = std::collections::BTreeSet::new();
    for entry in
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/rewrite")).unwrap()
    {
        let path = entry.unwrap().path();
        if path.extension().and_then(|ext| ext.to_str()) != Some("json") {
            continue;
        }
        let outcome = run_fixture(&path);
        if let Some(code) = outcome.pointer("/error/json/code") {
            codes.insert(code.as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        codes.into_iter().collect::<Vec<_>>(),
        vec![
            "CREDENTIAL_FIELD_NOT_FOUND",
            "CREDENTIAL_FIELD_NOT_TEXT",
            "CREDENTIAL_NOT_FOUND",
            "PLACEHOLDER_INVALID",
            "PLACEHOLDER_NOT_ALLOWED",
        ]
    );
}

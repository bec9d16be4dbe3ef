//! The rewrite, scan → plan → apply, on raw bodies against one fixed credential `c`.
//!
//! When a body scans and plans, the rewritten body:
//!
//! - serializes, and its text parses back to the same value;
//! - keeps every object's keys in the order sent;
//! - differs from the body sent only at the strings the scan found (placeholder and escape
//!   sites), and each of those holds exactly what the grammar says: the value pointed to for a
//!   whole-string placeholder, else the text with each placeholder's value as text and each
//!   escape's `!` removed — so every site was replaced;
//! - holds no unresolved placeholder: a fresh scan of it finds no placeholder site, except in
//!   strings whose new text spells `{{` on purpose (an escape's literal `{{credential:` text, or
//!   a filled-in value that itself reads like a placeholder, which is never scanned again).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::placeholders::grammar::{Piece, Template};
use crate::placeholders::{apply, parse_body, plan, scan, scan_with, Collect, Scope};

/// The one credential the lookups know; its `p` field looks like a placeholder, to show that a
/// filled-in value is not read again.
fn credential() -> Value {
    json!({
        "username": "u-name",
        "n": 1.50,
        "t": true,
        "z": null,
        "o": {"k": ["v", 2]},
        "p": "{{credential:c/username}}",
        "a/b": "slash",
    })
}

pub fn rewrite(data: &[u8]) {
    let Ok(sent) = parse_body(data) else {
        return;
    };
    let Ok(found) = scan(&sent, Scope::JobParams) else {
        return;
    };
    let credential = credential();
    let lookup = |name: &str| (name == "c").then(|| credential.clone());
    let Ok(patch) = plan(&found, &lookup) else {
        return;
    };
    let mut output = sent.clone();
    apply(&mut output, &patch).expect("a planned patch applies to the body it was planned for");

    let text = serde_json::to_vec(&output).expect("a rewritten body serializes");
    let reparsed = parse_body(&text).expect("a rewritten body's text parses");
    assert_eq!(
        reparsed, output,
        "the rewritten text reads back differently"
    );

    let sites: BTreeSet<String> = found
        .sites()
        .map(|(path, _)| path.to_owned())
        .chain(found.escape_only_paths().map(str::to_owned))
        .collect();
    let mut spelled = Vec::new();
    compare(
        &sent,
        &output,
        &mut String::new(),
        &sites,
        &credential,
        &mut spelled,
    );

    let (fresh, _) = scan_with(&output, Scope::JobParams, Collect::All);
    for (path, placeholder) in fresh.sites() {
        let on_purpose = spelled
            .iter()
            .any(|site| path == site || path.starts_with(&format!("{site}/")));
        assert!(
            on_purpose,
            "unresolved placeholder {placeholder} at {path} after the rewrite"
        );
    }
    if spelled.is_empty() {
        let again = scan(&output, Scope::JobParams).expect("a rewritten body scans clean");
        assert!(again.is_empty(), "a rewritten body still has sites");
    }
}

/// Walks the body sent and the rewritten one side by side. `spelled` gathers the sites whose new
/// value spells `{{` on purpose.
fn compare(
    sent: &Value,
    output: &Value,
    path: &mut String,
    sites: &BTreeSet<String>,
    credential: &Value,
    spelled: &mut Vec<String>,
) {
    if sites.contains(path.as_str()) {
        let Value::String(text) = sent else {
            panic!("a site at {path} that is not a string");
        };
        let template = Template::parse(text).expect("a scanned site parses");
        let expected = render(&template, credential);
        assert_eq!(
            output, &expected,
            "the site at {path} was not filled in right"
        );
        if expected.to_string().contains("{{") {
            spelled.push(path.clone());
        }
        return;
    }
    match (sent, output) {
        (Value::Object(before), Value::Object(after)) => {
            let keys: Vec<&String> = before.keys().collect();
            let kept: Vec<&String> = after.keys().collect();
            assert_eq!(keys, kept, "keys at {path:?} changed or moved");
            for (key, value) in before {
                let len = path.len();
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                compare(value, &after[key], path, sites, credential, spelled);
                path.truncate(len);
            }
        }
        (Value::Array(before), Value::Array(after)) => {
            assert_eq!(
                before.len(),
                after.len(),
                "the array at {path:?} changed length"
            );
            for (index, (value, new)) in before.iter().zip(after).enumerate() {
                let len = path.len();
                path.push_str(&format!("/{index}"));
                compare(value, new, path, sites, credential, spelled);
                path.truncate(len);
            }
        }
        _ => assert_eq!(sent, output, "{path:?} changed but is no site"),
    }
}

/// What the grammar says a site becomes.
fn render(template: &Template, credential: &Value) -> Value {
    let value_of = |placeholder: &crate::placeholders::grammar::Placeholder| {
        credential
            .pointer(&placeholder.json_pointer())
            .cloned()
            .expect("a planned placeholder points into the credential")
    };
    if let Some(whole) = template.whole() {
        return value_of(whole);
    }
    let mut text = String::new();
    for piece in template.pieces() {
        match piece {
            Piece::Text(literal) => text.push_str(literal),
            Piece::Placeholder(placeholder) => match value_of(placeholder) {
                Value::String(value) => text.push_str(&value),
                Value::Number(number) => text.push_str(&number.to_string()),
                Value::Bool(flag) => text.push_str(if flag { "true" } else { "false" }),
                other => panic!("{other} was filled in as text"),
            },
        }
    }
    Value::String(text)
}

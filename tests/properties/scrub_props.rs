//! Properties of the answer scrubber over generated secrets and answers: a known secret never
//! survives a scrub, in plain text or inside JSON text embedded in a string (escaped as serde
//! writes it, as Python writes it with non-ASCII as `\uXXXX`, and escaped twice), and the rest
//! of the answer is left as it was.

use libretto_sidecar::sidecar::answer::scrub::{Scrubber, REDACTED};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Secrets with quotes, backslashes, slashes, braces, non-ASCII and astral text among them,
/// and the characters of `[redacted]` itself.
fn secret() -> impl Strategy<Value = String> {
    "[A-Z0-9\"\\\\ü😀\u{7}/{}\\[\\]redact]{6,14}"
}

/// JSON text as Python's `json.dumps` writes it: non-ASCII as `\uXXXX`, surrogate pairs
/// beyond the BMP.
fn python_dumps(value: &Value) -> String {
    let text = serde_json::to_string(value).unwrap();
    let mut out = String::new();
    for ch in text.chars() {
        if ch.is_ascii() {
            out.push(ch);
        } else {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The answer's text with every replacement marked by a character no secret holds, so that a
/// replacement cannot be taken for a secret that survived.
fn marked(answer: &Value) -> Vec<String> {
    collect_strings(answer)
        .into_iter()
        .map(|text| text.replace(REDACTED, "\u{0}"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: crate::regressions(), ..ProptestConfig::default() })]

    #[test]
    fn a_known_secret_never_survives(
        secrets in prop::collection::vec(secret(), 1..4),
        before in "[a-z {}:\"\\[\\]]{0,8}",
        after in "[a-z {}:\"\\[\\]]{0,8}",
    ) {
        let scrubber = Scrubber::new(secrets.iter().map(String::as_str));
        let first = &secrets[0];
        let embedded = serde_json::to_string(&json!({"password": first})).unwrap();
        let twice = serde_json::to_string(&embedded).unwrap();
        let python = python_dumps(&json!({"password": first}));
        let mut answer = json!({
            "json": {
                "params": {"p": first, "q": format!("{before}{first}{after}")},
                "logs": [{"message": format!("input {embedded}")},
                         {"message": format!("nested {twice}")},
                         {"message": format!("python {python}")}],
                "count": 3
            }
        });
        scrubber.scrub_value(&mut answer);
        let text = serde_json::to_string(&answer).unwrap();
        let strings = marked(&answer);
        for secret in &secrets {
            let quoted = serde_json::to_string(secret).unwrap();
            let escaped = &quoted[1..quoted.len() - 1];
            let ascii = python_dumps(&json!(secret));
            let ascii = &ascii[1..ascii.len() - 1];
            for form in [secret.as_str(), escaped, ascii] {
                prop_assert!(!strings.iter().any(|s| s.contains(form)), "{} in {}", form, text);
            }
        }
        prop_assert_eq!(&answer["json"]["params"]["p"], &json!(REDACTED));
        prop_assert_eq!(&answer["json"]["count"], &json!(3));
    }

    #[test]
    fn answers_without_secrets_are_untouched(value in "[a-z {}:]{0,24}", secret in secret()) {
        prop_assume!(!value.contains(secret.as_str()));
        let scrubber = Scrubber::new([secret.as_str()]);
        let mut answer = json!({"json": {"message": value.clone()}});
        prop_assert_eq!(scrubber.scrub_value(&mut answer), 0);
        prop_assert_eq!(&answer["json"]["message"], &json!(value));
    }
}

fn collect_strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(collect_strings).collect(),
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, item)| {
                let mut all = vec![key.clone()];
                all.extend(collect_strings(item));
                all
            })
            .collect(),
        _ => Vec::new(),
    }
}

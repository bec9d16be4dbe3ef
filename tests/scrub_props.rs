//! Properties of the answer scrubber over generated secrets and answers: a known secret never
//! survives a scrub, in plain text or inside JSON text embedded in a string, and the rest of
//! the answer is left as it was.

use libretto_sidecar::scrub::{Scrubber, REDACTED};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Secrets made of characters that `[redacted]` does not hold (so a replacement can never
/// spell a secret again), with quotes, backslashes and non-ASCII text among them.
fn secret() -> impl Strategy<Value = String> {
    "[A-Z0-9\"\\\\ü\u{7}/]{4,12}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_known_secret_never_survives(
        secrets in prop::collection::vec(secret(), 1..4),
        before in "[a-z {}:\"]{0,8}",
        after in "[a-z {}:\"]{0,8}",
    ) {
        let scrubber = Scrubber::new(secrets.iter().map(String::as_str));
        let first = &secrets[0];
        let embedded = serde_json::to_string(&json!({"password": first})).unwrap();
        let mut answer = json!({
            "json": {
                "params": {"p": first, "q": format!("{before}{first}{after}")},
                "logs": [{"message": format!("input {embedded}")}],
                "count": 3
            }
        });
        scrubber.scrub_value(&mut answer);
        let text = serde_json::to_string(&answer).unwrap();
        for secret in &secrets {
            let quoted = serde_json::to_string(secret).unwrap();
            let escaped = &quoted[1..quoted.len() - 1];
            prop_assert!(!text.contains(escaped), "{}", text);
            prop_assert!(!collect_strings(&answer).iter().any(|s| s.contains(secret.as_str())), "{}", text);
        }
        prop_assert_eq!(&answer["json"]["params"]["p"], &json!(REDACTED));
        prop_assert_eq!(&answer["json"]["count"], &json!(3));
    }

    #[test]
    fn answers_without_secrets_are_untouched(value in "[a-z {}:]{0,24}", secret in secret()) {
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

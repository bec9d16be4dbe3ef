//! The whole-answer scrubber: the leading parts of the input are secrets, the last one an
//! answer (JSON, or else plain text). Scrubbing never breaks the answer, and once every string
//! and key is scrubbed, no secret survives in it, in its serialized text or in the scrubbed
//! plain text: not plain, not JSON-escaped once or twice. (In the serialized text, a secret
//! that JSON's own syntax can spell is left out: one with a quote or a backslash, which the
//! string delimiters and escapes write around text that holds none of its forms, and one made
//! only of what JSON writes outside strings, as `true,1`.)

use serde_json::Value;

use super::{parts, secrets, survivors};
use crate::sidecar::answer::scrub::Scrubber;

pub fn scrub(data: &[u8]) {
    let parts = parts(data);
    let Some((body, leading)) = parts.split_last() else {
        return;
    };
    let secrets = secrets(leading.iter().copied());
    let scrubber = Scrubber::new(secrets.iter().map(String::as_str));

    let text = String::from_utf8_lossy(body);
    let scrubbed = scrubber
        .scrub_str(&text)
        .unwrap_or_else(|| text.clone().into_owned());
    let left = survivors(scrubbed.as_bytes(), &secrets);
    assert!(left.is_empty(), "{left:?} survived in plain text");

    let answer: Value =
        serde_json::from_slice(body).unwrap_or_else(|_| Value::String(text.into_owned()));

    // The answer-keeping scrub leaves generated ids and keys alone, but must keep it JSON.
    let mut kept = answer.clone();
    scrubber.scrub_value(&mut kept);
    let serialized = serde_json::to_vec(&kept).expect("a scrubbed answer serializes");
    let _: Value = serde_json::from_slice(&serialized).expect("a scrubbed answer parses");

    let mut all = answer;
    scrubber.scrub_all(&mut all);
    check_strings(&all, &secrets);
    let serialized = serde_json::to_vec(&all).expect("a scrubbed answer serializes");
    // Serializing writes quotes, backslashes and the syntax between values, so it can spell
    // a secret out of text that holds no form of it the scrubber matches: `t""x \"` is
    // written `t\"\"x \\\"`, which holds the secret `t\"\"x \`; a key `"ab"` holds the
    // secret `"ab`; `[true,1]` holds `true,1`. Such secrets are checked in every string and key
    // above; in the serialized text only the others are.
    let unspellable: Vec<String> = secrets
        .iter()
        .filter(|secret| !spelled_by_syntax(secret))
        .cloned()
        .collect();
    let left = survivors(&serialized, &unspellable);
    assert!(
        left.is_empty(),
        "{left:?} survived in the serialized answer"
    );
}

/// Whether serialized JSON can hold `secret` without any string or key holding it: it has a
/// quote or a backslash, or every character of it can stand outside a string.
fn spelled_by_syntax(secret: &str) -> bool {
    const OUTSIDE_STRINGS: &str = "{}[],: \t\n\r0123456789+-.eEtruefalsn";
    secret.contains(['"', '\\']) || secret.chars().all(|c| OUTSIDE_STRINGS.contains(c))
}

fn check_strings(value: &Value, secrets: &[String]) {
    let check = |text: &str| {
        let left = survivors(text.as_bytes(), secrets);
        assert!(left.is_empty(), "{left:?} survived in a string");
    };
    match value {
        Value::String(text) => check(text),
        Value::Array(items) => items.iter().for_each(|item| check_strings(item, secrets)),
        Value::Object(map) => {
            for (key, item) in map {
                check(key);
                check_strings(item, secrets);
            }
        }
        // Numbers are scrubbed too: a secret spelled in digits is checked in their text.
        Value::Number(number) => check(&number.to_string()),
        Value::Null | Value::Bool(_) => {}
    }
}

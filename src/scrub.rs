//! Scrubbing secret values the sidecar knows out of the JSON answers it returns.
//!
//! Upstream echoes what it stored: a job's `params`, a workflow's log line, an error message. Any
//! of them may carry a value the sidecar filled in. Before a JSON answer goes back to the app,
//! every string in it (keys included) is searched for every known secret, in its plain form and
//! in its JSON-escaped form (as it appears when a string holds embedded JSON text, such as a log
//! line that prints params), and each match becomes `[redacted]`.
//!
//! One Aho-Corasick automaton matches all patterns in a single pass, so the cost per answer
//! stays flat as the number of secrets grows. Strings shorter than [`MIN_SECRET_LEN`] are not
//! scrubbed: redacting every `"1"` or `"on"` in every answer would make answers useless, and a
//! secret that short is not a secret. Numbers and booleans are not scrubbed for the same reason.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde_json::Value;

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this (in bytes) are not scrubbed.
pub const MIN_SECRET_LEN: usize = 4;

/// A compiled set of secret patterns. Immutable; rebuilt when the set of secrets changes.
#[derive(Default)]
pub struct Scrubber {
    matcher: Option<AhoCorasick>,
    patterns: usize,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubber")
            .field("patterns", &self.patterns)
            .finish()
    }
}

impl Scrubber {
    /// Builds a scrubber for the given secret strings (plain and JSON-escaped forms).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut patterns: Vec<String> = Vec::new();
        for secret in secrets {
            if secret.len() < MIN_SECRET_LEN {
                continue;
            }
            let escaped = json_escaped(secret);
            if escaped != secret {
                patterns.push(escaped);
            }
            patterns.push(secret.to_owned());
        }
        patterns.sort_unstable();
        patterns.dedup();
        if patterns.is_empty() {
            return Self::default();
        }
        // Leftmost-longest so that a secret that contains another is redacted whole.
        let matcher = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok();
        Self {
            patterns: patterns.len(),
            matcher,
        }
    }

    /// How many patterns the scrubber matches.
    pub fn pattern_count(&self) -> usize {
        self.patterns
    }

    /// The string with every secret replaced, or `None` when it holds none.
    pub fn scrub_str(&self, text: &str) -> Option<String> {
        let matcher = self.matcher.as_ref()?;
        if !matcher.is_match(text) {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        matcher.replace_all_with(text, &mut out, |_, _, dst| {
            dst.push_str(REDACTED);
            true
        });
        Some(out)
    }

    /// Scrubs every string (and key) in `value` in place; returns how many strings changed.
    pub fn scrub_value(&self, value: &mut Value) -> usize {
        if self.matcher.is_none() {
            return 0;
        }
        match value {
            Value::String(text) => match self.scrub_str(text) {
                Some(clean) => {
                    *text = clean;
                    1
                }
                None => 0,
            },
            Value::Array(items) => items.iter_mut().map(|item| self.scrub_value(item)).sum(),
            Value::Object(map) => {
                let mut changed = 0;
                if map.keys().any(|key| self.scrub_str(key).is_some()) {
                    // Rebuild the map so a renamed key keeps its place.
                    let old = std::mem::take(map);
                    for (key, item) in old {
                        match self.scrub_str(&key) {
                            Some(clean) => {
                                changed += 1;
                                map.insert(clean, item);
                            }
                            None => {
                                map.insert(key, item);
                            }
                        }
                    }
                }
                changed
                    + map
                        .values_mut()
                        .map(|item| self.scrub_value(item))
                        .sum::<usize>()
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        }
    }
}

/// The text of `secret` as it appears inside a JSON string literal (without the quotes).
fn json_escaped(secret: &str) -> String {
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(secret)
        .to_owned()
}

/// Every string in a credential value worth scrubbing: the value itself if it is a string, else
/// each string leaf of its objects and arrays.
pub fn secret_strings(value: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    collect_strings(value, &mut out);
    out
}

fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_and_escaped_forms_are_redacted() {
        let scrubber = Scrubber::new(["pa\"ss word", "token-123"]);
        let mut answer = json!({
            "params": {"password": "pa\"ss word", "note": "Bearer token-123!"},
            "logs": [{"message": "params {\"password\":\"pa\\\"ss word\"}"}],
            "count": 3
        });
        assert_eq!(scrubber.scrub_value(&mut answer), 3);
        assert_eq!(answer["params"]["password"], json!("[redacted]"));
        assert_eq!(answer["params"]["note"], json!("Bearer [redacted]!"));
        assert_eq!(
            answer["logs"][0]["message"],
            json!("params {\"password\":\"[redacted]\"}")
        );
        assert_eq!(answer["count"], json!(3));
    }

    #[test]
    fn keys_are_scrubbed_and_order_kept() {
        let scrubber = Scrubber::new(["secret-key"]);
        let mut answer = json!({"a": 1, "secret-key": 2, "z": 3});
        scrubber.scrub_value(&mut answer);
        let keys: Vec<&String> = answer.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "[redacted]", "z"]);
    }

    #[test]
    fn short_strings_are_left_alone() {
        let scrubber = Scrubber::new(["abc", ""]);
        assert_eq!(scrubber.pattern_count(), 0);
        assert_eq!(scrubber.scrub_str("abc"), None);
    }

    #[test]
    fn longest_secret_wins() {
        let scrubber = Scrubber::new(["abcd", "abcdefgh"]);
        assert_eq!(
            scrubber.scrub_str("xabcdefghx").as_deref(),
            Some("x[redacted]x")
        );
    }

    #[test]
    fn secret_strings_walks_leaves() {
        let value = json!({"u": "user", "n": 5, "deep": {"list": ["k1", true]}});
        assert_eq!(secret_strings(&value), vec!["user", "k1"]);
        assert_eq!(secret_strings(&json!("plain")), vec!["plain"]);
    }
}

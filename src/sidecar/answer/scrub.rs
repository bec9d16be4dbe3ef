//! Scrubbing secret values the sidecar knows out of the answers it returns.
//!
//! Upstream echoes what it stored: a job's `params`, a workflow's log line, an error message. Any
//! of them may carry a value the sidecar filled in. Before an answer goes back to the app, every
//! string in it is searched for every known secret, in its plain form and in the forms a JSON
//! encoder gives it inside a string literal (as when a log line prints params as JSON): the
//! usual escaping, non-ASCII as `\uXXXX` (either case, surrogate pairs for astral characters),
//! `<`, `>` and `&` as `\u003c` and so on, `/` as `\/`, and each of those escaped once more (JSON
//! text inside JSON text). Each match becomes `[redacted]`.
//!
//! The answer's own structure is left alone, so that a secret that happens to equal a field name
//! or a date cannot break every answer: object keys are scrubbed only inside free-form content
//! (`params`, `job_params`, `result`, `error`, ...), and outside it, ids, timestamps and short
//! codes in the fields upstream generates (`id`, `*_id`, `*_at`, `timestamp`, `code`, `status`,
//! `level`) are kept when they have the generated format.
//!
//! One Aho-Corasick automaton matches all patterns in a single pass, so the cost per answer
//! stays flat as the number of secrets grows. Strings shorter than [`MIN_SECRET_LEN`] are not
//! scrubbed: redacting every `"1"` or `"on"` in every answer would make answers useless, and a
//! secret that short is not a secret. Numbers are learned as their JSON text (a port or a PIN
//! printed in a log line), booleans never.

use std::sync::Arc;

use serde_json::Value;

use crate::sidecar::answer::segment::{spans, Segment};

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this (in bytes) are not scrubbed.
pub const MIN_SECRET_LEN: usize = 6;

/// Keys whose content is free-form (app or workflow text): keys inside them are scrubbed, and
/// no field inside them is taken for a generated one.
const FREE_FORM: &[&str] = &[
    "params",
    "job_params",
    "result",
    "error",
    "output",
    "input",
    "data",
    "value",
    "credentials",
    "metadata",
    "details",
];

/// A compiled set of secret patterns, in one or more segments. Immutable; rebuilt when the
/// set of secrets changes.
#[derive(Default)]
pub struct Scrubber {
    segments: Vec<Arc<Segment>>,
    patterns: usize,
    /// The length in bytes of the longest pattern.
    longest: usize,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubber")
            .field("patterns", &self.patterns)
            .field("segments", &self.segments.len())
            .finish()
    }
}

impl Scrubber {
    /// Builds a scrubber for the given secret strings (each in all its escaped forms).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let patterns: Vec<String> = secrets.into_iter().flat_map(patterns_of).collect();
        Self::from_segments(Segment::build(patterns).map(Arc::new))
    }

    /// A scrubber over segments compiled separately.
    pub fn from_segments(segments: impl IntoIterator<Item = Arc<Segment>>) -> Self {
        let segments: Vec<Arc<Segment>> = segments.into_iter().collect();
        Self {
            patterns: segments.iter().map(|segment| segment.patterns()).sum(),
            longest: segments
                .iter()
                .map(|segment| segment.longest())
                .max()
                .unwrap_or(0),
            segments,
        }
    }

    /// The length in bytes of the longest pattern (0 without patterns).
    pub fn longest_pattern(&self) -> usize {
        self.longest
    }

    /// Whether there is no pattern at all.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The spans of `haystack` holding a secret, sorted and disjoint; only those starting
    /// before `before` (see [`spans`]).
    pub(crate) fn spans(&self, haystack: &[u8], before: usize) -> Vec<(usize, usize)> {
        spans(&self.segments, haystack, before)
    }

    /// Whether `haystack` holds a secret.
    pub fn is_match(&self, haystack: &[u8]) -> bool {
        self.segments
            .iter()
            .any(|segment| segment.is_match(haystack))
    }

    /// The bytes of the patterns one secret adds (for memory accounting).
    pub fn pattern_bytes(secret: &str) -> usize {
        patterns_of(secret).iter().map(String::len).sum()
    }

    /// How many patterns the scrubber matches.
    pub fn pattern_count(&self) -> usize {
        self.patterns
    }

    /// The heap bytes of every automaton.
    pub fn memory_usage(&self) -> usize {
        self.segments
            .iter()
            .map(|segment| segment.memory_usage())
            .sum()
    }

    /// The string with every secret replaced, or `None` when it holds none.
    pub fn scrub_str(&self, text: &str) -> Option<String> {
        if !self.is_match(text.as_bytes()) {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut released = 0;
        for (start, end) in self.spans(text.as_bytes(), usize::MAX) {
            // Every pattern is valid UTF-8 and so starts and ends on a character boundary.
            out.push_str(text.get(released..start).unwrap_or_default());
            out.push_str(REDACTED);
            released = end;
        }
        out.push_str(text.get(released..).unwrap_or_default());
        Some(out)
    }

    /// Scrubs an answer in place; returns how many strings changed. The answer's structure is
    /// kept (see the module documentation).
    pub fn scrub_value(&self, value: &mut Value) -> usize {
        if self.is_empty() {
            return 0;
        }
        self.scrub_in(value, false)
    }

    /// Scrubs every string and every key in `value`, structure or not.
    pub fn scrub_all(&self, value: &mut Value) -> usize {
        if self.is_empty() {
            return 0;
        }
        self.scrub_in(value, true)
    }

    fn scrub_in(&self, value: &mut Value, free: bool) -> usize {
        match value {
            Value::String(text) => self.scrub_string(text),
            Value::Array(items) => items.iter_mut().map(|item| self.scrub_in(item, free)).sum(),
            Value::Object(map) => {
                let mut changed = 0;
                if free && map.keys().any(|key| self.scrub_str(key).is_some()) {
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
                for (key, item) in map.iter_mut() {
                    if !free && is_generated(key, item) {
                        continue;
                    }
                    let inner = free || FREE_FORM.contains(&key.as_str());
                    changed += self.scrub_in(item, inner);
                }
                changed
            }
            Value::Number(number) => {
                // A number is checked by its JSON text (a PIN, a port), and replaced whole.
                if self.is_match(number.as_str().as_bytes()) {
                    *value = Value::String(REDACTED.to_owned());
                    1
                } else {
                    0
                }
            }
            Value::Null | Value::Bool(_) => 0,
        }
    }

    fn scrub_string(&self, text: &mut String) -> usize {
        match self.scrub_str(text) {
            Some(clean) => {
                *text = clean;
                1
            }
            None => 0,
        }
    }
}

/// Whether `value` is a field upstream generates, in its generated format: an id that is a
/// UUID, a timestamp in ISO 8601, or a short code (`queued`, `NOT_FOUND`, `info`).
fn is_generated(key: &str, value: &Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    if key == "id" || key.ends_with("_id") {
        uuid::Uuid::parse_str(text).is_ok()
    } else if key == "timestamp" || key.ends_with("_at") {
        is_iso_timestamp(text)
    } else if matches!(key, "code" | "status" | "level") {
        (1..=32).contains(&text.len())
            && text
                .bytes()
                .all(|byte| byte.is_ascii_alphabetic() || byte == b'_')
    } else {
        false
    }
}

/// `2026-05-17T01:15:26.670Z` and its variants (fraction optional, `Z` or an offset).
fn is_iso_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    bytes.len() >= 20
        && bytes.len() <= 35
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b'T'
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && bytes[19..]
            .iter()
            .all(|byte| byte.is_ascii_digit() || b".Z+-:".contains(byte))
}

/// Every form of `secret` that is matched: plain, and as JSON encoders write it inside a string
/// literal, once and twice escaped. Empty for a secret shorter than [`MIN_SECRET_LEN`].
pub(crate) fn patterns_of(secret: &str) -> Vec<String> {
    if secret.len() < MIN_SECRET_LEN {
        return Vec::new();
    }
    let escaped = json_escaped(secret);
    let mut once = vec![
        escaped.clone(),
        ascii_escaped(&escaped, false, false),
        ascii_escaped(&escaped, true, false),
        ascii_escaped(&escaped, false, true),
    ];
    let slashed: Vec<String> = once.iter().map(|form| form.replace('/', "\\/")).collect();
    once.extend(slashed);
    let mut all = vec![secret.to_owned()];
    for form in &once {
        all.push(json_escaped(form));
    }
    all.extend(once);
    all.sort_unstable();
    all.dedup();
    all
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

/// An escaped string with every non-ASCII character as `\uXXXX` (UTF-16, surrogate pairs
/// beyond the BMP, as Python writes them), in upper or lower case hex; with `html`, instead
/// `<`, `>`, `&`, U+2028 and U+2029 only (as Go writes them).
fn ascii_escaped(escaped: &str, upper: bool, html: bool) -> String {
    let mut out = String::with_capacity(escaped.len());
    for ch in escaped.chars() {
        let escape = if html {
            matches!(ch, '<' | '>' | '&' | '\u{2028}' | '\u{2029}')
        } else {
            !ch.is_ascii()
        };
        if !escape {
            out.push(ch);
            continue;
        }
        let mut units = [0u16; 2];
        for unit in ch.encode_utf16(&mut units) {
            if upper {
                out.push_str(&format!("\\u{unit:04X}"));
            } else {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Every text in a credential value worth scrubbing: the value itself if it is a string, else
/// each string leaf of its objects and arrays; numbers as their JSON text.
pub fn secret_strings(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_strings(value, &mut out);
    out
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Number(number) => out.push(number.to_string()),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, out)),
        Value::Null | Value::Bool(_) => {}
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
    fn ascii_slash_and_double_escapes_are_redacted() {
        let secret = "pä/ss<😀>";
        let scrubber = Scrubber::new([secret]);
        for form in [
            // Python json.dumps: non-ASCII as \u escapes, surrogate pair for the emoji.
            r"p\u00e4/ss<\ud83d\ude00>",
            r"p\u00E4/ss<\uD83D\uDE00>",
            // Go: HTML characters escaped.
            r"pä/ss\u003c😀\u003e",
            // `/` escaped.
            r"p\u00e4\/ss<\ud83d\ude00>",
            "pä\\/ss<😀>",
            // JSON inside JSON: escaped once more.
            r"p\\u00e4/ss<\\ud83d\\ude00>",
            r#"pä\\/ss<😀>"#,
        ] {
            let text = format!("log {{\"p\":\"{form}\"}}");
            assert_eq!(
                scrubber.scrub_str(&text).as_deref(),
                Some("log {\"p\":\"[redacted]\"}"),
                "{form}"
            );
        }
        let doubly =
            serde_json::to_string(&serde_json::to_string(&json!({"p": "q\"uote-1"})).unwrap())
                .unwrap();
        let scrubber = Scrubber::new(["q\"uote-1"]);
        assert!(
            !scrubber.scrub_str(&doubly).unwrap().contains("uote-1"),
            "{doubly}"
        );
    }

    #[test]
    fn keys_are_scrubbed_only_in_free_form_content() {
        let scrubber = Scrubber::new(["secret-key", "status", "message"]);
        let mut answer = json!({"json": {"message": "ok", "status": "queued",
            "params": {"a": 1, "secret-key": 2, "z": 3}}});
        scrubber.scrub_value(&mut answer);
        let keys: Vec<&String> = answer["json"]["params"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys, ["a", "[redacted]", "z"]);
        let keys: Vec<&String> = answer["json"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["message", "status", "params"], "structure kept");
    }

    #[test]
    fn generated_ids_and_timestamps_are_kept() {
        let scrubber = Scrubber::new(["2026-05", "1f0e7c52", "queued"]);
        let mut answer = json!({"json": {
            "job_id": "1f0e7c52-0000-4000-8000-000000000000",
            "created_at": "2026-05-17T01:15:26.670Z",
            "status": "queued",
            "message": "queued at 2026-05-17",
            "params": {"job_id": "1f0e7c52-0000-4000-8000-000000000000"}}});
        assert_eq!(scrubber.scrub_value(&mut answer), 2);
        assert_eq!(
            answer["json"]["job_id"],
            "1f0e7c52-0000-4000-8000-000000000000"
        );
        assert_eq!(answer["json"]["created_at"], "2026-05-17T01:15:26.670Z");
        assert_eq!(answer["json"]["status"], "queued");
        assert_eq!(answer["json"]["message"], "[redacted] at [redacted]-17");
        assert_eq!(
            answer["json"]["params"]["job_id"], "[redacted]-0000-4000-8000-000000000000",
            "inside params nothing is taken for generated"
        );
    }

    #[test]
    fn short_strings_are_left_alone() {
        let scrubber = Scrubber::new(["abc", "", "json", "2026"]);
        assert_eq!(scrubber.pattern_count(), 0);
        assert_eq!(scrubber.scrub_str("abc json 2026"), None);
    }

    #[test]
    fn longest_secret_wins() {
        let scrubber = Scrubber::new(["abcdef", "abcdefgh"]);
        assert_eq!(
            scrubber.scrub_str("xabcdefghx").as_deref(),
            Some("x[redacted]x")
        );
    }

    #[test]
    fn secret_strings_walks_leaves_and_numbers() {
        let value = json!({"u": "user", "n": 5, "port": 8443, "deep": {"list": ["k1", true]}});
        assert_eq!(secret_strings(&value), vec!["user", "5", "8443", "k1"]);
        assert_eq!(secret_strings(&json!("plain")), vec!["plain"]);
        let scrubber = Scrubber::new(["123456"]);
        assert_eq!(
            scrubber.scrub_str("port 123456").as_deref(),
            Some("port [redacted]")
        );
    }
}

//! The properties the fuzz targets check, one file per target, each a `pub fn <target>(data:
//! &[u8])` that panics when its property is broken.
//!
//! The fuzz crate (`fuzz/`) calls these functions from one-line libFuzzer targets, and the
//! `properties` test binary replays every committed corpus file (`fuzz/corpus/<target>/*`)
//! through the same functions, so a regression found once fails `cargo test` without any
//! fuzzing toolchain. Inputs that do not fit a target's format are skipped, never refused: a
//! fuzzer must be free to send anything.
//!
//! Several targets read more than one value out of one input: the parts are separated by the
//! byte `0xFF`, which never occurs in UTF-8 text ([`parts`]).

#[cfg(feature = "mock")]
mod mock_input;
mod placeholder;
mod rewrite;
mod route;
mod scrub;
mod scrub_stream;

#[cfg(feature = "mock")]
pub use mock_input::mock_input;
pub use placeholder::placeholder;
pub use rewrite::rewrite;
pub use route::route;
pub use scrub::scrub;
pub use scrub_stream::scrub_stream;

use crate::sidecar::answer::scrub::{MIN_SECRET_LEN, REDACTED};

/// A target's property: panics when the input breaks it.
pub type Property = fn(&[u8]);

/// Every target, by the name of its corpus folder, with its property.
pub const TARGETS: &[(&str, Property)] = &[
    ("placeholder", placeholder),
    ("rewrite", rewrite),
    ("scrub", scrub),
    ("scrub_stream", scrub_stream),
    ("route", route),
    #[cfg(feature = "mock")]
    ("mock_input", mock_input),
];

/// The byte that separates the parts of one input.
pub const SEPARATOR: u8 = 0xFF;

/// The parts of an input, split at every [`SEPARATOR`].
pub fn parts(data: &[u8]) -> Vec<&[u8]> {
    data.split(|byte| *byte == SEPARATOR).collect()
}

/// The most secrets one input sets up, and the longest one; more would only slow a run.
const MAX_SECRETS: usize = 8;
const MAX_SECRET_BYTES: usize = 64;

/// The secrets a scrubber target learns from the leading parts of its input: long enough to be
/// scrubbed, and free of `[`, `]` and NUL, so that a match found in the output can be told
/// apart from the `[redacted]` text the scrubber writes ([`survivors`]).
fn secrets<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Vec<String> {
    parts
        .into_iter()
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .filter(|secret| {
            (MIN_SECRET_LEN..=MAX_SECRET_BYTES).contains(&secret.len())
                && !secret.contains(['[', ']', '\0'])
        })
        .take(MAX_SECRETS)
        .collect()
}

/// The forms of a secret that must never be seen in an answer: plain, as text inside a JSON
/// string literal, and that once more (JSON text inside JSON text).
fn forbidden_forms(secret: &str) -> Vec<String> {
    let once = json_escaped(secret);
    let twice = json_escaped(&once);
    vec![secret.to_owned(), once, twice]
}

fn json_escaped(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_owned()
}

/// The secrets (in a form of [`forbidden_forms`]) that `output` still holds outside the
/// `[redacted]` markers. Each marker is read as a NUL first: as no secret holds `[`, `]` or
/// NUL, an occurrence that survives this is one the scrubber left, not one spelled by its
/// markers.
fn survivors(output: &[u8], secrets: &[String]) -> Vec<String> {
    let masked = replace_all(output, REDACTED.as_bytes(), b"\0");
    secrets
        .iter()
        .filter(|secret| {
            forbidden_forms(secret)
                .iter()
                .any(|form| contains(&masked, form.as_bytes()))
        })
        .cloned()
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut index = 0;
    while index < haystack.len() {
        if haystack[index..].starts_with(from) {
            out.extend_from_slice(to);
            index += from.len();
        } else {
            out.push(haystack[index]);
            index += 1;
        }
    }
    out
}

//! One compiled group of secret patterns, and matching over several such groups at once.
//!
//! Every automaton is a contiguous NFA ([`AhoCorasickKind::ContiguousNFA`]): its memory is
//! linear in the bytes of its patterns (measured in `docs/security.md`), where the default
//! choice of aho-corasick, a DFA for small pattern sets, costs hundreds of bytes per pattern
//! byte and made one large credential value cost gigabytes.
//!
//! The known secrets are kept in several segments of geometrically growing size (see
//! [`crate::sidecar::answer::known_secrets`]), so that learning a value rebuilds a small
//! segment, not every pattern. [`spans`] runs every segment over a text and merges what they
//! found: every byte any segment matched is covered, overlapping matches becoming one span.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

/// A compiled set of patterns. Immutable.
pub struct Segment {
    matcher: AhoCorasick,
    patterns: usize,
    longest: usize,
    bytes: usize,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("patterns", &self.patterns)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Segment {
    /// Compiles `patterns` (sorted and deduplicated here); `None` without any, or when the
    /// automaton cannot be built (more states than it can address).
    pub fn build(mut patterns: Vec<String>) -> Option<Self> {
        patterns.sort_unstable();
        patterns.dedup();
        if patterns.is_empty() {
            return None;
        }
        // Leftmost-longest so that a secret that contains another is redacted whole.
        let matcher = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(&patterns)
            .ok()?;
        Some(Self {
            patterns: patterns.len(),
            longest: patterns.iter().map(String::len).max().unwrap_or(0),
            bytes: patterns.iter().map(String::len).sum(),
            matcher,
        })
    }

    pub fn patterns(&self) -> usize {
        self.patterns
    }

    pub fn longest(&self) -> usize {
        self.longest
    }

    /// The bytes of the patterns compiled.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The heap bytes of the automaton.
    pub fn memory_usage(&self) -> usize {
        self.matcher.memory_usage()
    }

    pub fn is_match(&self, haystack: &[u8]) -> bool {
        self.matcher.is_match(haystack)
    }
}

/// The spans of `haystack` matched by any segment, sorted, none overlapping another; with
/// `before`, only matches starting before it (a streaming caller holds the rest back).
pub fn spans(segments: &[Arc<Segment>], haystack: &[u8], before: usize) -> Vec<(usize, usize)> {
    let mut found: Vec<(usize, usize)> = Vec::new();
    for segment in segments {
        for hit in segment.matcher.find_iter(haystack) {
            if hit.start() >= before {
                break;
            }
            found.push((hit.start(), hit.end()));
        }
    }
    if segments.len() > 1 {
        found.sort_unstable();
    }
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(found.len());
    for (start, end) in found {
        match merged.last_mut() {
            Some(last) if start < last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(patterns: &[&str]) -> Arc<Segment> {
        Arc::new(Segment::build(patterns.iter().map(|p| (*p).to_owned()).collect()).unwrap())
    }

    #[test]
    fn spans_of_several_segments_merge() {
        let segments = [segment(&["abcdef"]), segment(&["xabc", "zzzzzz"])];
        assert_eq!(
            spans(&segments, b"-xabcdef-zzzzzz", usize::MAX),
            vec![(1, 8), (9, 15)]
        );
        assert_eq!(spans(&segments, b"-xabcdef-zzzzzz", 9), vec![(1, 8)]);
        assert!(Segment::build(Vec::new()).is_none());
    }

    #[test]
    fn memory_is_linear_in_the_pattern_bytes() {
        // Escape-heavy text is what made the default DFA explode.
        for unit in ["a\u{1}\"/<ü😀", "x"] {
            let pattern = unit.repeat(64 << 10);
            let bytes = pattern.len();
            let built = Segment::build(vec![pattern]).unwrap();
            let per_byte = built.memory_usage() as f64 / bytes as f64;
            assert!(per_byte < 24.0, "{per_byte} heap bytes per pattern byte");
        }
    }
}

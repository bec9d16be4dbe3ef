//! Opaque paging tokens for `jobs/list` (`cursor`) and `logs/list` (`pageToken`).
//!
//! A token names the sequence number where the next page starts. It is base64url so clients
//! treat it as opaque, and versioned so its meaning can change without old tokens being
//! misread: a token that does not decode is a 400, never a silently wrong page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

const PREFIX: &str = "v1:";

/// The token for a page starting at `seq`.
pub(crate) fn encode(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{PREFIX}{seq}"))
}

/// The sequence number a token names, if it is one of ours.
pub(crate) fn decode(token: &str) -> Option<u64> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    text.strip_prefix(PREFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(decode(&encode(42)), Some(42));
        assert_eq!(decode(&encode(u64::MAX)), Some(u64::MAX));
    }

    #[test]
    fn rejects_foreign_tokens() {
        assert_eq!(decode("42"), None);
        assert_eq!(decode(""), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("v2:1")), None);
        assert_eq!(decode("!!!"), None);
    }
}

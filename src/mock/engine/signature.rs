//! Webhook signatures: HMAC-SHA256 of the exact body bytes, keyed with the endpoint's secret.
//!
//! The signature travels in the `x-webhook-signature` header as 64 lowercase hex characters,
//! with no prefix. A receiver recomputes the HMAC over the raw body it received (before any
//! JSON parsing, which could reorder or reformat it) and compares in constant time; docs/mock.md
//! shows this in Node. Keeping the encoding in one place keeps sender, tests and docs in step.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";

/// The header carrying the event type (`job.completed`, `job.failed`).
pub const EVENT_TYPE_HEADER: &str = "x-event-type";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` only fails for fixed-size MACs.
    match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// The header value for `body` signed with `secret`: lowercase hex of HMAC-SHA256.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `header` is the signature of `body` under `secret`; constant time in the MAC.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Ok(expected) = hex::decode(header.trim()) else {
        return false;
    };
    let mut mac = mac(secret);
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_case_2() {
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verifies_only_the_exact_body_and_secret() {
        let body = br#"{"event":"job.completed","job_id":"x"}"#;
        let signature = sign(b"s3cret", body);
        assert_eq!(signature.len(), 64);
        assert!(signature
            .chars()
            .all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert!(verify(b"s3cret", body, &signature));
        assert!(verify(b"s3cret", body, &signature.to_uppercase()));
        assert!(!verify(b"other", body, &signature));
        assert!(!verify(
            b"s3cret",
            br#"{"event": "job.completed","job_id":"x"}"#,
            &signature
        ));
        assert!(!verify(b"s3cret", body, "sha256=nothex"));
        assert!(!verify(b"s3cret", body, ""));
    }
}

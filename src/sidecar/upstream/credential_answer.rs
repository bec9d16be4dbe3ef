//! Reading a `credentials/get` answer: the credential's id and value, or "no such credential".
//!
//! Pure parsing, apart from the HTTP exchange in `upstream.rs`. The value is turned into JSON
//! text inside a [`Secret`] at once, and every intermediate copy is wiped when dropped.

use serde_json::Value;

use super::error::UpstreamError;
use crate::secret::{Secret, WipeOnDrop};

/// A credential as `credentials/get` returned it: its id and its value (JSON text, sealed by
/// the caller before it is kept).
pub struct FetchedCredential {
    pub id: String,
    /// The credential's `value` serialized as JSON (an object or a string).
    pub value: Secret,
}

impl std::fmt::Debug for FetchedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchedCredential")
            .field("id", &self.id)
            .field("value", &self.value)
            .finish()
    }
}

/// Whether a 404 body is the API's own "no such credential": the oRPC error envelope with code
/// `NOT_FOUND`. Any other 404 (a wrong base path, a proxy's page) is an upstream failure, so a
/// misconfigured sidecar does not report, and remember, every credential as missing.
pub fn is_not_found_envelope(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|answer| {
            answer
                .pointer("/json/code")
                .and_then(Value::as_str)
                .map(|code| code == "NOT_FOUND")
        })
        .unwrap_or(false)
}

/// Parses a `credentials/get` answer: `{"json": {"id": "...", "value": <object or string>}}`.
pub fn parse_credential(bytes: &[u8]) -> Result<FetchedCredential, UpstreamError> {
    let mut answer = WipeOnDrop::new(
        serde_json::from_slice::<Value>(bytes).map_err(|_| UpstreamError::Unreadable)?,
    );
    let output = answer
        .get_mut("json")
        .and_then(Value::as_object_mut)
        .ok_or(UpstreamError::Unreadable)?;
    let id = output
        .get("id")
        .and_then(Value::as_str)
        .ok_or(UpstreamError::Unreadable)?
        .to_owned();
    let value = match output.remove("value").map(WipeOnDrop::new) {
        Some(value) if value.is_object() || value.is_string() => value,
        _ => return Err(UpstreamError::Unreadable),
    };
    // Compact JSON of a part of the answer is never longer than the answer, so the text is
    // written once into its buffer, with no reallocation leaving a copy behind.
    let mut text = zeroize::Zeroizing::new(Vec::with_capacity(bytes.len()));
    serde_json::to_writer(&mut *text, &*value).map_err(|_| UpstreamError::Unreadable)?;
    Ok(FetchedCredential {
        id,
        value: Secret::new(std::mem::take(&mut *text)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_answers_object_or_string() {
        let object =
            parse_credential(br#"{"json":{"id":"c1","value":{"username":"u","n":1.50}}}"#).unwrap();
        assert_eq!(object.id, "c1");
        assert_eq!(object.value.expose(), br#"{"username":"u","n":1.50}"#);
        let string = parse_credential(br#"{"json":{"id":"c2","value":"s3cr\"et"}}"#).unwrap();
        assert_eq!(string.value.expose(), br#""s3cr\"et""#);
    }

    #[test]
    fn credential_answers_of_other_shapes_are_unreadable() {
        for bad in [
            &b"not json"[..],
            br#"{"id":"c1","value":{}}"#,
            br#"{"json":{"value":{}}}"#,
            br#"{"json":{"id":"c1","value":3}}"#,
            br#"{"json":{"id":"c1"}}"#,
        ] {
            assert!(matches!(
                parse_credential(bad),
                Err(UpstreamError::Unreadable)
            ));
        }
    }

    #[test]
    fn only_the_api_not_found_envelope_means_missing() {
        assert!(is_not_found_envelope(
            br#"{"json":{"defined":false,"code":"NOT_FOUND","status":404,"message":"x"}}"#
        ));
        for other in [
            &b"<html>Not Found</html>"[..],
            b"",
            br#"{"json":{"code":"BAD_REQUEST"}}"#,
            br#"{"code":"NOT_FOUND"}"#,
        ] {
            assert!(!is_not_found_envelope(other));
        }
    }
}

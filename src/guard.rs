//! The checks every request to the sidecar passes before anything else happens.
//!
//! In order: the client token (401 when one is configured and not presented), a relaying
//! proxy's headers (403 unless `--allow-forwarded`), and a read of a credential's value
//! (`credentials/get`, 403 `CREDENTIAL_READ_FORBIDDEN` unless `--allow-credential-reads`): an
//! app behind the sidecar launches jobs with credentials but cannot read them back. The other
//! credential routes pass: an app may store a user's credentials, and `list` has no values.
//! The guard also carries the optional credential policy that job bodies are checked against.
//!
//! The read check compares a normalized path (percent-decoded, dot segments and empty
//! segments removed, case folded), so `//v1/credentials/./GET` cannot slip past a check that
//! an upstream's router would not make.

use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use serde_json::json;

use crate::access::{check_forwarded, ClientToken, TOKEN_HEADER};
use crate::envelope::ApiError;
use crate::policy::Policy;

/// The request checks and the policy. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    pub token: ClientToken,
    pub allow_forwarded: bool,
    pub allow_credential_reads: bool,
    pub policy: Option<Arc<Policy>>,
}

impl Guard {
    /// Token, relay and read checks, in that order; the first failure is the answer.
    pub fn admit(&self, path: &str, headers: &HeaderMap) -> Result<(), ApiError> {
        self.token.check(headers)?;
        check_forwarded(headers, self.allow_forwarded)?;
        if !self.allow_credential_reads && is_credential_read(path) {
            return Err(read_forbidden());
        }
        Ok(())
    }

    pub fn policy(&self) -> Option<&Policy> {
        self.policy.as_deref()
    }
}

/// Removes what must not travel upstream: the client token, and `Accept-Encoding` so that JSON
/// answers come back uncompressed and can be checked for secrets.
pub fn strip_request_headers(headers: &mut HeaderMap) {
    headers.remove(TOKEN_HEADER);
    headers.remove(http::header::ACCEPT_ENCODING);
}

/// The answer to a refused `credentials/get`.
pub fn read_forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "CREDENTIAL_READ_FORBIDDEN",
        "Reading credential values through the sidecar is refused: use placeholders in \
         jobs/create instead (start the sidecar with --allow-credential-reads to allow reads)",
    )
    .defined()
    .with_data(json!({ "flag": "--allow-credential-reads" }))
}

/// Whether a request path reads a credential's value.
pub fn is_credential_read(path: &str) -> bool {
    normalize_path(path) == "/v1/credentials/get"
}

/// The path as a router would most generously see it: percent-decoded, lower case, without
/// empty or `.` segments, `..` applied, `;parameters` dropped, no trailing slash.
pub fn normalize_path(path: &str) -> String {
    let decoded = percent_decode(path).to_ascii_lowercase();
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        let segment = segment.split(';').next().unwrap_or_default();
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    format!("/{}", segments.join("/"))
}

/// Decodes `%XX` escapes (repeatedly, so double encoding is seen through); invalid escapes
/// stay as they are.
fn percent_decode(path: &str) -> String {
    let mut text = path.to_owned();
    // A few rounds see through any double or triple encoding a client might try.
    for _ in 0..3 {
        if !text.contains('%') {
            break;
        }
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut index = 0;
        while index < bytes.len() {
            let escape = (bytes[index] == b'%')
                .then(|| bytes.get(index + 1..index + 3))
                .flatten()
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            match escape {
                Some(byte) => {
                    out.push(byte);
                    index += 3;
                }
                None => {
                    out.push(bytes[index]);
                    index += 1;
                }
            }
        }
        let next = String::from_utf8_lossy(&out).into_owned();
        if next == text {
            break;
        }
        text = next;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn credential_reads_are_seen_through_disguises() {
        for path in [
            "/v1/credentials/get",
            "/v1/credentials/get/",
            "//v1//credentials/get",
            "/v1/credentials/./get",
            "/v1/jobs/../credentials/get",
            "/V1/Credentials/GET",
            "/v1/credentials/g%65t",
            "/v1/credentials/g%2565t",
            "/v1/credentials%2Fget",
            "/v1/credentials/get;x=1",
        ] {
            assert!(is_credential_read(path), "{path}");
        }
        for path in [
            "/v1/credentials/list",
            "/v1/credentials/getx",
            "/v1/credentials/create",
            "/v1/jobs/get",
            "/credentials/get",
        ] {
            assert!(!is_credential_read(path), "{path}");
        }
    }

    #[test]
    fn reads_are_refused_unless_allowed() {
        let guard = Guard::default();
        let refused = guard
            .admit("/v1/credentials/get", &HeaderMap::new())
            .unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(refused.code, "CREDENTIAL_READ_FORBIDDEN");
        assert!(refused.defined);
        assert!(refused.message.contains("--allow-credential-reads"));
        assert!(guard
            .admit("/v1/credentials/list", &HeaderMap::new())
            .is_ok());
        let open = Guard {
            allow_credential_reads: true,
            ..Guard::default()
        };
        assert!(open.admit("/v1/credentials/get", &HeaderMap::new()).is_ok());
    }

    #[test]
    fn relayed_requests_are_refused_before_reads() {
        let mut headers = HeaderMap::new();
        headers.insert("forwarded", HeaderValue::from_static("for=10.0.0.1"));
        let refused = Guard::default()
            .admit("/v1/credentials/get", &headers)
            .unwrap_err();
        assert_eq!(refused.code, "FORBIDDEN");
    }

    #[test]
    fn the_token_and_encodings_do_not_travel_upstream() {
        let mut headers = HeaderMap::new();
        headers.insert(TOKEN_HEADER, HeaderValue::from_static("t"));
        headers.insert("accept-encoding", HeaderValue::from_static("gzip"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        strip_request_headers(&mut headers);
        assert_eq!(headers.len(), 1);
    }
}

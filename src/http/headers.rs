//! Header helpers shared by every server and client here, each written once: hop-by-hop
//! headers (RFC 9110 §7.6.1), the request id, and content type and encoding tests.

use http::{header, HeaderMap, HeaderName, HeaderValue};

/// The request id header, passed upstream and returned to the client.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-supplied request id kept; longer ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Removes the hop-by-hop headers of RFC 9110 §7.6.1: `Connection` and every header it names,
/// `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding` and `Upgrade`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one look at the names costs less than a lookup per name.
    let hop = |name: &HeaderName| {
        matches!(
            name.as_str(),
            "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade"
        ) || name.as_str().starts_with("proxy-")
    };
    if !headers.keys().any(hop) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|list| list.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
    let proxy_headers: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for name in proxy_headers {
        headers.remove(name);
    }
}

/// The client's request id if it is usable, else a fresh UUID.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(REQUEST_ID_HEADER)
        .filter(|value| {
            let bytes = value.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= MAX_REQUEST_ID_LEN
                && bytes.iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(|| {
            let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
            let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
            HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
        })
}

/// The media type of a message (`type/subtype`, lower case, parameters dropped), if any.
fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

/// Whether an answer's content type is JSON (`application/json`, `application/x+json`).
pub fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers)
        .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"))
}

/// Whether a request's content type is exactly `application/json` (parameters allowed).
pub fn is_json_request(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|essence| essence == "application/json")
}

/// The `Content-Encoding` of a message when it is anything but `identity` (compared without
/// regard to case, in every listed coding), cut to 64 characters for an error message.
pub fn non_identity_encoding(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .find_map(|value| {
            let text = String::from_utf8_lossy(value.as_bytes());
            text.split(',')
                .map(str::trim)
                .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity"))
                .then(|| text.chars().take(64).collect())
        })
}

/// Whether an answer's content type is binary (`application/octet-stream`, `image/*`, archives,
/// PDF, ...): passed untouched. Every other answer, one without a content type included, is
/// taken for text and scrubbed.
pub fn is_binary(headers: &HeaderMap) -> bool {
    let Some(essence) = media_type(headers) else {
        return false;
    };
    if essence.contains("json") || essence.contains("xml") || essence.starts_with("text/") {
        return false;
    }
    ["image/", "audio/", "video/", "font/"]
        .iter()
        .any(|prefix| essence.starts_with(prefix))
        || matches!(
            essence.as_str(),
            "application/octet-stream"
                | "application/zip"
                | "application/gzip"
                | "application/x-gzip"
                | "application/x-tar"
                | "application/x-7z-compressed"
                | "application/zstd"
                | "application/pdf"
                | "application/wasm"
                | "application/vnd.sqlite3"
                | "application/x-protobuf"
                | "application/protobuf"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_stripped() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("proxy-authorization", "Basic x"),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("content-type", "application/json"),
            ("x-custom", "kept"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "x-custom"]);
    }

    #[test]
    fn request_ids_are_kept_or_made() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&headers), "abc-123");
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("has space"));
        assert_eq!(request_id(&headers).len(), 36);
        assert_eq!(request_id(&HeaderMap::new()).len(), 36);
    }

    #[test]
    fn only_binary_types_skip_the_scrub() {
        let headers = |kind: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(kind).unwrap());
            headers
        };
        for binary in ["application/octet-stream", "image/png", "application/PDF"] {
            assert!(is_binary(&headers(binary)), "{binary}");
        }
        for text in [
            "text/plain; charset=utf-8",
            "text/event-stream",
            "application/x-ndjson",
            "application/xml",
            "application/javascript",
            "image/svg+xml",
        ] {
            assert!(!is_binary(&headers(text)), "{text}");
        }
        assert!(!is_binary(&http::HeaderMap::new()));
    }

    #[test]
    fn only_identity_counts_as_unencoded() {
        let mut headers = HeaderMap::new();
        assert_eq!(non_identity_encoding(&headers), None);
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("Identity"),
        );
        assert_eq!(non_identity_encoding(&headers), None);
        for coding in ["gzip", "identity, br", "x-custom"] {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
            assert_eq!(non_identity_encoding(&headers).as_deref(), Some(coding));
        }
    }

    #[test]
    fn json_content_types() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(is_json(&headers));
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/problem+json"),
        );
        assert!(is_json(&headers));
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        assert!(!is_json(&headers));
    }
}

//! The loop guard: the sidecar's `Via` entry (RFC 9110 §7.6.3), and its own address as an
//! upstream.
//!
//! `--upstream` reads `LIBRETTO_API_URL`, the variable an app is given to reach the sidecar,
//! so a sidecar can be pointed at itself. Two checks stop the loop: at start-up an upstream
//! naming the listen address (same port; loopback names and addresses taken as one) is
//! refused, and every forwarded request carries `Via: <protocol> libretto-sidecar-<instance>`
//! appended to any `Via` it had, so a request that comes back carrying this instance's entry
//! (a loop through a name the start-up check cannot resolve) is refused with 508.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::{header, HeaderMap, HeaderValue, StatusCode, Version};
use serde_json::json;

use crate::http::envelope::ApiError;

/// This sidecar's `Via` pseudonym, `libretto-sidecar-<random instance id>`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Via {
    pseudonym: Arc<str>,
}

impl Default for Via {
    /// A fresh random instance id.
    fn default() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            pseudonym: Arc::from(format!("libretto-sidecar-{}", &id[..16])),
        }
    }
}

impl Via {
    /// The name this instance gives itself in `Via`.
    pub fn pseudonym(&self) -> &str {
        &self.pseudonym
    }

    /// Whether a `Via` header of `headers` names this instance (as `received-by` of an entry).
    pub fn seen_in(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::VIA)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|list| list.split(','))
            .filter_map(|entry| entry.split_whitespace().nth(1))
            .any(|received_by| received_by.eq_ignore_ascii_case(&self.pseudonym))
    }

    /// Refuses a request that already passed through this instance.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if !self.seen_in(headers) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::LOOP_DETECTED,
            "LOOP_DETECTED",
            "This request already passed through this sidecar (its Via header names it): the \
             sidecar's upstream leads back to the sidecar. Point --upstream \
             (LIBRETTO_API_URL) at the Libretto API, not at the sidecar",
        )
        .defined()
        .with_data(json!({ "via": self.pseudonym() })))
    }

    /// Appends this instance's entry to the `Via` of a request received over `version`: the
    /// entries already there are kept, in order, in one comma-separated value.
    pub fn append(&self, headers: &mut HeaderMap, version: Version) {
        let protocol = match version {
            Version::HTTP_09 => "0.9",
            Version::HTTP_10 => "1.0",
            Version::HTTP_2 => "2",
            Version::HTTP_3 => "3",
            _ => "1.1",
        };
        let mut value: Vec<u8> = Vec::new();
        for existing in headers.get_all(header::VIA) {
            value.extend_from_slice(existing.as_bytes());
            value.extend_from_slice(b", ");
        }
        value.extend_from_slice(format!("{protocol} {}", self.pseudonym).as_bytes());
        // The parts were header values and the entry is ASCII, so this cannot fail; if it
        // did, the entry alone is still sent.
        let value = HeaderValue::from_bytes(&value).unwrap_or_else(|_| {
            HeaderValue::from_str(&format!("{protocol} {}", self.pseudonym))
                .unwrap_or_else(|_| HeaderValue::from_static("1.1 libretto-sidecar"))
        });
        headers.insert(header::VIA, value);
    }
}

/// Whether `upstream` (a URL already checked to be `http(s)://host[:port]...`) names the
/// sidecar's own listen address `listen`: the same port and either the same address, or a
/// loopback name or address while the sidecar listens on loopback or on every address.
pub fn names_listen_address(upstream: &str, listen: SocketAddr) -> bool {
    let Ok(uri) = upstream.trim().parse::<http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    if listen.port() == 0 || port != listen.port() {
        return false;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let listen_ip = listen.ip();
    let local_listen = listen_ip.is_loopback() || listen_ip.is_unspecified();
    match host.parse::<IpAddr>() {
        Ok(ip) if ip == listen_ip => true,
        Ok(ip) => (ip.is_loopback() || ip.is_unspecified()) && local_listen,
        Err(_) => (host == "localhost" || host.ends_with(".localhost")) && local_listen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_is_appended_and_recognized() {
        let via = Via::default();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::VIA,
            HeaderValue::from_static("1.0 fred, 1.1 p.example"),
        );
        assert!(!via.seen_in(&headers));
        via.append(&mut headers, Version::HTTP_11);
        let value = headers[header::VIA].to_str().unwrap().to_owned();
        assert_eq!(
            value,
            format!("1.0 fred, 1.1 p.example, 1.1 {}", via.pseudonym())
        );
        assert!(via.seen_in(&headers));
        assert!(!Via::default().seen_in(&headers), "another instance");
        let refused = via.check(&headers).unwrap_err();
        assert_eq!(refused.status, StatusCode::LOOP_DETECTED);
        assert_eq!(refused.code, "LOOP_DETECTED");
        let mut fresh = HeaderMap::new();
        via.append(&mut fresh, Version::HTTP_2);
        assert_eq!(
            fresh[header::VIA],
            format!("2 {}", via.pseudonym()).as_str()
        );
    }

    #[test]
    fn an_upstream_naming_the_listen_address_is_recognized() {
        let loopback: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        let every: SocketAddr = "0.0.0.0:8787".parse().unwrap();
        let lan: SocketAddr = "10.0.0.5:8787".parse().unwrap();
        for url in [
            "http://127.0.0.1:8787",
            "http://localhost:8787/",
            "http://LOCALHOST.:8787",
            "http://127.0.0.2:8787/base",
            "http://[::1]:8787",
            "http://app.localhost:8787",
        ] {
            assert!(names_listen_address(url, loopback), "{url}");
            assert!(names_listen_address(url, every), "{url}");
        }
        assert!(names_listen_address("http://10.0.0.5:8787", lan));
        assert!(names_listen_address("http://0.0.0.0:8787", every));
        for (url, listen) in [
            ("http://127.0.0.1:8788", loopback),
            ("https://api.libretto.sh", loopback),
            ("http://localhost:8787", lan),
            ("http://10.0.0.6:8787", lan),
            ("http://127.0.0.1:80", "127.0.0.1:0".parse().unwrap()),
        ] {
            assert!(!names_listen_address(url, listen), "{url} {listen}");
        }
        let port_80: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert!(names_listen_address("http://localhost", port_80));
        assert!(!names_listen_address("https://localhost", port_80));
    }
}

//! Web URLs: the one rule for every address the mock sends to (webhook endpoints, job and
//! schedule callbacks), checked when a route accepts the address and again when a delivery is
//! built from it.

use http::Uri;
use serde_json::json;

use super::{Fields, MAX_TEXT_CHARS};
use crate::http::envelope::Issue;

/// Parses an absolute `http` or `https` URL with a host and, when a port is written, a port
/// from 1 to 65535 (`http::Uri` alone takes `:99999`, and the request would go to port 80).
pub(crate) fn http_url(text: &str) -> Option<Uri> {
    let uri: Uri = text.parse().ok()?;
    let web = matches!(uri.scheme_str(), Some("http" | "https"));
    let authority = uri.authority()?.as_str();
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, rest)| rest);
    let (host, port) = match host_and_port.strip_prefix('[') {
        Some(bracketed) => {
            let (inside, after) = bracketed.split_once(']')?;
            (inside, after.strip_prefix(':'))
        }
        None => match host_and_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_and_port, None),
        },
    };
    let port_ok = port.is_none_or(|port| {
        port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p != 0)
    });
    (web && !host.is_empty() && port_ok).then_some(uri)
}

/// Reads an optional URL field, recording `Invalid url` on its path.
pub(crate) fn url_field<'a>(fields: &mut Fields<'a>, key: &str, required: bool) -> Option<&'a str> {
    let text = fields.bounded_string(key, required, MAX_TEXT_CHARS)?;
    if http_url(text).is_none() {
        fields.push(Issue::new(
            "invalid_string",
            "Invalid url",
            vec![json!(key)],
        ));
        return None;
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_web_urls() {
        assert!(http_url("http://127.0.0.1:9/hook").is_some());
        assert!(http_url("https://hooks.example/in?x=1").is_some());
        assert!(http_url("http://127.0.0.1:65535/x").is_some());
        assert!(http_url("http://user:pw@hooks.example:8080/x").is_some());
        assert!(http_url("http://[::1]:8080/x").is_some());
        assert!(http_url("http://[::1]/x").is_some());
        for bad in [
            "ftp://x/y",
            "/relative",
            "not a url",
            "http://",
            "mailto:a@b",
            "http://127.0.0.1:99999/x",
            "http://127.0.0.1:65536/x",
            "http://127.0.0.1:0/x",
            "http://127.0.0.1:/x",
            "http://:80/x",
            "http://user@:80/x",
            "http://[::1]:70000/x",
            "http://[]:80/x",
        ] {
            assert!(http_url(bad).is_none(), "{bad}");
        }
    }
}

//! The checks every request to the sidecar passes before anything else happens.
//!
//! First the loop guard ([`via`]: 508 for a request that already passed through this
//! sidecar). Then, in order: the client token (401 when one is configured and not presented), the browser
//! checks (403), a relaying proxy's headers (403 unless `--allow-forwarded`), a read of a
//! credential's value
//! (`credentials/get`, 403 `CREDENTIAL_READ_FORBIDDEN` unless `--allow-credential-reads`): an
//! app behind the sidecar launches jobs with credentials but cannot read them back. The other
//! credential routes pass: an app may store a user's credentials, and `list` has no values.
//! The guard also carries the optional credential policy that job bodies are checked against.
//!
//! The browser checks stop a web page the user visits from driving the sidecar (a cross-site
//! "simple" POST, or DNS rebinding, where `evil.example` resolves to 127.0.0.1): the `Host` must
//! be a loopback name or address, the listen address, or a name given with `--allowed-host`; a
//! request carrying an `Origin` other than the sidecar's own (`http://` and an accepted host
//! name with the listen port, as a non-browser client that sets `Origin` to its base URL sends
//! it) or one given with `--allowed-origin`, or `Sec-Fetch-Site` other than `none` and
//! `same-origin`, comes from a browser page and is refused; and a POST must say
//! `Content-Type: application/json` (415 otherwise), which a page cannot send cross-site
//! without a preflight the sidecar never answers. Apps are not browsers: server-side HTTP
//! clients send none of those headers, or their own origin.
//!
//! The read check compares a normalized path (percent-decoded, dot segments and empty
//! segments removed, case folded), so `//v1/credentials/./GET` cannot slip past a check that
//! an upstream's router would not make.

pub mod access;
pub mod outbound;
pub mod policy;
pub mod via;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use http::{header, HeaderMap, Method, StatusCode, Uri};
use serde_json::json;

use crate::http::envelope::ApiError;
use crate::http::headers::is_json_request;
use crate::sidecar::guard::access::{check_forwarded, ClientToken, TOKEN_HEADER};
use crate::sidecar::guard::policy::{Policy, Refusal};
use crate::sidecar::route::{CredentialWrite, Kind, Route};

/// The request checks and the policy. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    pub token: ClientToken,
    pub allow_forwarded: bool,
    pub allow_credential_reads: bool,
    pub policy: Option<Arc<Policy>>,
    /// Host names (lower case, without port) accepted besides loopback ones: the listen
    /// address and every `--allowed-host`.
    pub allowed_hosts: Vec<String>,
    /// Origins accepted besides the sidecar's own (`--allowed-origin`), as
    /// `scheme://host[:port]` in lower case.
    pub allowed_origins: Vec<String>,
    /// This instance's `Via` entry, added to forwarded requests and looked for in incoming ones.
    pub via: via::Via,
    /// The port the proxy listens on, once bound (0 before): the sidecar's own origins are
    /// `http://` and an accepted host with this port.
    pub listen_port: Arc<AtomicU16>,
}

impl Guard {
    /// Every check on a request, each made once, in this order: the client token, the
    /// browser and host checks, relay headers, credential reads, batches, and the content type
    /// of a POST. The first failure is the answer.
    pub fn admit(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        route: &Route,
    ) -> Result<(), ApiError> {
        self.via.check(headers)?;
        self.token.check(headers)?;
        if route.kind() == Kind::NonCanonical {
            // Before the read check: a disguised spelling is refused as such, whatever it names.
            return Err(crate::sidecar::error::SidecarError::NonCanonicalPath.to_api_error());
        }
        self.check_browser(uri, headers)?;
        check_forwarded(headers, self.allow_forwarded)?;
        if !self.allow_credential_reads && route.kind() == Kind::CredentialRead {
            return Err(read_forbidden());
        }
        if headers.contains_key("x-orpc-batch") || route.is_batch() {
            // A batch carries several calls in one body; the checks above see only the first.
            return Err(forbidden(
                "Batched calls (x-orpc-batch, __batch__) are refused by the sidecar: send each call on its own",
            ));
        }
        if method == Method::POST && !is_json_request(headers) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "A POST to the sidecar must have `Content-Type: application/json`",
            )
            .defined()
            .with_data(json!({
                "content_type": headers
                    .get(header::CONTENT_TYPE)
                    .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
            })));
        }
        Ok(())
    }

    /// Refuses a request that a browser page sent, or that names a host other than this one.
    pub fn check_browser(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
        self.check_host(uri, headers)?;
        for origin in headers.get_all(header::ORIGIN) {
            if !self.origin_allowed(origin.as_bytes()) {
                return Err(forbidden(
                    "Requests from browser pages (with an Origin other than the sidecar's own) \
                     are refused (start the sidecar with --allowed-origin ORIGIN to accept one)",
                ));
            }
        }
        let fetch_site = headers
            .get("sec-fetch-site")
            .map(|value| value.as_bytes().to_ascii_lowercase());
        if let Some(site) = fetch_site {
            if site != b"none" && site != b"same-origin" {
                return Err(forbidden(
                    "Requests from browser pages (Sec-Fetch-Site) are refused",
                ));
            }
        }
        Ok(())
    }

    /// Refuses a request whose host is not this one: every name it gives (the one `Host`
    /// header, and the authority of an HTTP/2 `:authority` or an absolute-form target) must be
    /// allowed, and it must give one. A request without any, with two `Host` headers, or with
    /// a `Host` that is not visible ASCII is refused too: a check that skipped those would let
    /// a rebound page's request through by leaving the header out or doubling it.
    fn check_host(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
        let mut hosts = headers.get_all(header::HOST).iter();
        let host = hosts.next();
        if hosts.next().is_some() {
            return Err(forbidden(
                "A request to the sidecar must carry one Host header, not several",
            ));
        }
        let host = match host.map(|value| value.to_str()) {
            Some(Ok(host)) => Some(host),
            Some(Err(_)) => {
                return Err(forbidden(
                    "The Host header must be a plain ASCII host name or address",
                ))
            }
            None => None,
        };
        let authority = uri.authority().map(|authority| authority.as_str());
        if host.is_none() && authority.is_none() {
            return Err(forbidden(
                "A request to the sidecar must name its host (Host header or :authority)",
            ));
        }
        if host
            .into_iter()
            .chain(authority)
            .any(|name| !self.host_allowed(name))
        {
            return Err(forbidden(
                "The Host header names neither a loopback address nor the sidecar's listen \
                 address (start the sidecar with --allowed-host NAME to accept another name)",
            ));
        }
        Ok(())
    }

    /// Whether `host` (as in the `Host` header, maybe with a port) is loopback or allowed.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            if ip.is_loopback() {
                return true;
            }
        }
        self.allowed_hosts.iter().any(|allowed| {
            let allowed = host_name(allowed).to_ascii_lowercase();
            allowed == name
        })
    }

    /// Records the port the proxy listens on (known once it is bound).
    pub fn set_listen_port(&self, port: u16) {
        self.listen_port.store(port, Ordering::Relaxed);
    }

    /// Whether an `Origin` value is the sidecar's own or one given with `--allowed-origin`.
    /// The sidecar's own: `http://`, a host [`Guard::host_allowed`] accepts, and the listen
    /// port (80 when the origin names none). `null` and anything unparsable are refused.
    pub fn origin_allowed(&self, origin: &[u8]) -> bool {
        let Ok(origin) = std::str::from_utf8(origin) else {
            return false;
        };
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if self.allowed_origins.contains(&origin) {
            return true;
        }
        let Some(authority) = origin.strip_prefix("http://") else {
            return false;
        };
        if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
            return false;
        }
        let port = match authority.rsplit_once(':') {
            Some((_, port)) if !port.contains(']') => port.parse::<u16>().ok(),
            _ => Some(80),
        };
        let listen_port = self.listen_port.load(Ordering::Relaxed);
        listen_port != 0 && port == Some(listen_port) && self.host_allowed(authority)
    }

    pub fn policy(&self) -> Option<&Policy> {
        self.policy.as_deref()
    }

    /// With a policy loaded, refuses a credential write that renames (`credentials/update`
    /// with a `name`): it could move a value to a name the policy allows elsewhere. `input` is
    /// the body's `json` member, `None` when the body does not parse (the upstream refuses it,
    /// and renames nothing).
    pub fn check_credential_write(
        &self,
        write: CredentialWrite,
        input: Option<&serde_json::Value>,
    ) -> Result<(), Refusal> {
        match input {
            Some(input) if self.policy.is_some() && write == CredentialWrite::Update => {
                Refusal::check_update(input)
            }
            _ => Ok(()),
        }
    }
}

/// Removes what must not travel upstream: the client token, and `Accept-Encoding` so that JSON
/// answers come back uncompressed and can be checked for secrets.
pub fn strip_request_headers(headers: &mut HeaderMap) {
    headers.remove(TOKEN_HEADER);
    headers.remove(http::header::ACCEPT_ENCODING);
}

/// The host part of a `Host` value: without the port, and without the brackets of an IPv6
/// address.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        // A single colon: name and port. More: a bare IPv6 address.
        Some((name, _)) if !name.contains(':') => name,
        _ => host,
    }
}

/// A 403 `FORBIDDEN` refusal (`defined: false`, like the relay check).
fn forbidden(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Admits a GET of `path` (no content type to check), with `Host: localhost` unless
    /// `headers` name a host.
    fn admit_path(guard: &Guard, path: &str, headers: &HeaderMap) -> Result<(), ApiError> {
        let uri: Uri = path.parse().unwrap();
        let mut headers = headers.clone();
        if !headers.contains_key(header::HOST) {
            headers.insert(header::HOST, http::HeaderValue::from_static("localhost"));
        }
        guard.admit(&Method::GET, &uri, &headers, &Route::of(&Method::GET, path))
    }

    #[test]
    fn a_request_without_a_host_is_refused() {
        let uri: Uri = "/v1/jobs/list".parse().unwrap();
        let route = Route::of(&Method::GET, "/v1/jobs/list");
        let refused = Guard::default()
            .admit(&Method::GET, &uri, &HeaderMap::new(), &route)
            .unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
    use http::HeaderValue;

    #[test]
    fn reads_are_refused_unless_allowed() {
        let guard = Guard::default();
        let refused = admit_path(&guard, "/v1/credentials/get", &HeaderMap::new()).unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(refused.code, "CREDENTIAL_READ_FORBIDDEN");
        assert!(refused.defined);
        assert!(refused.message.contains("--allow-credential-reads"));
        assert!(admit_path(&guard, "/v1/credentials/list", &HeaderMap::new()).is_ok());
        let open = Guard {
            allow_credential_reads: true,
            ..Guard::default()
        };
        assert!(admit_path(&open, "/v1/credentials/get", &HeaderMap::new()).is_ok());
    }

    #[test]
    fn relayed_requests_are_refused_before_reads() {
        let mut headers = HeaderMap::new();
        headers.insert("forwarded", HeaderValue::from_static("for=10.0.0.1"));
        let refused = admit_path(&Guard::default(), "/v1/credentials/get", &headers).unwrap_err();
        assert_eq!(refused.code, "FORBIDDEN");
    }

    #[test]
    fn browsers_and_foreign_hosts_are_refused() {
        let guard = Guard {
            allowed_hosts: vec!["sidecar.internal".into(), "10.0.0.5".into()],
            ..Guard::default()
        };
        for host in [
            "localhost",
            "127.0.0.1:8787",
            "127.1.2.3",
            "[::1]:8787",
            "LOCALHOST:1",
            "sidecar.internal:8787",
            "10.0.0.5:80",
        ] {
            assert!(guard.host_allowed(host), "{host}");
        }
        for host in [
            "rebind.evil:8787",
            "evil",
            "10.0.0.6",
            "[::2]:1",
            "localhost.evil",
        ] {
            assert!(!guard.host_allowed(host), "{host}");
        }
        let uri: Uri = "/v1/jobs/create".parse().unwrap();
        let post = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            headers.insert("host", HeaderValue::from_static("127.0.0.1:8787"));
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            guard.admit(
                &Method::POST,
                &uri,
                &headers,
                &Route::of(&Method::POST, uri.path()),
            )
        };
        assert!(post(&[("content-type", "application/json; charset=utf-8")]).is_ok());
        for refused in [post(&[("content-type", "text/plain")]), post(&[])] {
            let refused = refused.unwrap_err();
            assert_eq!(refused.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            assert_eq!(refused.code, "UNSUPPORTED_MEDIA_TYPE");
            assert!(refused.defined);
        }
        for refused in [
            post(&[
                ("content-type", "application/json"),
                ("origin", "http://evil"),
            ]),
            post(&[
                ("content-type", "application/json"),
                ("sec-fetch-site", "cross-site"),
            ]),
            post(&[
                ("content-type", "application/json"),
                ("host", "rebind.evil:8787"),
            ]),
        ] {
            let refused = refused.unwrap_err();
            assert_eq!(refused.status, StatusCode::FORBIDDEN);
            assert_eq!(refused.code, "FORBIDDEN");
        }
        assert!(post(&[
            ("content-type", "application/json"),
            ("sec-fetch-site", "none")
        ])
        .is_ok());
    }

    #[test]
    fn the_sidecars_own_origin_is_accepted_and_every_other_refused() {
        let guard = Guard {
            allowed_hosts: vec!["sidecar.internal".into(), "10.0.0.5".into()],
            allowed_origins: vec!["https://console.example".into()],
            ..Guard::default()
        };
        assert!(
            !guard.origin_allowed(b"http://127.0.0.1:8787"),
            "unknown before the listener is bound"
        );
        guard.set_listen_port(8787);
        for origin in [
            "http://127.0.0.1:8787",
            "http://localhost:8787",
            "http://LOCALHOST:8787/",
            "http://[::1]:8787",
            "http://sidecar.internal:8787",
            "http://10.0.0.5:8787",
            "https://console.example",
        ] {
            assert!(guard.origin_allowed(origin.as_bytes()), "{origin}");
        }
        for origin in [
            "http://127.0.0.1:3000",
            "http://localhost",
            "https://127.0.0.1:8787",
            "http://evil.example:8787",
            "http://127.0.0.1:8787@evil.example",
            "http://127.0.0.1:8787/path",
            "null",
            "",
            "https://console.example:444",
        ] {
            assert!(!guard.origin_allowed(origin.as_bytes()), "{origin}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8787"),
        );
        assert!(admit_path(&guard, "/v1/jobs/list", &headers).is_ok());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:1"),
        );
        assert_eq!(
            admit_path(&guard, "/v1/jobs/list", &headers)
                .unwrap_err()
                .code,
            "FORBIDDEN"
        );
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

//! Local access control: who may use the sidecar at all.
//!
//! The sidecar holds an API key, so any process that can reach it can launch jobs with the
//! tenant's credentials. Three checks keep it from becoming an open door:
//! - a client token (`--client-token-file`), presented as `x-sidecar-token` and compared in
//!   constant time, re-read from its file on SIGHUP;
//! - refusing requests relayed by another proxy (`X-Forwarded-For`, `Forwarded`), the usual
//!   path of server-side request forgery, unless `--allow-forwarded`;
//! - refusing to listen beyond loopback without a client token, unless `--allow-remote`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use parking_lot::RwLock;

use crate::http::envelope::ApiError;
use crate::secret::Secret;

/// The header a local client presents its token in.
pub const TOKEN_HEADER: &str = "x-sidecar-token";

/// Why the access settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("cannot read the client token file {path}: {source}")]
    TokenFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the client token file {path} is empty")]
    EmptyToken { path: String },
    #[error(
        "refusing to listen on {addr}, which is reachable from other hosts, without a client token: \
         pass --client-token-file FILE, or --allow-remote if the network is trusted"
    )]
    RemoteWithoutToken { addr: SocketAddr },
}

/// The client token, if one is configured. Cheap to clone; reloadable.
#[derive(Clone, Debug, Default)]
pub struct ClientToken {
    inner: Option<Arc<TokenSource>>,
}

#[derive(Debug)]
struct TokenSource {
    path: PathBuf,
    token: RwLock<Secret>,
}

fn read_token(path: &Path) -> Result<Secret, AccessError> {
    let shown = path.display().to_string();
    let token = Secret::from_file(path).map_err(|source| AccessError::TokenFile {
        path: shown.clone(),
        source,
    })?;
    if token.is_empty() {
        return Err(AccessError::EmptyToken { path: shown });
    }
    Ok(token)
}

impl ClientToken {
    /// No token: every local client is trusted.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads the token from `path`.
    pub fn from_file(path: &Path) -> Result<Self, AccessError> {
        let token = read_token(path)?;
        Ok(Self {
            inner: Some(Arc::new(TokenSource {
                path: path.to_owned(),
                token: RwLock::new(token),
            })),
        })
    }

    pub fn is_configured(&self) -> bool {
        self.inner.is_some()
    }

    /// Re-reads the token file; on failure the old token stays in force.
    pub fn reload(&self) -> Result<(), AccessError> {
        if let Some(source) = &self.inner {
            let token = read_token(&source.path)?;
            *source.token.write() = token;
        }
        Ok(())
    }

    /// Checks a request's headers: 401 when a token is configured and not presented exactly.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(source) = &self.inner else {
            return Ok(());
        };
        let presented = headers.get(TOKEN_HEADER).map(|value| value.as_bytes());
        match presented {
            Some(bytes) if source.token.read().ct_eq(bytes) => Ok(()),
            Some(_) => Err(ApiError::unauthorized(
                "The x-sidecar-token header does not match",
            )),
            None => Err(ApiError::unauthorized(
                "This sidecar requires the x-sidecar-token header with the client token",
            )),
        }
    }
}

/// Refuses a request that another proxy relayed, unless allowed.
pub fn check_forwarded(headers: &HeaderMap, allow_forwarded: bool) -> Result<(), ApiError> {
    if allow_forwarded {
        return Ok(());
    }
    let relayed = ["x-forwarded-for", "forwarded"]
        .iter()
        .find(|name| headers.contains_key(**name));
    match relayed {
        Some(name) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!(
                "Request carries {name}: it was relayed by another proxy, which this sidecar refuses \
                 (start it with --allow-forwarded to accept relayed requests)"
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses a non-loopback listen address without a client token, unless allowed.
pub fn check_bind(
    addr: SocketAddr,
    token: &ClientToken,
    allow_remote: bool,
) -> Result<(), AccessError> {
    if addr.ip().is_loopback() || token.is_configured() || allow_remote {
        Ok(())
    } else {
        Err(AccessError::RemoteWithoutToken { addr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn token_missing_wrong_right_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let token = ClientToken::from_file(&path).unwrap();
        assert_eq!(
            token.check(&headers(&[])).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert!(token.check(&headers(&[(TOKEN_HEADER, "wrong")])).is_err());
        assert!(token.check(&headers(&[(TOKEN_HEADER, "s3cret")])).is_ok());
        std::fs::write(&path, "rotated").unwrap();
        token.reload().unwrap();
        assert!(token.check(&headers(&[(TOKEN_HEADER, "s3cret")])).is_err());
        assert!(token.check(&headers(&[(TOKEN_HEADER, "rotated")])).is_ok());
        std::fs::write(&path, "").unwrap();
        assert!(matches!(
            token.reload(),
            Err(AccessError::EmptyToken { .. })
        ));
        assert!(token.check(&headers(&[(TOKEN_HEADER, "rotated")])).is_ok());
    }

    #[test]
    fn no_token_trusts_everyone() {
        assert!(ClientToken::none().check(&headers(&[])).is_ok());
    }

    #[test]
    fn forwarded_requests_are_refused_unless_allowed() {
        let relayed = headers(&[("x-forwarded-for", "10.0.0.1")]);
        assert_eq!(
            check_forwarded(&relayed, false).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert!(check_forwarded(&headers(&[("forwarded", "for=1.2.3.4")]), false).is_err());
        assert!(check_forwarded(&relayed, true).is_ok());
        assert!(check_forwarded(&headers(&[]), false).is_ok());
    }

    #[test]
    fn remote_bind_needs_a_token_or_consent() {
        let remote: SocketAddr = "0.0.0.0:8787".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        assert!(check_bind(local, &ClientToken::none(), false).is_ok());
        assert!(check_bind("[::1]:1".parse().unwrap(), &ClientToken::none(), false).is_ok());
        assert!(matches!(
            check_bind(remote, &ClientToken::none(), false),
            Err(AccessError::RemoteWithoutToken { .. })
        ));
        assert!(check_bind(remote, &ClientToken::none(), true).is_ok());
    }
}

//! Why an upstream call or the upstream's configuration failed, and which failures may be
//! retried.

use std::path::PathBuf;

/// Why the upstream base URL or key cannot be used; reported once at start-up.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamConfigError {
    #[error("the upstream URL `{0}` is not a valid http or https URL")]
    Url(String),
    #[error("the upstream URL `{0}` must not carry a query or fragment")]
    UrlQuery(String),
    #[error("the API key contains characters that cannot be sent in an HTTP header")]
    KeyHeader,
    #[error("TLS could not be set up: {0}")]
    Tls(String),
    #[error("the CA file {path} could not be used: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error(
        "the upstream URL `{0}` carries a user name or password: give the API key in the \
         LIBRETTO_API_KEY variable or with --api-key-file instead, and drop it from the URL"
    )]
    UserInfo(String),
}

/// Why an upstream call failed. Cloneable because one failed lookup answers every request
/// that waited on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made (refused, DNS, TLS handshake): the request was not sent.
    /// The text is the transport's own.
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    /// The request was sent, or may have been, and its answer was lost: the connection was
    /// reset or closed before the answer, or the answer's body was cut off.
    #[error("upstream answer lost: {0}")]
    Lost(String),
    /// No answer within `--upstream-timeout`.
    #[error("upstream timed out")]
    Timeout,
    /// An answer with a status the sidecar cannot use (5xx, 401, ...).
    #[error("upstream answered with status {0}")]
    Status(u16),
    /// A success status with a body that is not the documented shape.
    #[error("upstream answer could not be read")]
    Unreadable,
}

/// Why the API key file could not be re-read; the key in use stays as it was.
#[derive(Debug, thiserror::Error)]
pub enum KeyReloadError {
    #[error("no API key file was given, so there is nothing to re-read")]
    NoFile,
    #[error("the API key file {path} could not be read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the API key file {0} is empty")]
    Empty(PathBuf),
    #[error("the API key in {0} contains characters that cannot be sent in an HTTP header")]
    Header(PathBuf),
}

/// Whether a failed lookup may succeed if sent again: a transport failure or a 5xx answer.
/// A 4xx (a wrong key, a forbidden read) or an unreadable answer will not get better.
pub fn is_retryable(err: &UpstreamError) -> bool {
    match err {
        UpstreamError::Unreachable(_) | UpstreamError::Lost(_) | UpstreamError::Timeout => true,
        UpstreamError::Status(status) => *status >= 500,
        UpstreamError::Unreadable => false,
    }
}

/// A short, secret-free description of a transport failure, for logs.
pub(super) fn transport_reason(err: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

//! The upstream's base URL: scheme, host and an optional path prefix, and how a URL is shown.
//!
//! Parsed once at start-up so a bad `--upstream` stops the process with a clear message. A URL
//! carrying user info is refused (credentials in a URL end up in logs and process listings), and
//! any URL shown in a log or an error goes through [`redact_url`].

use http::uri::{Authority, Scheme};
use http::Uri;

use super::error::UpstreamConfigError;

/// The upstream's scheme, host and path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    scheme: Scheme,
    authority: Authority,
    /// Path prefix without a trailing slash; empty for none.
    prefix: String,
}

impl BaseUrl {
    /// Parses `http(s)://host[:port][/prefix]`. A URL with user info (`user:pw@`) is refused:
    /// credentials in a URL end up in logs and process listings.
    pub fn parse(text: &str) -> Result<Self, UpstreamConfigError> {
        let shown = redact_url(text);
        let bad = || UpstreamConfigError::Url(shown.clone());
        let uri: Uri = text.trim().parse().map_err(|_| bad())?;
        let scheme = uri.scheme().cloned().ok_or_else(bad)?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(bad());
        }
        let authority = uri.authority().cloned().ok_or_else(bad)?;
        if authority.as_str().contains('@') {
            return Err(UpstreamConfigError::UserInfo(shown));
        }
        if text.contains('?') || text.contains('#') {
            return Err(UpstreamConfigError::UrlQuery(shown));
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            scheme,
            authority,
            prefix,
        })
    }

    /// The upstream URI for a client's path and query (which starts with `/`).
    pub fn join(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{}", self.prefix, path_and_query))
            .build()
    }
}

/// A URL as it may be shown in a log or an error: any user info (`user:pw@`) replaced by
/// `***@`.
pub fn redact_url(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_with_and_without_prefix() {
        let plain = BaseUrl::parse("https://api.libretto.sh").unwrap();
        assert_eq!(
            plain.join("/v1/jobs/create?x=1").unwrap().to_string(),
            "https://api.libretto.sh/v1/jobs/create?x=1"
        );
        let prefixed = BaseUrl::parse("http://127.0.0.1:9000/api/").unwrap();
        assert_eq!(
            prefixed.join("/v1/jobs/list").unwrap().to_string(),
            "http://127.0.0.1:9000/api/v1/jobs/list"
        );
    }

    #[test]
    fn user_info_is_refused_and_never_shown() {
        for url in [
            "http://user:pw@host/",
            "https://pw@api.example.com",
            "http://u:p@h:1/x?y",
        ] {
            let err = BaseUrl::parse(url).unwrap_err();
            assert!(
                matches!(err, UpstreamConfigError::UserInfo(_)),
                "{url}: {err}"
            );
            let text = err.to_string();
            assert!(!text.contains("pw") && !text.contains("u:p"), "{text}");
            assert!(text.contains("--api-key-file"), "{text}");
        }
        assert_eq!(redact_url("http://a:b@h:1/p@q"), "http://***@h:1/p@q");
        assert_eq!(redact_url("http://h/p@q"), "http://h/p@q");
        assert!(matches!(
            BaseUrl::parse("ftp://a:secret@h"),
            Err(UpstreamConfigError::Url(text)) if !text.contains("secret")
        ));
    }

    #[test]
    fn base_url_rejects_other_schemes_and_queries() {
        assert!(BaseUrl::parse("ftp://example.com").is_err());
        assert!(BaseUrl::parse("example.com").is_err());
        assert!(matches!(
            BaseUrl::parse("http://example.com/?a=b"),
            Err(UpstreamConfigError::UrlQuery(_))
        ));
    }
}

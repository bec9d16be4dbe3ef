//! A type for secret bytes: never printed, compared in constant time, wiped on drop.
//!
//! Credential values, the upstream API key and client tokens all live in [`Secret`]. Its
//! `Debug` prints `Secret([redacted])` and it has no `Display`, so a secret cannot reach a log
//! line by accident; the bytes are reachable only through [`Secret::expose`], which makes
//! every use visible in review.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Secret bytes, zeroized when dropped.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// The secret bytes, for the one place that must use them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as UTF-8 text, if it is.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with other bytes.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.as_slice().ct_eq(other).into()
    }

    /// Reads a secret from a file, trimming one trailing newline (as editors and `echo` add).
    pub fn from_file(path: &std::path::Path) -> std::io::Result<Self> {
        let mut bytes = Zeroizing::new(std::fs::read(path)?);
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other.expose())
    }
}

impl Eq for Secret {}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("b"));
        assert!(!Secret::new("a").ct_eq(b"ab"));
    }

    #[test]
    fn file_reading_trims_trailing_newlines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "abc\r\n").unwrap();
        assert!(Secret::from_file(&path).unwrap().ct_eq(b"abc"));
    }
}

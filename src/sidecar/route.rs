//! The request classified once: what the proxy does with it, which echo its answer may hold,
//! and its metric label, all from one normalized path.
//!
//! Special routes are recognized on the path as a router would most generously read it
//! ([`normalize_path`]: percent-escapes, case, `//`, `/./`, `..`, `;param`, a trailing `/`), so
//! no spelling of `jobs/create` slips through unread. Only a canonical path ([`is_canonical`])
//! is classified; a non-canonical one whose most generous reading ([`generous_path`]: also `\`
//! as `/`, overlong UTF-8, trailing dots and spaces) lands under `/v1/` is [`Kind::NonCanonical`]
//! and refused, never passed through to a router that might read it as a special route. The classification is made once per
//! request, in the handler, and handed to the guard, the proxy and the answer step.

use http::Method;

use crate::sidecar::answer::Echo;
use crate::sidecar::metrics::route_label;

/// What the proxy does with a request, decided from method and path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One of the routes below asked for with another method than POST: refused, since an
    /// oRPC GET carries its input in the query, where placeholders would pass unresolved.
    NotPost,
    /// `jobs/create`: placeholders resolved, then forwarded.
    Job,
    /// `schedules/create|update`: placeholders refused, or resolved with `--resolve-schedules`.
    Schedule,
    /// A credential write: forwarded, then cache entries dropped on success.
    CredentialWrite(CredentialWrite),
    /// `credentials/get`: refused unless reads are allowed, then streamed through verbatim.
    CredentialRead,
    /// Anything else: streamed through.
    PassThrough,
    /// A path that is not in canonical form (see [`is_canonical`]) and that, read the most
    /// generous way ([`generous_path`]), lands under `/v1/`: refused 400, since the sidecar
    /// and the upstream's router might read it differently.
    NonCanonical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialWrite {
    Create,
    Update,
    Upsert,
    Delete,
}

/// A classified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    kind: Kind,
    normalized: String,
    label: &'static str,
}

impl Route {
    /// Classifies a request by its method and path. The special routes take POST only.
    pub fn of(method: &Method, path: &str) -> Self {
        let normalized = normalize_path(path);
        let label = route_label(&normalized);
        if !is_canonical(path) && generous_path(path).starts_with("/v1/") {
            return Self {
                kind: Kind::NonCanonical,
                normalized,
                label,
            };
        }
        let mut kind = match normalized.as_str() {
            "/v1/jobs/create" => Kind::Job,
            "/v1/schedules/create" | "/v1/schedules/update" => Kind::Schedule,
            "/v1/credentials/create" => Kind::CredentialWrite(CredentialWrite::Create),
            "/v1/credentials/update" => Kind::CredentialWrite(CredentialWrite::Update),
            "/v1/credentials/upsert" => Kind::CredentialWrite(CredentialWrite::Upsert),
            "/v1/credentials/delete" => Kind::CredentialWrite(CredentialWrite::Delete),
            "/v1/credentials/get" => Kind::CredentialRead,
            _ => Kind::PassThrough,
        };
        if kind.is_read_whole() && method != Method::POST {
            kind = Kind::NotPost;
        }
        Self {
            kind,
            normalized,
            label,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The path as [`normalize_path`] reads it.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The metric label: a known `group/verb`, or `other`.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// Whether the path names an oRPC batch, which carries several calls in one body.
    pub fn is_batch(&self) -> bool {
        self.normalized.contains("__batch__")
    }

    /// The echo of a job's params the answer may hold.
    pub fn echo(&self) -> Echo {
        match self.normalized.as_str() {
            "/v1/jobs/get" => Echo::JobGet,
            "/v1/jobs/list" => Echo::JobList,
            "/v1/jobs/debugreport" => Echo::DebugReport,
            _ => Echo::None,
        }
    }
}

impl Kind {
    /// Whether the sidecar reads the body whole (and so takes POST only, unencoded).
    pub fn is_read_whole(self) -> bool {
        matches!(self, Self::Job | Self::Schedule | Self::CredentialWrite(_))
    }
}

/// Whether `path` is in the one form the sidecar classifies: `/`-separated segments of
/// unreserved characters only (letters, digits, `-`, `.`, `_`, `~`; no percent-escape, `;`,
/// `\`, space, control or non-ASCII byte), no empty segment but for one trailing `/`, no `.` or
/// `..` segment and no segment ending in `.`. Letter case is left to the classification.
pub fn is_canonical(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return true;
    }
    rest.split('/').all(|segment| {
        !segment.is_empty()
            && !segment.ends_with('.')
            && segment.bytes().all(|byte| {
                byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
            })
    })
}

/// The path as the most lenient router could read it: [`normalize_path`] after also decoding
/// overlong UTF-8 (`%C0%AF` is `/`), reading `\` as `/`, and dropping control characters and
/// trailing dots and whitespace of segments. Used only to tell whether a non-canonical path
/// comes near a Libretto route.
pub fn generous_path(path: &str) -> String {
    let mut bytes = path.as_bytes().to_vec();
    for _ in 0..3 {
        let decoded = percent_decode_bytes(&bytes);
        if decoded == bytes {
            break;
        }
        bytes = decoded;
    }
    let text: String = String::from_utf8_lossy(&fold_overlong(&bytes))
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '\\' { '/' } else { c })
        .collect();
    let trimmed: Vec<&str> = text
        .split('/')
        .map(|segment| match segment {
            "." | ".." => segment,
            other => other.trim_end_matches(|c: char| c == '.' || c.is_whitespace()),
        })
        .collect();
    normalize_path(&trimmed.join("/"))
}

/// One round of `%XX` decoding over bytes; invalid escapes stay.
fn percent_decode_bytes(bytes: &[u8]) -> Vec<u8> {
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
    out
}

/// Replaces overlong two- and three-byte UTF-8 encodings of ASCII by the ASCII byte.
fn fold_overlong(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let next = |at: usize| bytes.get(index + at).copied().filter(|b| b & 0xC0 == 0x80);
        match (byte, next(1), next(2)) {
            (0xC0 | 0xC1, Some(low), _) => {
                out.push(((byte & 0x1F) << 6) | (low & 0x3F));
                index += 2;
            }
            (0xE0, Some(mid @ 0x80..=0x81), Some(low)) => {
                out.push(((mid & 0x3F) << 6) | (low & 0x3F));
                index += 3;
            }
            _ => {
                out.push(byte);
                index += 1;
            }
        }
    }
    out
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
        let out = percent_decode_bytes(text.as_bytes());
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

    fn kind(method: &Method, path: &str) -> Kind {
        Route::of(method, path).kind()
    }

    #[test]
    fn routes_by_method_and_path() {
        assert_eq!(kind(&Method::POST, "/v1/jobs/create"), Kind::Job);
        assert_eq!(kind(&Method::POST, "/v1/jobs/create/"), Kind::Job);
        assert_eq!(kind(&Method::GET, "/v1/jobs/create"), Kind::NotPost);
        assert_eq!(kind(&Method::PUT, "/v1/credentials/delete"), Kind::NotPost);
        assert_eq!(kind(&Method::GET, "/v1/jobs/list"), Kind::PassThrough);
        assert_eq!(kind(&Method::POST, "/v1/JOBS/Create"), Kind::Job);
        // Non-canonical spellings are refused, never passed through.
        for disguised in [
            "//v1/jobs/create",
            "/v1/jobs/./create",
            "/v1/jobs/%63reate",
            "/v1/jobs/create;x=1",
            "/v1/credentials/../jobs/create",
            "/v1/jobs\\create",
            "/v1/jobs/create.",
            "/v1/jobs/create%20",
            "/v1/jobs/create%00",
            "/v1/jobs/create%09",
            "/v1/jobs%C0%AFcreate",
            "/v1/jobs%E0%80%AFcreate",
            "/v1/jobs/%2563reate",
            "/v1/Credentials//Update",
            "/v1/jobs/list%20",
        ] {
            assert_eq!(
                kind(&Method::POST, disguised),
                Kind::NonCanonical,
                "{disguised}"
            );
            assert_eq!(
                kind(&Method::GET, disguised),
                Kind::NonCanonical,
                "{disguised}"
            );
        }
        // Far from any Libretto route, an odd path is the upstream's business.
        assert_eq!(kind(&Method::GET, "/static/a%20b"), Kind::PassThrough);
        assert_eq!(kind(&Method::POST, "/v1/schedules/update"), Kind::Schedule);
        assert_eq!(
            kind(&Method::POST, "/v1/credentials/upsert"),
            Kind::CredentialWrite(CredentialWrite::Upsert)
        );
        assert_eq!(
            kind(&Method::POST, "/v1/credentials/get"),
            Kind::CredentialRead
        );
        assert_eq!(kind(&Method::POST, "/v1/jobs/list"), Kind::PassThrough);
    }

    #[test]
    fn credential_reads_are_seen_through_disguises() {
        for path in [
            "/v1/credentials/get",
            "/v1/credentials/get/",
            "/V1/Credentials/GET",
        ] {
            assert_eq!(kind(&Method::POST, path), Kind::CredentialRead, "{path}");
        }
        for path in [
            "//v1//credentials/get",
            "/v1/credentials/./get",
            "/v1/jobs/../credentials/get",
            "/v1/credentials/g%65t",
            "/v1/credentials/g%2565t",
            "/v1/credentials%2Fget",
            "/v1/credentials/get;x=1",
            "/v1/credentials\\get",
            "/v1/credentials/get..",
        ] {
            assert_eq!(kind(&Method::POST, path), Kind::NonCanonical, "{path}");
        }
        for path in [
            "/v1/credentials/list",
            "/v1/credentials/getx",
            "/v1/credentials/create",
            "/v1/jobs/get",
            "/credentials/get",
        ] {
            assert_ne!(kind(&Method::POST, path), Kind::CredentialRead, "{path}");
        }
    }

    #[test]
    fn echoes_and_labels_follow_the_normalized_path() {
        assert_eq!(
            Route::of(&Method::POST, "/v1/jobs/get").echo(),
            Echo::JobGet
        );
        assert_eq!(
            Route::of(&Method::POST, "/v1/jobs/debugReport").echo(),
            Echo::DebugReport
        );
        assert_eq!(Route::of(&Method::POST, "/v1/logs/list").echo(), Echo::None);
        assert_eq!(
            Route::of(&Method::POST, "/v1/JOBS//get").echo(),
            Echo::JobGet
        );
        assert_eq!(
            Route::of(&Method::POST, "/v1/jobs/./create").label(),
            "jobs/create"
        );
        assert_eq!(
            Route::of(&Method::POST, "/v1/jobs/debugReport").label(),
            "jobs/debugReport"
        );
        assert!(Route::of(&Method::POST, "/v1/x/__batch__").is_batch());
    }
}

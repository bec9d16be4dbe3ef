//! Unit tests of the sidecar's error answers: statuses, codes, data, and the code list.

use super::*;

#[test]
fn upstream_failures_map_to_502_and_504() {
    let timeout =
        SidecarError::lookup("portal", CacheError::Upstream(UpstreamError::Timeout)).to_api_error();
    assert_eq!(timeout.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(timeout.code, "UPSTREAM_TIMEOUT");
    assert!(timeout.defined);
    assert_eq!(timeout.data.unwrap()["credential"], "portal");

    let status = SidecarError::forward(UpstreamError::Status(500)).to_api_error();
    assert_eq!(status.status, StatusCode::BAD_GATEWAY);
    assert_eq!(status.code, "UPSTREAM_ERROR");
    assert_eq!(
        *status.data.unwrap(),
        json!({"upstream_status": 500, "reason": "status"})
    );
}

#[test]
fn transport_text_stays_out_of_the_answer() {
    let err = SidecarError::forward(UpstreamError::Unreachable(
        "tcp connect error: Connection refused".into(),
    ))
    .to_api_error();
    assert!(!err.to_json().to_string().contains("refused"));
}

#[test]
fn too_large_is_defined() {
    let err = SidecarError::PayloadTooLarge { limit: 10 }.to_api_error();
    assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(err.defined);
}

/// One error of every variant, so a new variant cannot be left out of [`ERROR_CODES`]: the
/// match below has no wildcard, and names each variant the list builds.
fn every_variant() -> Vec<SidecarError> {
    use crate::placeholders::grammar::ParseErrorKind;
    use crate::placeholders::{Location, Scope};

    let rewrites = [
        RewriteError::NotJson {
            line: 1,
            column: 1,
            reason: "x".into(),
        },
        RewriteError::Invalid {
            path: "/json/params/a".into(),
            credential: None,
            offset: 0,
            kind: ParseErrorKind::Unclosed,
        },
        RewriteError::NotAllowed {
            path: "/json/workflow".into(),
            credential: None,
            field: None,
            location: Location::Value,
            scope: Scope::JobParams,
        },
        RewriteError::CredentialNotFound {
            path: "/json/params/a".into(),
            credential: "portal".into(),
        },
        RewriteError::FieldNotFound {
            path: "/json/params/a".into(),
            credential: "portal".into(),
            field: "user".into(),
            scalar: None,
        },
        RewriteError::FieldNotText {
            path: "/json/params/a".into(),
            credential: "portal".into(),
            field: None,
            found: "object",
        },
        RewriteError::PatchFailed {
            path: "/json/params/a".into(),
        },
        RewriteError::NotEnveloped,
        RewriteError::ExpansionTooLarge {
            path: "/json/params/a".into(),
            limit: 1,
        },
    ];
    let upstreams = [
        UpstreamError::Unreachable("x".into()),
        UpstreamError::Lost("x".into()),
        UpstreamError::Timeout,
        UpstreamError::Status(500),
        UpstreamError::Unreadable,
    ];
    let mut all: Vec<SidecarError> = rewrites.into_iter().map(SidecarError::Rewrite).collect();
    for source in upstreams {
        all.push(SidecarError::forward(source.clone()));
        all.push(SidecarError::JobUnsettled {
            source,
            nonce: true,
            retried: false,
        });
    }
    all.extend([
        SidecarError::Cache {
            credential: "portal".into(),
        },
        SidecarError::PayloadTooLarge { limit: 1 },
        SidecarError::BodyUnreadable,
        SidecarError::BodyBudgetExhausted,
        SidecarError::BodyTooComplex { budget: 1 },
        SidecarError::BodyTooDeep { limit: 1 },
        SidecarError::BodyTimeout,
        SidecarError::Serialize,
        SidecarError::NotAllowed(NotAllowed {
            workflow: "w".into(),
            credential: "portal".into(),
            path: "/json/params/a".into(),
        }),
        SidecarError::MethodRefused {
            method: "GET".into(),
        },
        SidecarError::EncodingRefused {
            encoding: "gzip".into(),
        },
        SidecarError::PolicyRefused(Refusal::Rename),
        SidecarError::PolicyRefused(Refusal::CredentialId),
        SidecarError::PolicyRefused(Refusal::ScheduleWorkflow),
        SidecarError::AnswerUnchecked { reason: "x" },
        SidecarError::CredentialTooLarge {
            credential: "portal".into(),
            limit: 1,
        },
        SidecarError::SecretBudgetExhausted {
            credential: "portal".into(),
            budget: 1,
        },
        SidecarError::NotReady,
        SidecarError::TooManyCredentials { limit: 1, found: 2 },
        SidecarError::NameTooLong {
            prefix: "p".into(),
            limit: 1,
        },
        SidecarError::DuplicateKey { path: "/a".into() },
        SidecarError::PlaceholderForwarded,
        SidecarError::NonCanonicalPath,
    ]);
    for error in &all {
        match error {
            SidecarError::Upstream { .. }
            | SidecarError::JobUnsettled { .. }
            | SidecarError::Cache { .. }
            | SidecarError::PayloadTooLarge { .. }
            | SidecarError::BodyUnreadable
            | SidecarError::BodyBudgetExhausted
            | SidecarError::BodyTooComplex { .. }
            | SidecarError::BodyTooDeep { .. }
            | SidecarError::BodyTimeout
            | SidecarError::Serialize
            | SidecarError::Rewrite(_)
            | SidecarError::NotAllowed(_)
            | SidecarError::MethodRefused { .. }
            | SidecarError::EncodingRefused { .. }
            | SidecarError::PolicyRefused(_)
            | SidecarError::AnswerUnchecked { .. }
            | SidecarError::CredentialTooLarge { .. }
            | SidecarError::SecretBudgetExhausted { .. }
            | SidecarError::NotReady
            | SidecarError::TooManyCredentials { .. }
            | SidecarError::NameTooLong { .. }
            | SidecarError::DuplicateKey { .. }
            | SidecarError::PlaceholderForwarded
            | SidecarError::NonCanonicalPath => {}
        }
    }
    all
}

#[test]
fn the_code_list_is_every_code_the_sidecar_answers_with() {
    use std::collections::BTreeSet;

    use crate::sidecar::guard::access::{check_forwarded, ClientToken};
    use crate::sidecar::guard::read_forbidden;

    let mut answers: Vec<ApiError> = every_variant()
        .iter()
        .map(SidecarError::to_api_error)
        .collect();
    let mut relayed = http::HeaderMap::new();
    relayed.insert(
        "x-forwarded-for",
        http::HeaderValue::from_static("10.0.0.1"),
    );
    answers.extend(check_forwarded(&relayed, false).err());
    answers.push(read_forbidden());
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), "client-token").unwrap();
    let token = ClientToken::from_file(token_file.path()).unwrap();
    answers.extend(token.check(&http::HeaderMap::new()).err());
    assert_eq!(answers.len(), every_variant().len() + 3);

    let answered: BTreeSet<String> = answers.iter().map(|err| err.code.to_string()).collect();
    let listed: BTreeSet<String> = ERROR_CODES.iter().map(|code| code.to_string()).collect();
    assert_eq!(answered, listed);
    let mut sorted = ERROR_CODES.to_vec();
    sorted.sort_unstable();
    assert_eq!(sorted, ERROR_CODES, "ERROR_CODES is kept sorted");
}

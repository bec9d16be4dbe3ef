//! Unit tests of the upstream client: retry classes, key reload, the CA file, redaction.

use std::time::Duration;

use super::credential_answer::parse_credential;
use super::tls::tls_config;
use super::*;

#[test]
fn only_transport_errors_and_5xx_are_retried() {
    assert!(is_retryable(&UpstreamError::Unreachable("reset".into())));
    assert!(is_retryable(&UpstreamError::Timeout));
    assert!(is_retryable(&UpstreamError::Status(500)));
    assert!(is_retryable(&UpstreamError::Status(503)));
    for status in [400, 401, 403, 404, 429] {
        assert!(!is_retryable(&UpstreamError::Status(status)), "{status}");
    }
    assert!(!is_retryable(&UpstreamError::Unreadable));
}

#[tokio::test]
async fn the_key_is_swapped_on_reload_and_kept_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, "first\n").unwrap();
    let upstream = Upstream::new(UpstreamConfig {
        base_url: "http://127.0.0.1:9".into(),
        timeout: Duration::from_secs(1),
        api_key: Secret::new("first"),
        key_file: Some(path.clone()),
        metrics: Metrics::new(),
        ca_file: None,
        lookups: Default::default(),
    })
    .unwrap();
    assert!(!upstream.reload_key().await.unwrap(), "same key");
    std::fs::write(&path, "second").unwrap();
    assert!(upstream.reload_key().await.unwrap());
    assert_eq!(upstream.api_key_header().unwrap(), "second");
    std::fs::write(&path, "").unwrap();
    assert!(matches!(
        upstream.reload_key().await,
        Err(KeyReloadError::Empty(_))
    ));
    std::fs::write(&path, "bad\u{1}key").unwrap();
    assert!(matches!(
        upstream.reload_key().await,
        Err(KeyReloadError::Header(_))
    ));
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        upstream.reload_key().await,
        Err(KeyReloadError::Read { .. })
    ));
    assert_eq!(upstream.api_key_header().unwrap(), "second", "kept");
}

#[test]
fn a_ca_file_must_hold_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificates here\n").unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for path in [missing, empty, broken] {
        let err = tls_config(Some(&path)).unwrap_err();
        assert!(matches!(err, UpstreamConfigError::CaFile { .. }), "{err}");
        assert!(err.to_string().contains("CA file"), "{err}");
    }
    assert!(tls_config(None).is_ok());
}

#[test]
fn debug_hides_the_value() {
    let fetched = parse_credential(br#"{"json":{"id":"c1","value":"hunter2"}}"#).unwrap();
    assert!(!format!("{fetched:?}").contains("hunter2"));
}

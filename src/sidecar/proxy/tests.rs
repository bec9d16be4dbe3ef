//! Unit tests of `proxy`.

use super::*;

#[test]
fn only_identity_bodies_are_read() {
    let mut headers = HeaderMap::new();
    assert!(refuse_encoded(&headers).is_ok());
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static("Identity"),
    );
    assert!(refuse_encoded(&headers).is_ok());
    for coding in ["gzip", "identity, br", "x-custom"] {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        let refused = refuse_encoded(&headers).unwrap_err().to_api_error();
        assert_eq!(refused.status, http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(refused.code, "UNSUPPORTED_MEDIA_TYPE");
    }
}

#[test]
fn ids_that_cannot_travel_in_a_header_are_refused() {
    assert!(credential_ids_header(&[]).unwrap().is_none());
    let ok = credential_ids_header(&["a".into(), "b".into()]).unwrap();
    assert_eq!(ok.unwrap(), "a,b");
    for bad in ["line\nbreak", "a,b", ""] {
        let refused = credential_ids_header(&[bad.to_owned()]).unwrap_err();
        let answer = refused.to_api_error();
        assert_eq!(answer.code, "UPSTREAM_ERROR");
        assert_eq!(answer.data.unwrap()["reason"], "unreadable");
    }
}

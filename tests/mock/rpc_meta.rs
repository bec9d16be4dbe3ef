//! The RPC serializer's `meta` over HTTP: restored before validation, refused when malformed,
//! with the answers a real oRPC server gives.

use http::Method;
use serde_json::json;

use crate::support::mock::*;

const KEY: &str = "meta-key";

const HEADERS: &[(&str, &str)] = &[("x-api-key", KEY), ("content-type", "application/json")];

#[tokio::test]
async fn a_date_where_a_string_is_due_fails_validation_at_its_path() {
    let server = start(fast_config()).await;
    let body =
        r#"{"json":{"name":"2020-01-01T00:00:00.000Z","credentials":{}},"meta":[[1,"name"]]}"#;
    let answer = server
        .client
        .send(Method::POST, "/v1/credentials/create", HEADERS, body)
        .await;
    assert_eq!(
        answer.json,
        json!({"json": {
            "defined": false, "code": "BAD_REQUEST", "status": 400,
            "message": "Input validation failed",
            "data": {"issues": [{
                "code": "invalid_type", "expected": "string", "received": "date",
                "message": "Expected string, received date", "path": ["name"],
            }]},
        }})
    );
    let listed = ok(&server.client.call(KEY, "credentials/list", json!({})).await);
    assert_eq!(listed["credentials"], json!([]));
}

#[tokio::test]
async fn malformed_meta_is_a_malformed_request() {
    let server = start(fast_config()).await;
    for meta in [
        r#"[[1,"nope"]]"#,
        "5",
        "[null]",
        r#"[[0,"name"]]"#,
        r#"[[4,"credentials"]]"#,
    ] {
        let body = format!(r#"{{"json":{{"name":"a","credentials":{{}}}},"meta":{meta}}}"#);
        let answer = server
            .client
            .send(
                Method::POST,
                "/v1/credentials/create",
                HEADERS,
                body.clone(),
            )
            .await;
        let error = error(&answer, 400, "BAD_REQUEST");
        assert_eq!(
            error["message"],
            libretto_sidecar::http::envelope::MALFORMED_MESSAGE,
            "{meta}"
        );
    }
    let listed = ok(&server.client.call(KEY, "credentials/list", json!({})).await);
    assert_eq!(listed["credentials"], json!([]));
}

#[tokio::test]
async fn restored_values_inside_free_form_fields_are_stored_as_json() {
    let server = start(fast_config()).await;
    let body = r#"{"json":{"name":"kinds","credentials":{"when":"2020-01-01","site":"https://x.y/a b","gone":null,"tags":["a"]}},
        "meta":[[1,"credentials","when"],[4,"credentials","site"],[3,"credentials","gone"],[6,"credentials","tags"]]}"#;
    let created = server
        .client
        .send(Method::POST, "/v1/credentials/create", HEADERS, body)
        .await;
    ok(&created);
    let got = ok(&server
        .client
        .call(KEY, "credentials/get", json!({"name": "kinds"}))
        .await);
    assert_eq!(
        got["value"],
        json!({"when": "2020-01-01T00:00:00.000Z", "site": "https://x.y/a%20b", "tags": {}})
    );
}

//! The mock's credentials routes over real HTTP: every route, every error, merge semantics,
//! the production `value` shape and `upsert`, tenant isolation and the demo fixtures.

use std::time::Duration;

use serde_json::json;

use crate::snap;
use crate::support::mock::*;

const KEY: &str = "credentials-key";
const OTHER: &str = "another-tenant-key";
const MISSING_ID: &str = "00000000-0000-4000-8000-000000000000";

#[tokio::test]
async fn create_list_get_update_delete() {
    let server = start(fast_config()).await;
    let client = &server.client;

    let created = client
        .call(
            KEY,
            "credentials/create",
            json!({"name": "portal-production", "credentials": {"username": "u", "password": "p"}}),
        )
        .await;
    snap!("mock_credentials_create", &created);
    let id = ok(&created)["credential_id"].as_str().unwrap().to_string();

    let listed = client.call(KEY, "credentials/list", json!({})).await;
    snap!("mock_credentials_list", &listed);
    let entry = &ok(&listed)["credentials"][0];
    assert_eq!(entry["credential_id"], id);
    assert!(entry.get("value").is_none() && entry.get("credentials").is_none());
    assert!(!String::from_utf8_lossy(&listed.bytes).contains("password"));

    let got = client
        .call(KEY, "credentials/get", json!({"name": "portal-production"}))
        .await;
    snap!("mock_credentials_get", &got);
    assert_eq!(
        ok(&got),
        json!({"id": id, "value": {"username": "u", "password": "p"}})
    );

    let updated = client
        .call(
            KEY,
            "credentials/update",
            json!({"id": id, "credentials": {"password": "q"}, "name": "portal"}),
        )
        .await;
    snap!("mock_credentials_update", &updated);
    let got = ok(&client
        .call(KEY, "credentials/get", json!({"name": "portal"}))
        .await);
    assert_eq!(got["value"], json!({"username": "u", "password": "q"}));
    let old_name = client
        .call(KEY, "credentials/get", json!({"name": "portal-production"}))
        .await;
    error(&old_name, 404, "NOT_FOUND");

    let deleted = client
        .call(KEY, "credentials/delete", json!({"id": id}))
        .await;
    snap!("mock_credentials_delete", &deleted);
    let gone = client
        .call(KEY, "credentials/get", json!({"name": "portal"}))
        .await;
    error(&gone, 404, "NOT_FOUND");
    snap!("mock_credentials_get_not_found", &gone);
    let listed = ok(&client.call(KEY, "credentials/list", json!({})).await);
    assert_eq!(listed["credentials"], json!([]));
}

#[tokio::test]
async fn list_is_in_creation_order() {
    let server = start(fast_config()).await;
    for name in ["c", "a", "b"] {
        create_credential(&server, KEY, name, json!({})).await;
    }
    let listed = ok(&server.client.call(KEY, "credentials/list", json!({})).await);
    let names: Vec<&str> = listed["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c", "a", "b"]);
}

#[tokio::test]
async fn create_errors() {
    let server = start(fast_config()).await;
    let client = &server.client;
    create_credential(&server, KEY, "taken", json!({"a": 1})).await;

    let taken = client
        .call(
            KEY,
            "credentials/create",
            json!({"name": "taken", "credentials": {}}),
        )
        .await;
    error(&taken, 409, "CONFLICT");
    snap!("mock_credentials_create_conflict", &taken);

    let not_object = client
        .call(
            KEY,
            "credentials/create",
            json!({"name": "x", "credentials": "text"}),
        )
        .await;
    assert_eq!(
        issues(&not_object),
        json!([{"code": "invalid_type", "expected": "object", "received": "string", "message": "Expected object, received string", "path": ["credentials"]}])
    );

    let empty_name = client
        .call(
            KEY,
            "credentials/create",
            json!({"name": "", "credentials": {}}),
        )
        .await;
    assert_eq!(issues(&empty_name)[0]["code"], "too_small");
    assert_eq!(issues(&empty_name)[0]["path"], json!(["name"]));

    let long_name = client
        .call(
            KEY,
            "credentials/create",
            json!({"name": "n".repeat(201), "credentials": {}}),
        )
        .await;
    assert_eq!(issues(&long_name)[0]["code"], "too_big");
    let longest = client
        .call(
            KEY,
            "credentials/create",
            json!({"name": "n".repeat(200), "credentials": {}}),
        )
        .await;
    ok(&longest);

    let everything_wrong = client
        .call(
            KEY,
            "credentials/create",
            json!({"name": 7, "credentials": [1]}),
        )
        .await;
    snap!("mock_credentials_create_invalid", &everything_wrong);
    assert_eq!(issues(&everything_wrong).as_array().unwrap().len(), 2);

    let missing = client.call(KEY, "credentials/create", json!({})).await;
    assert_eq!(
        issues(&missing),
        json!([
            {"code": "invalid_type", "expected": "string", "received": "undefined", "message": "Required", "path": ["name"]},
            {"code": "invalid_type", "expected": "object", "received": "undefined", "message": "Required", "path": ["credentials"]},
        ])
    );
}

#[tokio::test]
async fn get_update_delete_errors() {
    let server = start(fast_config()).await;
    let client = &server.client;
    let a = create_credential(&server, KEY, "a", json!({})).await;
    create_credential(&server, KEY, "b", json!({})).await;

    error(
        &client
            .call(KEY, "credentials/get", json!({"name": "zzz"}))
            .await,
        404,
        "NOT_FOUND",
    );
    assert_eq!(
        issues(
            &client
                .call(KEY, "credentials/get", json!({"name": 1}))
                .await
        )[0]["path"],
        json!(["name"])
    );

    let bad_id = client
        .call(
            KEY,
            "credentials/update",
            json!({"id": "nope", "name": "c"}),
        )
        .await;
    assert_eq!(
        issues(&bad_id),
        json!([{"code": "invalid_string", "validation": "uuid", "message": "Invalid uuid", "path": ["id"]}])
    );
    snap!("mock_credentials_invalid_uuid", &bad_id);
    error(
        &client
            .call(
                KEY,
                "credentials/update",
                json!({"id": MISSING_ID, "name": "c"}),
            )
            .await,
        404,
        "NOT_FOUND",
    );
    let rename_onto_taken = client
        .call(KEY, "credentials/update", json!({"id": a, "name": "b"}))
        .await;
    error(&rename_onto_taken, 409, "CONFLICT");
    let not_object = client
        .call(
            KEY,
            "credentials/update",
            json!({"id": a, "credentials": 5}),
        )
        .await;
    assert_eq!(issues(&not_object)[0]["path"], json!(["credentials"]));

    let delete_bad = client
        .call(KEY, "credentials/delete", json!({"id": 12}))
        .await;
    assert_eq!(
        issues(&delete_bad)[0]["message"],
        "Expected string, received number"
    );
    let delete_missing = client
        .call(KEY, "credentials/delete", json!({"id": MISSING_ID}))
        .await;
    error(&delete_missing, 404, "NOT_FOUND");
    let no_id = client.call(KEY, "credentials/delete", json!({})).await;
    assert_eq!(issues(&no_id)[0]["message"], "Required");
}

#[tokio::test]
async fn update_merges_nested_objects_and_null_removes() {
    let server = start(fast_config()).await;
    let client = &server.client;
    let id = create_credential(
        &server,
        KEY,
        "merge",
        json!({"username": "u", "oauth": {"id": "i", "scopes": ["a"], "old": 1}, "gone": true}),
    )
    .await;
    let before =
        ok(&client.call(KEY, "credentials/list", json!({})).await)["credentials"][0].clone();
    tokio::time::sleep(Duration::from_millis(3)).await; // timestamps have millisecond resolution
    ok(&client
        .call(
            KEY,
            "credentials/update",
            json!({"id": id, "credentials": {"oauth": {"scopes": ["b"], "old": null, "new": 2}, "gone": null}}),
        )
        .await);
    let value = ok(&client
        .call(KEY, "credentials/get", json!({"name": "merge"}))
        .await)["value"]
        .clone();
    assert_eq!(
        value,
        json!({"username": "u", "oauth": {"id": "i", "scopes": ["b"], "new": 2}})
    );
    let after =
        ok(&client.call(KEY, "credentials/list", json!({})).await)["credentials"][0].clone();
    assert_eq!(after["created_at"], before["created_at"]);
    assert!(after["updated_at"].as_str() > before["updated_at"].as_str());
}

#[tokio::test]
async fn production_value_shape() {
    let server = start(fast_config()).await;
    let client = &server.client;
    let created = client
        .call(
            KEY,
            "credentials/create",
            json!({"name": "s", "value": "plain-secret"}),
        )
        .await;
    let id = ok(&created)["credential_id"].as_str().unwrap().to_string();
    let got = ok(&client
        .call(KEY, "credentials/get", json!({"name": "s"}))
        .await);
    assert_eq!(got["value"], "plain-secret");

    // A non-object value replaces; an object value onto an object merges.
    ok(&client
        .call(
            KEY,
            "credentials/update",
            json!({"id": id, "value": {"a": 1}}),
        )
        .await);
    ok(&client
        .call(
            KEY,
            "credentials/update",
            json!({"id": id, "value": {"b": 2}}),
        )
        .await);
    let got = ok(&client
        .call(KEY, "credentials/get", json!({"name": "s"}))
        .await);
    assert_eq!(got["value"], json!({"a": 1, "b": 2}));
    ok(&client
        .call(
            KEY,
            "credentials/update",
            json!({"id": id, "value": "again"}),
        )
        .await);
    let got = ok(&client
        .call(KEY, "credentials/get", json!({"name": "s"}))
        .await);
    assert_eq!(got["value"], "again");

    // Numbers and key order come back exactly as stored.
    let exact = r#"{"json":{"name":"exact","value":{"z":1.50,"a":12345678901234567890123}}}"#;
    let answer = client
        .send(
            http::Method::POST,
            "/v1/credentials/create",
            &[("x-api-key", KEY), ("content-type", "application/json")],
            exact,
        )
        .await;
    ok(&answer);
    let got = client
        .call(KEY, "credentials/get", json!({"name": "exact"}))
        .await;
    assert!(String::from_utf8_lossy(&got.bytes)
        .contains(r#""value":{"z":1.50,"a":12345678901234567890123}"#));
}

#[tokio::test]
async fn upsert_creates_then_overwrites() {
    let server = start(fast_config()).await;
    let client = &server.client;
    let first = client
        .call(
            KEY,
            "credentials/upsert",
            json!({"name": "u", "value": "one"}),
        )
        .await;
    snap!("mock_credentials_upsert_created", &first);
    let first = ok(&first);
    assert_eq!(first["overwritten"], false);
    let second = client
        .call(
            KEY,
            "credentials/upsert",
            json!({"name": "u", "value": {"two": 2}}),
        )
        .await;
    snap!("mock_credentials_upsert_overwritten", &second);
    let second = ok(&second);
    assert_eq!(second["overwritten"], true);
    assert_eq!(second["credential_id"], first["credential_id"]);
    let got = ok(&client
        .call(KEY, "credentials/get", json!({"name": "u"}))
        .await);
    assert_eq!(got["value"], json!({"two": 2}));

    let missing = client
        .call(KEY, "credentials/upsert", json!({"name": "u"}))
        .await;
    assert_eq!(issues(&missing)[0]["path"], json!(["value"]));
}

#[tokio::test]
async fn tenants_are_isolated() {
    let server = start(fast_config()).await;
    let client = &server.client;
    let id = create_credential(&server, KEY, "shared-name", json!({"owner": "first"})).await;

    let listed = ok(&client.call(OTHER, "credentials/list", json!({})).await);
    assert_eq!(listed["credentials"], json!([]));
    error(
        &client
            .call(OTHER, "credentials/get", json!({"name": "shared-name"}))
            .await,
        404,
        "NOT_FOUND",
    );
    error(
        &client
            .call(
                OTHER,
                "credentials/update",
                json!({"id": id, "credentials": {"owner": "x"}}),
            )
            .await,
        404,
        "NOT_FOUND",
    );
    error(
        &client
            .call(OTHER, "credentials/delete", json!({"id": id}))
            .await,
        404,
        "NOT_FOUND",
    );

    // The same name is free in another tenant, and each sees its own value.
    create_credential(&server, OTHER, "shared-name", json!({"owner": "second"})).await;
    let mine = ok(&client
        .call(KEY, "credentials/get", json!({"name": "shared-name"}))
        .await);
    let theirs = ok(&client
        .call(OTHER, "credentials/get", json!({"name": "shared-name"}))
        .await);
    assert_eq!(mine["value"]["owner"], "first");
    assert_eq!(theirs["value"]["owner"], "second");
    assert_ne!(mine["id"], theirs["id"]);
}

#[tokio::test]
async fn demo_fixtures_are_served() {
    let server = start_demo(fast_config()).await;
    let client = &server.client;
    let portal = ok(&client
        .call(
            DEMO_KEY,
            "credentials/get",
            json!({"name": "portal-production"}),
        )
        .await);
    assert_eq!(
        portal["value"],
        json!({"username": "demo-user", "password": "demo-pa$$w0rd \"quoted\" ü"})
    );
    let api = ok(&client
        .call(DEMO_KEY, "credentials/get", json!({"name": "api"}))
        .await);
    assert_eq!(api["value"]["oauth"]["scopes"], json!(["read", "write"]));
    assert_eq!(api["value"]["port"], json!(8443));
    let plain = ok(&client
        .call(DEMO_KEY, "credentials/get", json!({"name": "plain"}))
        .await);
    assert_eq!(plain["value"], "plain-secret-value");
    let listed = ok(&client.call(DEMO_KEY, "credentials/list", json!({})).await);
    assert_eq!(listed["credentials"].as_array().unwrap().len(), 3);
    // Another key is another tenant, with nothing preloaded.
    let other = ok(&client
        .call("not-the-demo-key", "credentials/list", json!({}))
        .await);
    assert_eq!(other["credentials"], json!([]));
}

#[tokio::test]
async fn bad_fixtures_are_refused() {
    let server = start(fast_config()).await;
    assert!(server.mock.load_fixtures("{").is_err());
    assert!(server
        .mock
        .load_fixtures(r#"{"tenants": [{"api_key": "k", "credentials": [{"name": "a"}]}]}"#)
        .is_err());
}

/// The `updated_at` of credential `name` as `credentials/list` shows it.
async fn updated_at(server: &MockServer, key: &str, name: &str) -> String {
    let listed = ok(&server.client.call(key, "credentials/list", json!({})).await);
    listed["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no credential {name}: {listed}"))["updated_at"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn updated_at_moves_on_a_rename_and_on_an_upsert_overwrite() {
    let server = start(fast_config()).await;
    let client = &server.client;
    let id = create_credential(&server, KEY, "before", json!({"a": 1})).await;
    let created = updated_at(&server, KEY, "before").await;
    // Timestamps have millisecond resolution: make sure the next one differs.
    tokio::time::sleep(Duration::from_millis(5)).await;
    ok(&client
        .call(
            KEY,
            "credentials/update",
            json!({"id": id, "name": "after"}),
        )
        .await);
    let renamed = updated_at(&server, KEY, "after").await;
    assert!(renamed > created, "{renamed} <= {created}");

    ok(&client
        .call(KEY, "credentials/upsert", json!({"name": "u", "value": 1}))
        .await);
    let first = updated_at(&server, KEY, "u").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    ok(&client
        .call(KEY, "credentials/upsert", json!({"name": "u", "value": 2}))
        .await);
    let overwritten = updated_at(&server, KEY, "u").await;
    assert!(overwritten > first, "{overwritten} <= {first}");
}

#[tokio::test]
async fn upsert_reports_every_problem() {
    let server = start(fast_config()).await;
    let client = &server.client;
    let nothing = client.call(KEY, "credentials/upsert", json!({})).await;
    assert_eq!(
        issues(&nothing),
        json!([
            {"code": "invalid_type", "expected": "string", "received": "undefined", "message": "Required", "path": ["name"]},
            {"code": "invalid_type", "message": "Required", "path": ["value"]},
        ])
    );
    let wrong_type = client
        .call(KEY, "credentials/upsert", json!({"name": 5}))
        .await;
    assert_eq!(
        issues(&wrong_type),
        json!([
            {"code": "invalid_type", "expected": "string", "received": "number", "message": "Expected string, received number", "path": ["name"]},
            {"code": "invalid_type", "message": "Required", "path": ["value"]},
        ])
    );
    let too_long = client
        .call(
            KEY,
            "credentials/upsert",
            json!({"name": "n".repeat(201), "value": "v"}),
        )
        .await;
    assert_eq!(
        issues(&too_long),
        json!([{"code": "too_big", "message": "String must contain at most 200 character(s)", "path": ["name"]}])
    );
    let empty = client
        .call(KEY, "credentials/upsert", json!({"name": "", "value": "v"}))
        .await;
    assert_eq!(issues(&empty)[0]["code"], "too_small");
    let blank = client
        .call(
            KEY,
            "credentials/upsert",
            json!({"name": "  ", "value": "v"}),
        )
        .await;
    assert_eq!(issues(&blank)[0]["message"], "Name must not be blank");
    ok(&client
        .call(
            KEY,
            "credentials/upsert",
            json!({"name": "n".repeat(200), "value": "v"}),
        )
        .await);
}

#[tokio::test]
async fn blank_and_empty_names_are_refused() {
    let server = start(fast_config()).await;
    let client = &server.client;
    let id = create_credential(&server, KEY, "a", json!({})).await;
    for name in [" ", "   ", "\t\n"] {
        let blank = client
            .call(
                KEY,
                "credentials/create",
                json!({"name": name, "credentials": {}}),
            )
            .await;
        assert_eq!(
            issues(&blank),
            json!([{"code": "custom", "message": "Name must not be blank", "path": ["name"]}]),
            "{name:?}"
        );
        let rename = client
            .call(KEY, "credentials/update", json!({"id": id, "name": name}))
            .await;
        assert_eq!(issues(&rename)[0]["path"], json!(["name"]));
    }
    let get_empty = client
        .call(KEY, "credentials/get", json!({"name": ""}))
        .await;
    assert_eq!(
        issues(&get_empty),
        json!([{"code": "too_small", "message": "String must contain at least 1 character(s)", "path": ["name"]}])
    );
    let listed = ok(&client.call(KEY, "credentials/list", json!({})).await);
    assert_eq!(listed["credentials"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_update_without_a_change_is_refused() {
    let server = start(fast_config()).await;
    let client = &server.client;
    let id = create_credential(&server, KEY, "a", json!({"x": 1})).await;
    let before = updated_at(&server, KEY, "a").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    for input in [
        json!({"id": id}),
        json!({"id": id, "name": null, "value": null}),
    ] {
        let nothing = client.call(KEY, "credentials/update", input).await;
        assert_eq!(
            issues(&nothing),
            json!([{"code": "custom", "message": "Nothing to update: send name, credentials or value", "path": []}])
        );
    }
    assert_eq!(updated_at(&server, KEY, "a").await, before);
    // An empty patch is still a change the caller asked for.
    ok(&client
        .call(
            KEY,
            "credentials/update",
            json!({"id": id, "credentials": {}}),
        )
        .await);
}

#[tokio::test]
async fn reading_with_a_new_key_stores_nothing() {
    let server = start(never_config()).await;
    let client = &server.client;
    assert_eq!(server.mock.tenant_count(), 0);
    let stranger = "never-stored-anything";
    let empty_list = ok(&client.call(stranger, "credentials/list", json!({})).await);
    assert_eq!(empty_list["credentials"], json!([]));
    for (route, input) in [
        ("credentials/get", json!({"name": "a"})),
        ("credentials/update", json!({"id": MISSING_ID, "name": "b"})),
        ("credentials/delete", json!({"id": MISSING_ID})),
        ("jobs/get", json!({"id": MISSING_ID})),
        ("jobs/cancel", json!({"id": MISSING_ID})),
        ("jobs/debugReport", json!({"id": MISSING_ID})),
    ] {
        error(&client.call(stranger, route, input).await, 404, "NOT_FOUND");
    }
    let jobs = ok(&client.call(stranger, "jobs/list", json!({})).await);
    assert_eq!(jobs, json!({"jobs": [], "next_cursor": null}));
    let logs = ok(&client.call(stranger, "logs/list", json!({})).await);
    assert_eq!(logs, json!({"logs": [], "nextPageToken": null}));
    let refs = client
        .call(
            stranger,
            "jobs/create",
            json!({"workflow": "w", "credential_id": MISSING_ID}),
        )
        .await;
    error(&refs, 409, "CONFLICT");
    assert_eq!(server.mock.tenant_count(), 0, "reads created a tenant");
    // Storing something makes the tenant.
    create_credential(&server, stranger, "a", json!({})).await;
    assert_eq!(server.mock.tenant_count(), 1);
}

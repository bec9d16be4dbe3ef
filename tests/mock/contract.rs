//! `docs/openapi.yaml` against the mock: the same routes on both sides (read from the spec,
//! compared with the route table and probed over HTTP), every `$ref` resolving, and the
//! sidecar's error codes listed exactly as the code defines them. schemathesis checks the
//! schemas themselves (`tests/contract/run`).

use std::collections::BTreeSet;

use http::Method;
use serde_yaml_ng::Value as Yaml;

use crate::support::mock::*;

fn spec() -> Yaml {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("docs/openapi.yaml is readable");
    serde_yaml_ng::from_str(&text).expect("docs/openapi.yaml is YAML")
}

fn spec_paths(spec: &Yaml) -> BTreeSet<String> {
    spec["paths"]
        .as_mapping()
        .expect("the spec has paths")
        .keys()
        .map(|key| key.as_str().expect("a path is a string").to_string())
        .collect()
}

#[test]
fn the_spec_and_the_route_table_name_the_same_routes() {
    let spec = spec();
    let in_spec = spec_paths(&spec);
    let served: BTreeSet<String> = libretto_sidecar::mock::routes().map(String::from).collect();
    let only_spec: Vec<_> = in_spec.difference(&served).collect();
    let only_mock: Vec<_> = served.difference(&in_spec).collect();
    assert!(
        only_spec.is_empty() && only_mock.is_empty(),
        "routes only in docs/openapi.yaml: {only_spec:?}; only in the mock: {only_mock:?}"
    );
    for path in &in_spec {
        let item = spec["paths"][path.as_str()].as_mapping().unwrap();
        let methods: Vec<_> = item.keys().filter_map(Yaml::as_str).collect();
        assert_eq!(methods, ["post"], "{path} takes POST only");
        let responses = &spec["paths"][path.as_str()]["post"]["responses"];
        for status in ["200", "400", "401"] {
            assert!(responses.get(status).is_some(), "{path} documents {status}");
        }
    }
}

#[tokio::test]
async fn every_spec_path_is_served_and_every_other_one_is_404() {
    let server = start(fast_config()).await;
    let in_spec = spec_paths(&spec());
    let headers = [
        ("x-api-key", "contract-key"),
        ("content-type", "application/json"),
    ];
    for path in &in_spec {
        let answer = server
            .client
            .send(Method::POST, path, &headers, r#"{"json":{}}"#)
            .await;
        assert!(
            matches!(answer.status.as_u16(), 200 | 400),
            "{path} is served: {} {}",
            answer.status,
            answer.json
        );
    }
    // Every verb of the spec under every group of it, and near misses of each path: whatever
    // the spec does not name is 404.
    let split: Vec<(&str, &str)> = in_spec
        .iter()
        .map(|path| {
            path.strip_prefix("/v1/")
                .and_then(|rest| rest.split_once('/'))
                .expect("a path is /v1/group/verb")
        })
        .collect();
    let mut others = BTreeSet::new();
    for (group, _) in &split {
        for (_, verb) in &split {
            others.insert(format!("/v1/{group}/{verb}"));
        }
    }
    for path in &in_spec {
        others.insert(format!("{path}/"));
        others.insert(format!("{path}x"));
        others.insert(path.to_uppercase());
        others.insert(path.replacen("/v1/", "/v2/", 1));
    }
    let mut probed = 0;
    for path in others.difference(&in_spec) {
        let answer = server
            .client
            .send(Method::POST, path, &headers, r#"{"json":{}}"#)
            .await;
        error(&answer, 404, "NOT_FOUND");
        probed += 1;
    }
    assert!(probed > 100, "{probed} paths probed");
}

fn collect_refs<'a>(value: &'a Yaml, refs: &mut Vec<&'a str>) {
    match value {
        Yaml::Mapping(map) => {
            for (key, item) in map {
                match (key.as_str(), item.as_str()) {
                    (Some("$ref"), Some(target)) => refs.push(target),
                    _ => collect_refs(item, refs),
                }
            }
        }
        Yaml::Sequence(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

#[test]
fn every_reference_in_the_spec_resolves() {
    let spec = spec();
    let mut refs = Vec::new();
    collect_refs(&spec, &mut refs);
    assert!(refs.len() > 50, "{} references", refs.len());
    for target in refs {
        let pointer = target.strip_prefix("#/").expect("a local reference");
        let found = pointer
            .split('/')
            .try_fold(&spec, |node, step| node.get(step));
        assert!(found.is_some(), "{target} resolves");
    }
}

#[test]
fn the_spec_lists_the_sidecar_error_codes_the_code_defines() {
    let spec = spec();
    let listed: Vec<&str> = spec["components"]["schemas"]["SidecarErrorCode"]["enum"]
        .as_sequence()
        .expect("SidecarErrorCode has an enum")
        .iter()
        .map(|code| code.as_str().expect("a code is a string"))
        .collect();
    assert_eq!(listed, libretto_sidecar::sidecar::ERROR_CODES);
}

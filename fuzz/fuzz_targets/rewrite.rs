//! Fuzzes the whole rewrite on raw bodies: parse, scan, plan against a fixed credential, apply.
//! Nothing may panic, and a rewritten body must serialize.

#![no_main]

use libfuzzer_sys::fuzz_target;
use libretto_sidecar::placeholders::{apply, parse_body, plan, scan, Scope};
use serde_json::json;

fuzz_target!(|bytes: &[u8]| {
    let Ok(mut body) = parse_body(bytes) else {
        return;
    };
    let Ok(scan) = scan(&body, Scope::JobParams) else {
        return;
    };
    let credential = json!({"username": "u", "n": 1, "o": {"k": ["v"]}});
    let lookup = |name: &str| (name == "c").then(|| credential.clone());
    if let Ok(patch) = plan(&scan, &lookup) {
        apply(&mut body, &patch).expect("a planned patch fits the body it was planned for");
        serde_json::to_vec(&body).expect("a rewritten body serializes");
    }
});

//! The `docker run` line in docs/operations.md is true to the binary: the arguments it gives the
//! image are real `serve` flags, and the binary started with them (the addresses moved to
//! `127.0.0.1:0`, the key file to a temporary one) comes up and accepts a request from the host's
//! loopback, as a published port delivers it.

use serde_json::json;

use crate::support::binary::{command, listening_base};
use crate::support::http::{post_json, TestClient};

const OPERATIONS: &str = include_str!("../../docs/operations.md");

/// The arguments after the image name in the docs' `docker run ... libretto-sidecar ...` line.
fn docker_run_args() -> Vec<String> {
    let joined = OPERATIONS.replace("\\\n", " ");
    let line = joined
        .lines()
        .find(|line| line.starts_with("docker run "))
        .expect("a docker run line in docs/operations.md");
    let words: Vec<&str> = line.split_whitespace().collect();
    let image = words
        .iter()
        .position(|word| *word == "libretto-sidecar")
        .expect("the image name");
    words[image + 1..]
        .iter()
        .map(|word| (*word).to_owned())
        .collect()
}

#[tokio::test]
async fn the_docker_run_line_passes_real_flags_and_its_sidecar_answers_the_host() {
    let args = docker_run_args();
    assert_eq!(args[0], "serve");
    let at = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .unwrap_or_else(|| panic!("{flag} in {args:?}"))
    };
    assert!(
        args[at("--listen") + 1].starts_with("0.0.0.0:"),
        "reachable through -p"
    );
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("api-key");
    std::fs::write(&key_file, "key-from-a-file\n").unwrap();
    let mut local = args.clone();
    local[at("--listen") + 1] = "127.0.0.1:0".into();
    local[at("--admin-listen") + 1] = "127.0.0.1:0".into();
    local[at("--api-key-file") + 1] = key_file.display().to_string();
    let mut child = command()
        .args(&local)
        .env("LIBRETTO_SIDECAR_LEARN_CREDENTIALS", "false")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = listening_base(&mut child).await;
    // A request from the host: a loopback Host, no Origin. The sidecar answers it itself.
    let answer = post_json(
        &TestClient::new(&base),
        "/v1/credentials/get",
        &[],
        &json!({"json": {"name": "x"}}),
    )
    .await;
    assert_eq!(answer.status, 403, "{}", answer.json);
    assert_eq!(
        answer.json["json"]["code"], "CREDENTIAL_READ_FORBIDDEN",
        "{}",
        answer.json
    );
}

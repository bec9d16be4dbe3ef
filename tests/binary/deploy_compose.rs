//! The compose example (`deploy/compose/compose.yaml`) is true to the binary and the
//! Dockerfile: it parses, builds the sidecar from the production stage and the mock from the
//! `mock` stage, passes only flags and variables the binary's `--help` lists, and wires the app
//! to the sidecar and the sidecar to the mock. Both service commands, started as written (their
//! addresses moved to `127.0.0.1:0`), come up, and a job sent as the app sends it, to the name
//! `sidecar`, is filled in and reaches the mock.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use tokio::process::Child;

use crate::support::binary::{command, listening_base};
use crate::support::http::{post_json, TestClient};

const COMPOSE: &str = include_str!("../../deploy/compose/compose.yaml");
const DOCKERFILE: &str = include_str!("../../Dockerfile");
const DEMO: &str = include_str!("../../fixtures/demo.json");

fn compose() -> Value {
    serde_yaml_ng::from_str(COMPOSE).expect("valid YAML")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("a list: {value}"))
        .iter()
        .map(|item| item.as_str().expect("a string").to_owned())
        .collect()
}

/// The long flags and the variables `libretto-sidecar <subcommand> --help` names.
fn help_words(subcommand: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_libretto-sidecar"))
        .args([subcommand, "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    let flags = help
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|word| word.starts_with("--"))
        .map(|word| word.trim_end_matches(',').to_owned())
        .collect();
    // Every variable named: `[env: NAME=]` of a flag, and those the text names (the API key).
    let vars = help
        .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|word| word.starts_with("LIBRETTO_") || *word == "RUST_LOG")
        .map(str::to_owned)
        .collect();
    (flags, vars)
}

/// `--name=value`, or `--name value` (the value the next argument): the value of `name`.
fn flag_value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(at, arg)| {
        if let Some(value) = arg.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
            Some(value)
        } else if arg == name {
            args.get(at + 1).map(String::as_str)
        } else {
            None
        }
    })
}

/// A service's environment as (name, value) pairs.
fn environment(service: &Value) -> Vec<(String, String)> {
    service["environment"]
        .as_object()
        .map(|vars| {
            vars.iter()
                .map(|(name, value)| {
                    let value = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (name.clone(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn env_value(service: &Value, name: &str) -> String {
    environment(service)
        .into_iter()
        .find_map(|(var, value)| (var == name).then_some(value))
        .unwrap_or_else(|| panic!("{name} is not set"))
}

/// The stage names the Dockerfile defines (`FROM ... AS name`), and its last one, the default.
fn dockerfile_stages() -> (BTreeSet<String>, String) {
    let stages: Vec<String> = DOCKERFILE
        .lines()
        .filter(|line| line.starts_with("FROM "))
        .filter_map(|line| {
            line.rsplit_once(" AS ")
                .map(|(_, name)| name.trim().to_owned())
        })
        .collect();
    let last = stages.last().expect("named stages").clone();
    (stages.into_iter().collect(), last)
}

#[test]
fn the_services_build_from_the_dockerfile_and_pass_real_flags_and_variables() {
    let compose = compose();
    let services = &compose["services"];
    for name in ["app", "sidecar", "mock"] {
        assert!(services[name].is_object(), "a service `{name}`");
    }
    let (stages, default) = dockerfile_stages();
    // The sidecar is the production build, the Dockerfile's default stage; the mock its own.
    assert_eq!(services["sidecar"]["build"]["target"], default.as_str());
    assert!(stages.contains(services["mock"]["build"]["target"].as_str().unwrap()));
    assert_ne!(services["mock"]["build"]["target"], default.as_str());
    for name in ["sidecar", "mock"] {
        assert_eq!(
            services[name]["build"]["context"], "../..",
            "the repository root"
        );
    }

    for (name, subcommand) in [("sidecar", "serve"), ("mock", "mock")] {
        let service = &services[name];
        let args = strings(&service["command"]);
        assert_eq!(args[0], subcommand, "{name} runs `{subcommand}`");
        let (flags, vars) = help_words(subcommand);
        for arg in args.iter().filter(|arg| arg.starts_with("--")) {
            let flag = arg.split_once('=').map_or(arg.as_str(), |(flag, _)| flag);
            assert!(
                flags.contains(flag),
                "{name}: {flag} is not a flag of {subcommand}"
            );
        }
        for (var, _) in environment(service) {
            assert!(
                vars.contains(&var),
                "{name}: {var} is not read by {subcommand}"
            );
        }
    }

    // The mock's fixtures are where the mock stage copies the demo file.
    let mock_args = strings(&services["mock"]["command"]);
    let fixtures = flag_value(&mock_args, "--fixtures").expect("the mock preloads fixtures");
    assert!(
        DOCKERFILE.contains(&format!("COPY fixtures/demo.json {fixtures}\n")),
        "the mock stage copies fixtures/demo.json to {fixtures}"
    );
}

#[test]
fn the_app_reaches_the_sidecar_and_the_sidecar_the_mock() {
    let compose = compose();
    let services = &compose["services"];
    let sidecar_args = strings(&services["sidecar"]["command"]);
    let mock_args = strings(&services["mock"]["command"]);
    let port = |args: &[String]| {
        let listen = flag_value(args, "--listen").expect("--listen");
        let (host, port) = listen.rsplit_once(':').unwrap();
        assert_eq!(host, "0.0.0.0", "outside a pod, peers are not on loopback");
        port.parse::<u16>().unwrap()
    };
    let app_url = env_value(&services["app"], "LIBRETTO_API_URL");
    assert_eq!(app_url, format!("http://sidecar:{}", port(&sidecar_args)));
    let script = strings(&services["app"]["command"]).join("\n");
    assert!(
        script.contains("$$LIBRETTO_API_URL/v1/jobs/create"),
        "{script}"
    );
    assert_eq!(
        env_value(&services["sidecar"], "LIBRETTO_API_URL"),
        format!("http://mock:{}", port(&mock_args))
    );
    let allowed = env_value(&services["sidecar"], "LIBRETTO_SIDECAR_ALLOWED_HOSTS");
    assert!(
        allowed.split(',').any(|host| host == "sidecar"),
        "{allowed}"
    );
    // The sidecar's key is a tenant the mock's fixtures hold.
    let key = env_value(&services["sidecar"], "LIBRETTO_API_KEY");
    assert!(DEMO.contains(&format!("\"api_key\": \"{key}\"")), "{key}");
    // The ports reach the host on its loopback only.
    for published in strings(&services["sidecar"]["ports"]) {
        assert!(published.starts_with("127.0.0.1:"), "{published}");
    }
}

/// A service's command with its listen addresses moved to `127.0.0.1:0`, its image paths to the
/// repository's files.
fn local_args(args: &[String]) -> Vec<String> {
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some(("--listen", _)) => "--listen=127.0.0.1:0".to_owned(),
            Some(("--admin-listen", _)) => "--admin-listen=127.0.0.1:0".to_owned(),
            _ if arg.starts_with("0.0.0.0:") => "127.0.0.1:0".to_owned(),
            _ if arg == "/etc/libretto/demo.json" => {
                concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo.json").to_owned()
            }
            _ => arg.clone(),
        })
        .collect()
}

async fn start(service: &Value, replace_env: &[(&str, &str)]) -> (Child, String) {
    let mut command = command();
    for (var, value) in environment(service) {
        let value = replace_env
            .iter()
            .find_map(|(name, new)| (*name == var).then(|| (*new).to_owned()))
            .unwrap_or(value);
        command.env(var, value);
    }
    let mut child = command
        .args(local_args(&strings(&service["command"])))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = listening_base(&mut child).await;
    (child, base)
}

#[tokio::test]
async fn the_service_commands_start_and_a_job_from_the_app_reaches_the_mock() {
    let compose = compose();
    let services = &compose["services"];
    let (_mock, mock_base) = start(&services["mock"], &[]).await;
    let (_sidecar, sidecar_base) =
        start(&services["sidecar"], &[("LIBRETTO_API_URL", &mock_base)]).await;

    // As the app sends it: to the name `sidecar`, with placeholders and no key.
    let app = TestClient::new(&sidecar_base);
    let answer = post_json(
        &app,
        "/v1/jobs/create",
        &[("host", "sidecar:8787")],
        &json!({"json": {"workflow": "portal-login", "params": {
            "username": "{{credential:portal-production/username}}"}}}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["json"]["success"], true, "{}", answer.json);
    let job_id = answer.json["json"]["job_id"].as_str().unwrap().to_owned();

    // The mock holds the job with the value filled in, under the demo key.
    let key = env_value(&services["sidecar"], "LIBRETTO_API_KEY");
    let job = TestClient::new(&mock_base)
        .call(&key, "jobs/get", json!({"id": job_id}))
        .await;
    assert_eq!(job.status, 200, "{}", job.json);
    let username = job.json["json"]["params"]["username"].as_str().unwrap();
    assert!(!username.contains("{{credential:"), "filled in: {username}");

    // A name the sidecar was not told about is refused, as from a rebinding page.
    let foreign = post_json(
        &app,
        "/v1/jobs/create",
        &[("host", "elsewhere.example:8787")],
        &json!({"json": {"workflow": "portal-login", "params": {}}}),
    )
    .await;
    assert_eq!(foreign.status, 403, "{}", foreign.json);
}

//! The shipped binary under operations: `--help` and `--version`, JSON log lines that parse
//! and carry the request id, a SIGTERM that lets a slow request finish while new connections
//! are refused and exits 0, SIGINT likewise, a second signal that ends the drain at once,
//! connections cut at the end of the grace, a SIGHUP key rotation under load that fails no
//! request, start-up failures reported once in the log format, switches from the environment
//! and an invalid `RUST_LOG`. The upstream is the counting fake, run in the test process;
//! signals go through `kill`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::support::binary::{command, listening_base};
use crate::support::http::{Answer, TestClient};
use crate::support::upstream::{FakeUpstream, UPSTREAM_KEY};

/// The content type every POST to the sidecar carries.
const JSON: (&str, &str) = ("content-type", "application/json");

/// A running sidecar process, its addresses, and its stderr lines as they arrive.
struct Sidecar {
    child: Child,
    base: String,
    admin: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Sidecar {
    /// Starts `serve` with JSON logs on ephemeral ports, plus `args` and `envs`.
    async fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut command = command();
        command
            .args([
                "--log-format",
                "json",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .env("RUST_LOG", "info,libretto_sidecar=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in envs {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the binary starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                sink.lock().push(line);
            }
        });
        let base = listening_base(&mut child).await;
        let started = wait_for(&logs, |log| log["message"] == "Sidecar started").await;
        let admin = format!("http://{}", started["admin"].as_str().unwrap());
        Self {
            child,
            base,
            admin,
            logs,
        }
    }

    /// Waits until `/readyz` answers 200 (the first learning pass is done), as traffic waits
    /// for readiness in a deployment.
    async fn ready(&self) {
        let admin = TestClient::new(&self.admin);
        let deadline = Instant::now() + Duration::from_secs(20);
        while admin.send(Method::GET, "/readyz", &[], "").await.status != 200 {
            assert!(Instant::now() < deadline, "readyz never went 200");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Sends SIGTERM and waits for the exit, at most `within`.
    async fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        self.signal("TERM");
        tokio::time::timeout(within, self.child.wait())
            .await
            .expect("the process exits in time")
            .unwrap()
    }

    /// Every stderr line, parsed; panics on a line that is not JSON.
    fn json_logs(&self) -> Vec<Value> {
        self.logs
            .lock()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
            .collect()
    }
}

/// Waits (at most 20 s) for a JSON log line matching `predicate`.
async fn wait_for(logs: &Mutex<Vec<String>>, predicate: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = logs
            .lock()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|log| predicate(log));
        if let Some(found) = found {
            return found;
        }
        assert!(Instant::now() < deadline, "log line never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The fake upstream with the portal credential, started; and its base URL.
async fn fake() -> (FakeUpstream, String) {
    let fake = FakeUpstream::portal();
    let url = fake.start().await;
    (fake, url)
}

fn portal_job() -> String {
    json!({"json": {"workflow": "portal-login",
        "params": {"username": "{{credential:portal-production/username}}",
                   "password": "{{credential:portal-production/password}}"}}})
    .to_string()
}

#[test]
fn version_and_help_document_every_flag() {
    let version = std::process::Command::new(env!("CARGO_BIN_EXE_libretto-sidecar"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("libretto-sidecar {}", env!("CARGO_PKG_VERSION"))
    );

    let help = std::process::Command::new(env!("CARGO_BIN_EXE_libretto-sidecar"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("LIBRETTO_API_KEY environment"), "{help}");
    // One entry per flag: its line and the indented lines under it, in every headed group.
    let mut entries: Vec<String> = Vec::new();
    // The groups end at the first unindented line that is not a heading (the text after them).
    let options = help
        .lines()
        .skip_while(|line| *line != "Options:")
        .filter(|line| !line.is_empty())
        .take_while(|line| line.starts_with(' ') || line.ends_with(':'));
    for line in options {
        if line.trim_start().starts_with("--") || line.trim_start().starts_with("-h") {
            entries.push(line.trim().to_owned());
        } else if line.starts_with("          ") {
            if let Some(last) = entries.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        }
    }
    let flags: Vec<&str> = entries
        .iter()
        .filter_map(|entry| entry.split_whitespace().next())
        .filter(|flag| flag.starts_with("--"))
        .collect();
    for expected in [
        "--listen",
        "--admin-listen",
        "--upstream",
        "--mock",
        "--api-key-file",
        "--upstream-timeout",
        "--max-body",
        "--cache-ttl",
        "--negative-ttl",
        "--cache-capacity",
        "--resolve-schedules",
        "--prefetch",
        "--shutdown-grace",
        "--stale-if-error",
        "--log-format",
    ] {
        assert!(
            flags.contains(&expected),
            "{expected} missing from {flags:?}"
        );
    }
    let switches = [
        "--mock",
        "--resolve-schedules",
        "--allow-credential-reads",
        "--allow-remote",
        "--allow-forwarded",
    ];
    for entry in entries.iter().filter(|entry| entry.starts_with("--")) {
        let flag = entry.split_whitespace().next().unwrap();
        assert!(entry.contains("[env: LIBRETTO_"), "no env var: {entry}");
        let documented_default =
            entry.contains("[default: ") || entry.contains("Default: ") || switches.contains(&flag);
        assert!(documented_default, "no default: {entry}");
    }
    assert!(help.contains("Switches without a value ("));
    assert!(help.contains("are off unless given"));
    assert!(
        help.contains("1, true, yes, on"),
        "boolish values documented"
    );

    // A subcommand's --version names the program, not `libretto-sidecar-serve`.
    for sub in ["serve", "mock", "check"] {
        let version = std::process::Command::new(env!("CARGO_BIN_EXE_libretto-sidecar"))
            .args([sub, "--version"])
            .output()
            .unwrap();
        assert!(version.status.success(), "{sub}");
        assert_eq!(
            String::from_utf8_lossy(&version.stdout).trim(),
            format!("libretto-sidecar {}", env!("CARGO_PKG_VERSION")),
            "{sub}"
        );
    }
}

#[tokio::test]
async fn json_logs_parse_and_carry_the_request_id() {
    let (fake, url) = fake().await;
    // Learning off: the first credentials/get the fake records must be the job's own.
    let mut sidecar = Sidecar::start(
        &["--upstream", &url, "--learn-credentials=false"],
        &[("LIBRETTO_API_KEY", UPSTREAM_KEY)],
    )
    .await;
    let client = TestClient::new(&sidecar.base);
    let job = client
        .send(
            Method::POST,
            "/v1/jobs/create",
            &[
                ("content-type", "application/json"),
                ("x-request-id", "ops-json-7"),
                (
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                ),
            ],
            portal_job(),
        )
        .await;
    assert_eq!(job.status, 200, "{}", job.json);
    assert_eq!(job.headers["x-request-id"], "ops-json-7");
    assert_eq!(
        fake.recorded_at("/v1/credentials/get")[0].headers["x-request-id"],
        "ops-json-7"
    );
    assert_eq!(
        fake.recorded_at("/v1/jobs/create")[0].headers["x-request-id"],
        "ops-json-7"
    );
    wait_for(&sidecar.logs, |log| log["message"] == "Request finished").await;

    let status = sidecar.terminate(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}");
    let logs = sidecar.json_logs();
    let of_request: Vec<&Value> = logs
        .iter()
        .filter(|log| log["request_id"] == "ops-json-7")
        .collect();
    // Flat lines: each field once, at the top, no nested span objects.
    for log in &logs {
        assert!(
            log.get("span").is_none() && log.get("spans").is_none(),
            "{log}"
        );
        assert!(log.get("fields").is_none(), "{log}");
    }
    let finished = of_request
        .iter()
        .find(|log| log["message"] == "Request finished")
        .unwrap();
    assert_eq!(finished["route"], "jobs/create", "{finished}");
    assert_eq!(finished["path"], "/v1/jobs/create", "{finished}");
    assert_eq!(finished["method"], "POST", "{finished}");
    assert_eq!(finished["status"], 200, "{finished}");
    assert_eq!(
        finished["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
        "{finished}"
    );
    let started = logs
        .iter()
        .find(|log| log["message"] == "Sidecar started")
        .unwrap();
    assert_eq!(started["upstream"], url.as_str(), "{started}");
    assert_eq!(started["policy"], "none", "{started}");
    assert_eq!(started["client_token"], "off", "{started}");
    assert_eq!(started["mock"], "off", "{started}");
    assert!(
        started["listen"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{started}"
    );
    assert!(started["admin"].is_string(), "{started}");
    let messages: Vec<&str> = of_request
        .iter()
        .filter_map(|log| log["message"].as_str())
        .collect();
    assert!(messages.contains(&"Credential cache miss"), "{messages:?}");
    assert!(messages.contains(&"Request finished"), "{messages:?}");
    // Every line that names the credential was logged inside the request's span.
    for log in &logs {
        if log["credential"] == "portal-production" {
            assert_eq!(log["request_id"], "ops-json-7", "{log}");
        }
    }
    let all = sidecar.logs.lock().join("\n");
    assert!(!all.contains("alice@example.com"));
    assert!(!all.contains("pa ss"));
    assert!(!all.contains(UPSTREAM_KEY));
}

#[tokio::test]
async fn sigterm_lets_a_slow_request_finish_refuses_new_ones_and_exits_0() {
    let (fake, url) = fake().await;
    // Learning off: readiness is checked at once, before a first pass could have ended.
    let mut sidecar = Sidecar::start(
        &[
            "--upstream",
            &url,
            "--shutdown-grace",
            "8s",
            "--learn-credentials=false",
        ],
        &[("LIBRETTO_API_KEY", UPSTREAM_KEY)],
    )
    .await;
    let admin = TestClient::new(&sidecar.admin);
    assert_eq!(
        admin.send(Method::GET, "/readyz", &[], "").await.status,
        200
    );

    let client = TestClient::new(&sidecar.base);
    let slow = tokio::spawn(async move {
        client
            .send(
                Method::POST,
                "/v1/jobs/list",
                &[
                    ("x-echo-delay-ms", "2000"),
                    ("content-type", "application/json"),
                ],
                "{}",
            )
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.recorded_at("/v1/jobs/list").is_empty() {
        assert!(Instant::now() < deadline, "the slow request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    sidecar.signal("TERM");
    let signalled = Instant::now();
    // Probes see the drain; the proxy port stops accepting.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if admin.send(Method::GET, "/readyz", &[], "").await.status == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "readyz never went 503");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let proxy_addr = sidecar.base.trim_start_matches("http://").to_owned();
    let deadline = Instant::now() + Duration::from_secs(1);
    while tokio::net::TcpStream::connect(&proxy_addr).await.is_ok() {
        assert!(Instant::now() < deadline, "new connections still accepted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let answer = tokio::time::timeout(Duration::from_secs(10), slow)
        .await
        .expect("the slow request finishes")
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.json);
    let status = tokio::time::timeout(Duration::from_secs(10), sidecar.child.wait())
        .await
        .expect("the process exits")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(8),
        "within the grace"
    );
    // The last lines may still be on their way through the pipe.
    wait_for(&sidecar.logs, |log| log["message"] == "Sidecar stopped").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rotates_the_key_under_load_without_failing_a_request() {
    let (fake, url) = fake().await;
    fake.accept_key("key-one");
    fake.accept_key("key-two");
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("api-key");
    std::fs::write(&key_path, "key-one\n").unwrap();
    let mut sidecar = Sidecar::start(
        &[
            "--upstream",
            &url,
            "--api-key-file",
            key_path.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    // Until the first learning pass is done, echoes of jobs it did not launch are withheld.
    sidecar.ready().await;

    const WORKERS: usize = 4;
    const PER_WORKER: usize = 50;
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let client = TestClient::new(&sidecar.base);
        workers.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..PER_WORKER {
                let answer = client
                    .send(Method::POST, "/v1/jobs/list", &[JSON], "{}")
                    .await;
                statuses.push(answer.status.as_u16());
            }
            statuses
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.recorded_at("/v1/jobs/list").len() < WORKERS * PER_WORKER / 4 {
        assert!(Instant::now() < deadline, "the load never started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Replace the file the way a Secret volume does: a new file renamed into place.
    let staged = dir.path().join("api-key.new");
    std::fs::write(&staged, "key-two\n").unwrap();
    std::fs::rename(&staged, &key_path).unwrap();
    sidecar.signal("HUP");
    wait_for(&sidecar.logs, |log| {
        log["message"] == "API key file re-read on SIGHUP"
    })
    .await;

    for worker in workers {
        let statuses = tokio::time::timeout(Duration::from_secs(30), worker)
            .await
            .expect("the load finishes")
            .unwrap();
        assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    }
    let client = TestClient::new(&sidecar.base);
    assert_eq!(
        client
            .send(Method::POST, "/v1/jobs/list", &[JSON], "{}")
            .await
            .status,
        200
    );
    let keys: Vec<String> = fake
        .recorded_at("/v1/jobs/list")
        .iter()
        .map(|r| r.headers["x-api-key"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), WORKERS * PER_WORKER + 1);
    assert!(keys.iter().any(|key| key == "key-one"));
    assert_eq!(keys.last().unwrap(), "key-two", "the new key is used after");
    let status = sidecar.terminate(Duration::from_secs(15)).await;
    assert!(status.success());
    assert!(!sidecar.logs.lock().join("\n").contains("key-two"));
}

/// Starts a slow request (`jobs/list`, answered after `delay_ms`) and waits until the fake
/// has it.
async fn slow_request(
    sidecar: &Sidecar,
    fake: &FakeUpstream,
    delay_ms: &'static str,
) -> tokio::task::JoinHandle<Answer> {
    let client = TestClient::new(&sidecar.base);
    let slow = tokio::spawn(async move {
        client
            .send(
                Method::POST,
                "/v1/jobs/list",
                &[JSON, ("x-echo-delay-ms", delay_ms)],
                "{}",
            )
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.recorded_at("/v1/jobs/list").is_empty() {
        assert!(Instant::now() < deadline, "the slow request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    slow
}

#[tokio::test]
async fn sigint_drains_and_exits_0() {
    let (_fake, url) = fake().await;
    let mut sidecar =
        Sidecar::start(&["--upstream", &url], &[("LIBRETTO_API_KEY", UPSTREAM_KEY)]).await;
    sidecar.signal("INT");
    let status = tokio::time::timeout(Duration::from_secs(10), sidecar.child.wait())
        .await
        .expect("the process exits")
        .unwrap();
    assert!(status.success(), "{status:?}");
    wait_for(&sidecar.logs, |log| log["message"] == "Sidecar stopped").await;
}

#[tokio::test]
async fn a_second_signal_ends_the_drain_at_once() {
    let (fake, url) = fake().await;
    let mut sidecar = Sidecar::start(
        &["--upstream", &url, "--shutdown-grace", "30s"],
        &[("LIBRETTO_API_KEY", UPSTREAM_KEY)],
    )
    .await;
    let _slow = slow_request(&sidecar, &fake, "20000").await;
    sidecar.signal("TERM");
    wait_for(&sidecar.logs, |log| {
        log["message"] == "Shutdown signal received"
    })
    .await;
    let second = Instant::now();
    sidecar.signal("TERM");
    let status = tokio::time::timeout(Duration::from_secs(5), sidecar.child.wait())
        .await
        .expect("the process exits without waiting for the grace")
        .unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(second.elapsed() < Duration::from_secs(5));
    wait_for(&sidecar.logs, |log| {
        log["message"] == "Second shutdown signal received; exiting without draining"
    })
    .await;
}

#[tokio::test]
async fn connections_still_open_at_the_end_of_the_grace_are_cut_and_logged() {
    let (fake, url) = fake().await;
    let mut sidecar = Sidecar::start(
        &["--upstream", &url, "--shutdown-grace", "300ms"],
        &[("LIBRETTO_API_KEY", UPSTREAM_KEY)],
    )
    .await;
    let _slow = slow_request(&sidecar, &fake, "20000").await;
    let status = sidecar.terminate(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}");
    let cut = wait_for(&sidecar.logs, |log| {
        log["message"] == "Shutdown grace elapsed; cutting the connections still open"
    })
    .await;
    assert_eq!(cut["connections"], 1, "{cut}");
}

#[tokio::test]
async fn a_taken_admin_port_is_named_once_in_the_log_format() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for format in ["text", "json"] {
        let output = command()
            .args(["--log-format", format, "serve", "--mock"])
            .args(["--listen", "127.0.0.1:0", "--admin-listen", &addr])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        let output = tokio::time::timeout(Duration::from_secs(20), output)
            .await
            .expect("the process gives up at once")
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{format}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        let expected = format!("could not listen on {addr} (admin listener): ");
        let message = if format == "text" {
            let errors: Vec<&str> = stderr
                .lines()
                .filter(|line| line.starts_with("Error: "))
                .collect();
            assert_eq!(errors.len(), 1, "{stderr}");
            errors[0].trim_start_matches("Error: ").to_owned()
        } else {
            let lines: Vec<Value> = stderr
                .lines()
                .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("{line}")))
                .collect();
            let last = lines.last().unwrap();
            assert_eq!(last["level"], "ERROR", "{last}");
            last["error"].as_str().unwrap().to_owned()
        };
        assert!(message.starts_with(&expected), "{message}");
        assert!(!message.contains("Caused by"), "{message}");
        let cause = &message[expected.len()..];
        assert_eq!(message.matches(cause).count(), 1, "cause once: {message}");
    }
    drop(taken);
}

#[tokio::test]
async fn switches_from_the_environment_take_1_and_0() {
    let mut sidecar = Sidecar::start(&[], &[("LIBRETTO_SIDECAR_MOCK", "1")]).await;
    wait_for(&sidecar.logs, |log| {
        log["message"] == "Built-in mock started"
    })
    .await;
    assert!(sidecar.terminate(Duration::from_secs(15)).await.success());

    let output = command()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("LIBRETTO_SIDECAR_MOCK", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(20), output)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("no Libretto API key"),
        "mock is off: {stderr}"
    );
}

#[tokio::test]
async fn an_invalid_rust_log_is_warned_about() {
    let mut command = command();
    command
        .args(["--log-format", "json", "serve", "--mock"])
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .env("RUST_LOG", "libretto_sidecar=loud")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), stderr.next_line())
        .await
        .unwrap()
        .unwrap()
        .expect("a warning line");
    let warning: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert_eq!(
        warning["message"],
        "RUST_LOG is not a valid filter; logging at info"
    );
    assert_eq!(warning["rust_log"], "libretto_sidecar=loud");
    child.kill().await.unwrap();
}

//! The shipped deployment is true to the binary: the Kubernetes manifest parses, runs the
//! sidecar as a native sidecar (an init container with `restartPolicy: Always`), mounts the API
//! key from a Secret as a file that the image's user can read, probes admin paths that answer,
//! sets resources, and passes only flags that `serve --help` lists; the binary started with
//! the manifest's own args comes up and answers. The Dockerfile's command uses real flags,
//! exposes the ports it listens on, and builds dependencies in their own layer.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::binary::std_command;

const MANIFEST: &str = include_str!("../../deploy/kubernetes/deployment.yaml");
const SECRET: &str = include_str!("../../deploy/kubernetes/secret.example.yaml");
const DOCKERFILE: &str = include_str!("../../Dockerfile");

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("valid YAML")
}

/// The long flags `libretto-sidecar serve --help` documents.
fn serve_flags() -> BTreeSet<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_libretto-sidecar"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|word| word.starts_with("--"))
        .map(|word| word.trim_end_matches(',').to_owned())
        .collect()
}

/// `--name=value` or `--name` → (`--name`, value).
fn split_flag(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((flag, value)) => (flag, Some(value)),
        None => (arg, None),
    }
}

fn flag_value<'a>(args: &'a [&'a str], name: &str) -> &'a str {
    args.iter()
        .find_map(|arg| match split_flag(arg) {
            (flag, Some(value)) if flag == name => Some(value),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{name} not set in {args:?}"))
}

fn sidecar_container(pod: &Value) -> &Value {
    pod["initContainers"]
        .as_array()
        .expect("initContainers")
        .iter()
        .find(|c| c["name"] == "libretto-sidecar")
        .expect("the sidecar is an init container")
}

#[test]
fn the_deployment_runs_a_native_sidecar_with_real_flags() {
    let deployment = yaml(MANIFEST);
    assert_eq!(deployment["kind"], "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let sidecar = sidecar_container(pod);
    assert_eq!(sidecar["restartPolicy"], "Always", "a native sidecar");
    assert!(!pod["containers"].as_array().unwrap().is_empty());

    let args: Vec<&str> = sidecar["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "serve");
    let known = serve_flags();
    for arg in &args[1..] {
        let (flag, _) = split_flag(arg);
        assert!(flag.starts_with("--"), "args are flags: {arg}");
        assert!(
            known.contains(flag),
            "{flag} is not a flag of serve: {known:?}"
        );
    }
    assert!(
        flag_value(&args, "--listen").starts_with("127.0.0.1:"),
        "the proxy stays on loopback"
    );
    // The admin port listens on the pod IP (where the kubelet probes), not on every address.
    let admin = flag_value(&args, "--admin-listen");
    let port = admin
        .strip_prefix("$(POD_IP):")
        .expect("--admin-listen binds the pod IP from the downward API");
    port.parse::<u16>().unwrap();
    let env = sidecar["env"].as_array().unwrap();
    let pod_ip = env
        .iter()
        .find(|e| e["name"] == "POD_IP")
        .expect("POD_IP is set");
    assert_eq!(pod_ip["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP");
    assert!(
        args.iter().all(|arg| !arg.contains("0.0.0.0")),
        "nothing listens on every address"
    );

    // The app talks to the sidecar on loopback.
    let listen: SocketAddr = flag_value(&args, "--listen").parse().unwrap();
    let app_env = pod["containers"][0]["env"].as_array().unwrap();
    assert!(app_env
        .iter()
        .any(|e| e["value"] == format!("http://{listen}")));

    // Shutdown: the pod waits longer than the sidecar's own grace.
    let grace = humantime::parse_duration(flag_value(&args, "--shutdown-grace")).unwrap();
    let pod_grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(grace < Duration::from_secs(pod_grace));

    // Resources on every container.
    for container in pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(pod["initContainers"].as_array().unwrap())
    {
        for kind in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    !container["resources"][kind][resource].is_null(),
                    "{} lacks {kind}.{resource}",
                    container["name"]
                );
            }
        }
    }
}

#[test]
fn the_api_key_comes_from_a_secret_mounted_as_a_file() {
    let deployment = yaml(MANIFEST);
    let pod = &deployment["spec"]["template"]["spec"];
    let sidecar = sidecar_container(pod);
    let args: Vec<&str> = sidecar["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let key_file = flag_value(&args, "--api-key-file");
    let (dir, file) = key_file.rsplit_once('/').unwrap();
    let mount = sidecar["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == dir)
        .expect("the key file's directory is a mount");
    assert_eq!(mount["readOnly"], true);
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mount's volume");
    let secret = yaml(SECRET);
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(volume["secret"]["secretName"], secret["metadata"]["name"]);
    assert!(
        !secret["stringData"][file].is_null(),
        "the Secret has the key `{file}`"
    );
    let env = sidecar["env"].as_array().cloned().unwrap_or_default();
    assert!(
        env.iter().all(|e| e["name"] != "LIBRETTO_API_KEY"),
        "no key in the environment"
    );
}

#[test]
fn probes_hit_admin_paths_that_answer() {
    let deployment = yaml(MANIFEST);
    let pod = &deployment["spec"]["template"]["spec"];
    let sidecar = sidecar_container(pod);
    let args: Vec<&str> = sidecar["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let admin: SocketAddr = flag_value(&args, "--admin-listen")
        .replace("$(POD_IP)", "127.0.0.1")
        .parse()
        .unwrap();
    let port = sidecar["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["containerPort"] == u64::from(admin.port()))
        .expect("the admin port is declared");
    let mut paths = Vec::new();
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let get = &sidecar[probe]["httpGet"];
        assert_eq!(get["port"], port["name"], "{probe} uses the admin port");
        paths.push(get["path"].as_str().unwrap().to_owned());
    }
    assert_eq!(paths[1], "/readyz");
    assert_eq!(paths[2], "/healthz");
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], admin.port().to_string());
    paths.push(
        annotations["prometheus.io/path"]
            .as_str()
            .unwrap()
            .to_owned(),
    );

    // Every probed path answers 200 on the sidecar started with the manifest's own args.
    let running = Running::from_manifest(sidecar);
    for path in &paths {
        assert_eq!(http(running.admin, "GET", path), Some(200), "{path}");
    }
    running.stop();
}

/// The sidecar binary started with the manifest's container args and env, its addresses moved
/// to `127.0.0.1:0` and its key file to a temporary one. The upstream stays as written: the
/// sidecar does not connect to it at start, and the tests send nothing that needs it.
struct Running {
    child: std::process::Child,
    proxy: SocketAddr,
    admin: SocketAddr,
    _key_dir: tempfile::TempDir,
}

impl Running {
    fn from_manifest(sidecar: &Value) -> Self {
        let key_dir = tempfile::tempdir().unwrap();
        let key_path = key_dir.path().join("api-key");
        std::fs::write(&key_path, "key-from-the-secret\n").unwrap();
        let args: Vec<String> = sidecar["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|arg| {
                let arg = arg.as_str().unwrap();
                match split_flag(arg) {
                    ("--listen", Some(_)) => "--listen=127.0.0.1:0".to_owned(),
                    ("--admin-listen", Some(_)) => "--admin-listen=127.0.0.1:0".to_owned(),
                    ("--api-key-file", Some(_)) => {
                        format!("--api-key-file={}", key_path.display())
                    }
                    _ => arg.to_owned(),
                }
            })
            .collect();
        let mut command = std_command();
        // The manifest's upstream cannot be reached from the test, so the first learning pass
        // (which gates /readyz) would never end; learning is covered in tests/sidecar/restart.rs.
        command.env("LIBRETTO_SIDECAR_LEARN_CREDENTIALS", "false");
        for env in sidecar["env"].as_array().cloned().unwrap_or_default() {
            // The downward API's pod IP is loopback here.
            let value = match &env["valueFrom"]["fieldRef"]["fieldPath"] {
                Value::String(field) if field == "status.podIP" => "127.0.0.1",
                _ => env["value"].as_str().unwrap(),
            };
            command.env(env["name"].as_str().unwrap(), value);
        }
        let mut child = command
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines, arrived) = std::sync::mpsc::channel::<(bool, String)>();
        for (is_log, reader) in [
            (false, Box::new(stdout) as Box<dyn std::io::Read + Send>),
            (true, Box::new(stderr)),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(reader)
                    .lines()
                    .map_while(Result::ok)
                {
                    let _ = lines.send((is_log, line));
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let (mut proxy, mut admin) = (None, None);
        while proxy.is_none() || admin.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let (is_log, line) = arrived
                .recv_timeout(left)
                .expect("the sidecar starts with the manifest's args");
            if !is_log {
                let addr = line.strip_prefix("listening on http://").unwrap();
                proxy = Some(addr.parse::<SocketAddr>().unwrap());
                continue;
            }
            // --log-format=json: every log line is one JSON object.
            let log: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line}"));
            if log["message"] == "Sidecar started" {
                admin = Some(log["admin"].as_str().unwrap().parse().unwrap());
            }
        }
        Self {
            child,
            proxy: proxy.unwrap(),
            admin: admin.unwrap(),
            _key_dir: key_dir,
        }
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_manifest_args_start_a_sidecar_that_stays_up_and_answers() {
    let deployment = yaml(MANIFEST);
    let pod = &deployment["spec"]["template"]["spec"];
    let mut running = Running::from_manifest(sidecar_container(pod));
    let (status, ready) = http_answer(running.admin, "GET", "/readyz").unwrap();
    assert_eq!(status, 200, "{ready}");
    assert!(
        !ready.contains("mock"),
        "a real upstream is no mock: {ready}"
    );
    // The proxy answers: a credential read is refused by the sidecar itself, upstream untouched.
    let (status, answer) = http_answer(running.proxy, "POST", "/v1/credentials/get").unwrap();
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("CREDENTIAL_READ_FORBIDDEN"), "{answer}");
    assert!(running.child.try_wait().unwrap().is_none(), "still running");
    running.stop();
}

#[test]
fn the_pod_runs_as_the_image_user_and_can_read_its_key() {
    let deployment = yaml(MANIFEST);
    let pod = &deployment["spec"]["template"]["spec"];
    let user = DOCKERFILE
        .lines()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("a USER line");
    let (uid, gid) = user.trim().split_once(':').expect("USER uid:gid");
    let (uid, gid): (u64, u64) = (uid.parse().unwrap(), gid.parse().unwrap());
    let security = &pod["securityContext"];
    assert_eq!(security["runAsUser"], uid);
    assert_eq!(security["runAsGroup"], gid);
    assert_eq!(
        security["fsGroup"], gid,
        "the key's group is the image's group"
    );
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["secret"]["secretName"] == "libretto-api-key")
        .expect("the key's volume");
    let mode = file_mode(&volume["secret"]["defaultMode"]);
    assert_ne!(mode & 0o040, 0, "group-readable: {mode:o}");
    assert_eq!(mode & 0o007, 0, "not world-readable: {mode:o}");
}

/// A Kubernetes file mode: YAML 1.1 reads `0440` as octal (as Kubernetes does); a YAML 1.2
/// parser keeps it as text, and a plain number is decimal (as in JSON manifests).
fn file_mode(value: &Value) -> u64 {
    match value {
        Value::Number(number) => number.as_u64().unwrap(),
        Value::String(text) if text.starts_with('0') => u64::from_str_radix(text, 8).unwrap(),
        other => panic!("not a file mode: {other}"),
    }
}

/// A bare HTTP/1.1 request without a body; the status code, or `None` when nothing answers.
fn http(addr: SocketAddr, method: &str, path: &str) -> Option<u16> {
    http_answer(addr, method, path).map(|(status, _)| status)
}

/// A bare HTTP/1.1 request with an empty JSON body, as a local client sends it; the status
/// code and the whole answer, or `None` when nothing answers.
fn http_answer(addr: SocketAddr, method: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: 0\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, answer))
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_and_uses_real_flags() {
    assert!(
        DOCKERFILE.matches("\nFROM ").count() + usize::from(DOCKERFILE.starts_with("FROM ")) >= 2
    );
    let user = DOCKERFILE
        .lines()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("a USER line");
    assert!(!user.starts_with("0") && !user.starts_with("root"));
    let cmd = DOCKERFILE
        .lines()
        .find_map(|line| line.strip_prefix("CMD "))
        .expect("a CMD line");
    let cmd: Vec<String> = serde_json::from_str(cmd).unwrap();
    assert_eq!(cmd[0], "serve");
    let known = serve_flags();
    for arg in cmd.iter().filter(|arg| arg.starts_with("--")) {
        let (flag, _) = split_flag(arg);
        assert!(known.contains(flag), "{flag} is not a flag of serve");
    }

    // EXPOSE names exactly the ports the command listens on.
    let exposed: BTreeSet<u16> = DOCKERFILE
        .lines()
        .find_map(|line| line.strip_prefix("EXPOSE "))
        .expect("an EXPOSE line")
        .split_whitespace()
        .map(|port| port.parse().unwrap())
        .collect();
    let listened: BTreeSet<u16> = ["--listen", "--admin-listen"]
        .iter()
        .map(|flag| {
            let at = cmd.iter().position(|arg| arg == flag).unwrap();
            cmd[at + 1].parse::<SocketAddr>().unwrap().port()
        })
        .collect();
    assert_eq!(exposed, listened);

    // Dependencies are built in their own layer, before the sources are copied in.
    let at = |needle: &str| {
        DOCKERFILE
            .find(needle)
            .unwrap_or_else(|| panic!("{needle}"))
    };
    assert!(at("COPY Cargo.toml Cargo.lock") < at("cargo build"));
    assert!(at("cargo build") < at("COPY src"));
}

//! The shipped deployment is true to the binary: the Kubernetes manifest parses, runs the
//! sidecar as a native sidecar (an init container with `restartPolicy: Always`), mounts the API
//! key from a Secret as a file, probes admin paths that answer, sets resources, and passes
//! only flags that `serve --help` lists; the Dockerfile's command uses real flags too.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const MANIFEST: &str = include_str!("../deploy/kubernetes/deployment.yaml");
const SECRET: &str = include_str!("../deploy/kubernetes/secret.example.yaml");
const DOCKERFILE: &str = include_str!("../Dockerfile");

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
    let admin: SocketAddr = flag_value(&args, "--admin-listen").parse().unwrap();
    assert!(admin.ip().is_unspecified(), "probes reach the admin port");

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
    let admin: SocketAddr = flag_value(&args, "--admin-listen").parse().unwrap();
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

    // Every probed path answers 200 on a running sidecar's admin listener.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin_addr = free.local_addr().unwrap();
    drop(free);
    let mut child = Command::new(env!("CARGO_BIN_EXE_libretto-sidecar"))
        .args([
            "serve",
            "--mock",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
        ])
        .arg(admin_addr.to_string())
        .env_remove("LIBRETTO_SIDECAR_PREFETCH")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    for path in &paths {
        let status = loop {
            match http_get(admin_addr, path) {
                Some(status) => break status,
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                None => panic!("the admin listener never answered"),
            }
        };
        assert_eq!(status, 200, "{path}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A bare HTTP/1.1 GET; the status code, or `None` when nothing listens yet.
fn http_get(addr: SocketAddr, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: probe\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
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
}

//! The processes under test: the release binary started as `serve --mock`, `mock` or `serve`
//! in front of a mock, and what `/proc` and the admin `/metrics` tell about them.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A started process, killed when dropped.
pub struct Server {
    pub name: &'static str,
    pub child: Child,
    /// `http://127.0.0.1:PORT` it announced.
    pub base: String,
    /// Its admin listener (`serve` only).
    pub admin: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn binary() -> PathBuf {
    let mut path = std::env::current_exe().expect("current exe");
    path.pop();
    if path.ends_with("examples") {
        path.pop();
    }
    path.join("libretto-sidecar")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

fn fixtures() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo.json")
}

/// Starts the binary and waits for its `listening on ...` line.
fn start(
    name: &'static str,
    args: &[String],
    envs: &[(&str, &str)],
    admin: Option<String>,
) -> Server {
    let mut child = Command::new(binary())
        .args(args)
        .envs(envs.iter().copied())
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start libretto-sidecar (run `cargo build --release` first)");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("listening line");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{name} printed no listening line: {line:?}"))
        .to_owned();
    Server {
        name,
        child,
        base,
        admin,
    }
}

/// `serve --mock`: the sidecar with the mock embedded, as the hand measurement ran it.
pub fn serve_mock() -> Server {
    let admin = format!("127.0.0.1:{}", free_port());
    let args = [
        "serve",
        "--mock",
        // Thousands of jobs a second: short jobs, or the live ones fill the tenant's budget.
        "--mock-job-duration",
        "100ms",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        &admin,
    ];
    start("serve-mock", &strings(&args), &[], Some(admin))
}

/// `mock` preloaded with the demo fixtures, as its own process.
pub fn mock() -> Server {
    let args = [
        "mock",
        "--listen",
        "127.0.0.1:0",
        "--fixtures",
        fixtures(),
        "--job-duration",
        "100ms",
    ];
    start("mock", &strings(&args), &[], None)
}

/// `serve` in front of `upstream`, with every other flag at its default.
pub fn sidecar(upstream: &Server) -> Server {
    let admin = format!("127.0.0.1:{}", free_port());
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        &admin,
        "--upstream",
        &upstream.base,
    ];
    start(
        "sidecar",
        &strings(&args),
        &[("LIBRETTO_API_KEY", "demo-api-key")],
        Some(admin),
    )
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| (*arg).to_owned()).collect()
}

/// Resident memory now and at its peak (VmRSS, VmHWM), in KiB.
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Open file descriptors (listeners, connections, files).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// The value of one unlabelled sample in a Prometheus text page.
pub fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == name).then(|| value.trim().parse().ok()).flatten()
        })
}

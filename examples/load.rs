//! A load benchmark: throughput, latency and memory of the sidecar against the mock.
//!
//! Starts two real processes from the release build — `libretto-sidecar mock` (the upstream)
//! and `libretto-sidecar serve` pointed at it — then drives a fixed number of requests at a
//! fixed concurrency through four scenarios, so the sidecar's own cost can be read off against
//! the baseline of calling the mock directly. Prints one table row per scenario and the
//! sidecar's resident memory (VmRSS now, VmHWM peak) from `/proc`.
//!
//! ```sh
//! cargo build --release && cargo run --release --example load -- [REQUESTS] [CONCURRENCY] [ROUNDS]
//! ```
//!
//! With ROUNDS above 1, the placeholder scenario is repeated that many times after the others,
//! printing the sidecar's memory after each round, to show where it levels off.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

fn start(args: &[&str], envs: &[(&str, &str)]) -> Server {
    let mut child = Command::new(binary())
        .args(args)
        .envs(envs.iter().copied())
        .env("RUST_LOG", "warn")
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
        .expect("listening line")
        .to_owned();
    Server { child, base }
}

fn memory_kib(pid: u32) -> (u64, u64) {
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

async fn run(
    client: &HttpClient,
    url: String,
    body: &'static str,
    key: Option<&'static str>,
    requests: usize,
    concurrency: usize,
) -> (Duration, Vec<Duration>) {
    let permits = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(requests);
    for _ in 0..requests {
        let permit = permits.clone().acquire_owned().await.expect("semaphore");
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut builder = Request::post(url).header("content-type", "application/json");
            if let Some(key) = key {
                builder = builder.header("x-api-key", key);
            }
            let request = builder
                .body(Full::new(Bytes::from_static(body.as_bytes())))
                .expect("request");
            let begun = Instant::now();
            let response = client.request(request).await.expect("response");
            let status = response.status();
            let _ = response.into_body().collect().await.expect("body");
            assert!(status.is_success(), "status {status}");
            drop(permit);
            begun.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for task in tasks {
        latencies.push(task.await.expect("task"));
    }
    (started.elapsed(), latencies)
}

fn report(name: &str, total: Duration, mut latencies: Vec<Duration>) {
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    println!(
        "| {name:<44} | {:>8.0} | {:>7.2} | {:>7.2} | {:>7.2} |",
        latencies.len() as f64 / total.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3,
    );
}

const LITERAL: &str = r#"{"json":{"workflow":"portal-login","params":{"memberId":"12345","username":"demo-user","password":"demo-pa$$w0rd"}}}"#;
const PLACEHOLDERS: &str = r#"{"json":{"workflow":"portal-login","params":{"memberId":"12345","username":"{{credential:portal-production/username}}","password":"{{credential:portal-production/password}}"}}}"#;
const LIST: &str = r#"{"json":{"limit":5}}"#;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo.json");
    let mock = start(
        &[
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--fixtures",
            fixtures,
            "--job-duration",
            "20ms",
            "--max-jobs",
            "2000",
        ],
        &[],
    );
    let sidecar = start(
        &["serve", "--listen", "127.0.0.1:0", "--upstream", &mock.base],
        &[("LIBRETTO_API_KEY", "demo-api-key")],
    );
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    println!("{requests} requests per scenario, {concurrency} concurrent");
    println!(
        "| scenario                                     |    req/s | p50 ms  | p99 ms  | max ms  |"
    );
    println!(
        "|----------------------------------------------|----------|---------|---------|---------|"
    );
    // Warm both the connection pools and the credential cache.
    let _ = run(
        &client,
        format!("{}/v1/jobs/create", sidecar.base),
        PLACEHOLDERS,
        None,
        200,
        8,
    )
    .await;
    let create = |base: &str| format!("{base}/v1/jobs/create");
    let scenarios = [
        (
            "mock directly: jobs/create (baseline)",
            create(&mock.base),
            LITERAL,
            Some("demo-api-key"),
        ),
        (
            "sidecar: jobs/create, no placeholder",
            create(&sidecar.base),
            LITERAL,
            None,
        ),
        (
            "sidecar: jobs/create, 2 placeholders (warm)",
            create(&sidecar.base),
            PLACEHOLDERS,
            None,
        ),
        (
            "sidecar: jobs/list (pass-through)",
            format!("{}/v1/jobs/list", sidecar.base),
            LIST,
            None,
        ),
    ];
    for (name, url, body, key) in scenarios {
        let (t, l) = run(&client, url, body, key, requests, concurrency).await;
        report(name, t, l);
    }
    let (rss, peak) = memory_kib(sidecar.child.id());
    println!("sidecar memory: VmRSS {rss} KiB, VmHWM {peak} KiB");
    for round in 2..=rounds {
        let (t, l) = run(
            &client,
            format!("{}/v1/jobs/create", sidecar.base),
            PLACEHOLDERS,
            None,
            requests,
            concurrency,
        )
        .await;
        report(&format!("round {round}: jobs/create, 2 placeholders"), t, l);
        let (rss, peak) = memory_kib(sidecar.child.id());
        println!(
            "sidecar memory after {} placeholder jobs: VmRSS {rss} KiB, VmHWM {peak} KiB",
            requests * round
        );
    }
}

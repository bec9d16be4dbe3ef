//! The soak: load, correctness and memory of the sidecar over time.
//!
//! Starts the release binary as `serve --mock` (the sidecar with the mock embedded) and, apart,
//! as `mock` with `serve` in front of it. First a check: REQUESTS requests (default 100 000)
//! at CONNECTIONS concurrent (default 256) through each sidecar, a mix of `jobs/create` with
//! three placeholders, `jobs/get` of a job just created (its `params` must come back exactly as
//! sent: the placeholders, never the values), `jobs/list` and `credentials/update`; every
//! answer is searched for the credential values. Any error fails the run. Then the soak: both
//! at once for MINUTES, sampling every SAMPLE seconds each process's resident memory (VmRSS),
//! its open file descriptors, the sidecars' open connections, cache counters and the sizes of
//! the stores they hold (credential cache, known secrets, job memory; admin `/metrics`), and the throughput and latency of the interval, into `OUT/soak.csv` and a chart
//! `OUT/soak.svg`.
//!
//! ```sh
//! cargo build --release && cargo run --release --example soak -- \
//!     [--requests N] [--connections N] [--minutes M] [--sample-secs S] [--out DIR] [--no-check]
//! ```
//!
//! `bench/soak` wraps this command.

mod mix;
mod plot;
mod procs;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use mix::{HttpClient, Mix};
use plot::{Panel, Series};
use procs::Server;

struct Options {
    requests: i64,
    connections: usize,
    minutes: f64,
    sample_secs: u64,
    out: String,
    check: bool,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        requests: 100_000,
        connections: 256,
        minutes: 10.0,
        sample_secs: 5,
        out: concat!(env!("CARGO_MANIFEST_DIR"), "/docs").to_owned(),
        check: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--no-check" {
            options.check = false;
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = format!("{flag}: not a number: {value}");
        match flag.as_str() {
            "--requests" => options.requests = value.parse().map_err(|_| bad.clone())?,
            "--connections" => options.connections = value.parse().map_err(|_| bad.clone())?,
            "--minutes" => options.minutes = value.parse().map_err(|_| bad.clone())?,
            "--sample-secs" => options.sample_secs = value.parse().map_err(|_| bad.clone())?,
            "--out" => options.out = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if options.connections == 0
        || options.sample_secs == 0
        || options.minutes.is_nan()
        || options.minutes < 0.0
    {
        return Err("--connections and --sample-secs must be above 0, --minutes not below".into());
    }
    Ok(options)
}

/// Runs `workers` loops of the mix until `remaining` runs out or `stop` is set.
async fn drive(mix: Arc<Mix>, workers: usize, remaining: Arc<AtomicI64>, stop: Arc<AtomicBool>) {
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (mix, remaining, stop) = (mix.clone(), remaining.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) && remaining.fetch_sub(1, Ordering::Relaxed) > 0
                {
                    mix.step().await;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The check: a fixed number of requests through one sidecar; true when all went well.
async fn check(name: &str, server: &Server, mix: Arc<Mix>, options: &Options) -> bool {
    let (before, _) = procs::memory_kib(server.pid());
    let started = Instant::now();
    let remaining = Arc::new(AtomicI64::new(options.requests));
    drive(
        mix.clone(),
        options.connections,
        remaining,
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    let took = started.elapsed();
    let (count, p50, p99, max) = mix.tally.take_latencies();
    let (after, peak) = procs::memory_kib(server.pid());
    let requests = mix.tally.requests.load(Ordering::Relaxed);
    let errors = mix.tally.errors.load(Ordering::Relaxed);
    println!(
        "| {name} | {requests} | {errors} | {} | {:.0} | {p50:.1} | {p99:.1} | {max:.1} | {:.1} → {:.1} (peak {:.1}) |",
        mix.tally.echoes_checked.load(Ordering::Relaxed),
        count as f64 / took.as_secs_f64(),
        mib(before),
        mib(after),
        mib(peak),
    );
    for what in mix.tally.first_errors() {
        eprintln!("  {name}: {what}");
    }
    errors == 0
}

async fn metrics_page(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    admin: &str,
) -> String {
    let Ok(uri) = format!("http://{admin}/metrics").parse::<http::Uri>() else {
        return String::new();
    };
    let Ok(response) = client.get(uri).await else {
        return String::new();
    };
    match response.into_body().collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(_) => String::new(),
    }
}

/// One sample row per process.
struct Row {
    elapsed: f64,
    process: &'static str,
    rss: u64,
    fds: usize,
    connections: Option<f64>,
    cache_misses: Option<f64>,
    rps: Option<f64>,
    p99: Option<f64>,
    errors: Option<u64>,
    /// The stores the sidecar holds ([`STORES`]), from its `/metrics`.
    stores: Vec<Option<f64>>,
}

/// The gauges of what a sidecar holds, as sampled into the CSV (without the metric prefix).
const STORES: &[&str] = &[
    "cache_entries",
    "cache_weight_kib",
    "known_secret_values",
    "known_secret_bytes",
    "job_memory_entries",
    "job_memory_weight_kib",
];

fn stores(page: &str) -> Vec<Option<f64>> {
    STORES
        .iter()
        .map(|name| procs::metric(page, &format!("libretto_sidecar_{name}")))
        .collect()
}

fn optional<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or(String::new(), |value| value.to_string())
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("soak: {message}");
            std::process::exit(2);
        }
    };
    let embedded = procs::serve_mock();
    let mock = procs::mock();
    let split = procs::sidecar(&mock);
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(options.connections)
        .build_http();
    let probes = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let setups = [(&embedded, "serve --mock"), (&split, "serve → mock")];
    let mut mixes = Vec::new();
    for (server, name) in setups {
        match Mix::new(client.clone(), server.base.clone()).await {
            Ok(mix) => mixes.push(mix),
            Err(message) => {
                eprintln!("soak: {name}: setting up: {message}");
                std::process::exit(1);
            }
        }
    }
    let mut ok = true;
    if options.check {
        println!(
            "{} requests per sidecar, {} connections (40% jobs/create with 3 placeholders, 35% jobs/get checked, 15% jobs/list, 10% credentials/update)",
            options.requests, options.connections
        );
        println!("| setup | requests | errors | echoes checked | req/s | p50 ms | p99 ms | max ms | RSS MiB before → after |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
        for ((server, name), mix) in setups.iter().zip(&mixes) {
            ok &= check(name, server, mix.clone(), &options).await;
        }
    }
    if options.minutes > 0.0 {
        ok &= soak(&options, &embedded, &mock, &split, &mixes, &probes).await;
    }
    if !ok {
        eprintln!("soak: FAILED (errors above)");
        std::process::exit(1);
    }
}

async fn soak(
    options: &Options,
    embedded: &Server,
    mock: &Server,
    split: &Server,
    mixes: &[Arc<Mix>],
    probes: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
) -> bool {
    let length = Duration::from_secs_f64(options.minutes * 60.0);
    println!(
        "soak: {:.1} min, {} connections per sidecar, a sample every {} s",
        options.minutes,
        (options.connections / 2).max(1),
        options.sample_secs
    );
    let stop = Arc::new(AtomicBool::new(false));
    let drivers: Vec<_> = mixes
        .iter()
        .map(|mix| {
            let _ = mix.tally.take_latencies();
            tokio::spawn(drive(
                mix.clone(),
                (options.connections / 2).max(1),
                Arc::new(AtomicI64::new(i64::MAX)),
                stop.clone(),
            ))
        })
        .collect();
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut last = [(0u64, 0u64); 2];
    let mut tick = tokio::time::interval(Duration::from_secs(options.sample_secs));
    tick.tick().await;
    let mut previous = Instant::now();
    while started.elapsed() < length {
        tick.tick().await;
        let interval = previous.elapsed().as_secs_f64();
        previous = Instant::now();
        let elapsed = started.elapsed().as_secs_f64();
        for (index, (server, mix)) in [embedded, split].iter().zip(mixes).enumerate() {
            let page = metrics_page(probes, server.admin.as_deref().unwrap_or_default()).await;
            let (count, _, p99, _) = mix.tally.take_latencies();
            let requests = mix.tally.requests.load(Ordering::Relaxed);
            let errors = mix.tally.errors.load(Ordering::Relaxed);
            let (rss, _) = procs::memory_kib(server.pid());
            rows.push(Row {
                elapsed,
                process: server.name,
                rss,
                fds: procs::open_fds(server.pid()),
                connections: procs::metric(&page, "libretto_sidecar_open_connections"),
                cache_misses: procs::metric(&page, "libretto_sidecar_cache_misses_total"),
                rps: Some(count as f64 / interval),
                p99: Some(p99),
                errors: Some(errors - last[index].1),
                stores: stores(&page),
            });
            last[index] = (requests, errors);
        }
        let (rss, _) = procs::memory_kib(mock.pid());
        rows.push(Row {
            elapsed,
            process: mock.name,
            rss,
            fds: procs::open_fds(mock.pid()),
            connections: None,
            cache_misses: None,
            rps: None,
            p99: None,
            errors: None,
            stores: vec![None; STORES.len()],
        });
        if let Some(row) = rows.iter().rev().find(|row| row.process == "serve-mock") {
            eprintln!(
                "  {elapsed:>6.0}s  serve-mock {:.1} MiB  sidecar {:.1} MiB  mock {:.1} MiB",
                mib(row.rss),
                mib(rows[rows.len() - 2].rss),
                mib(rss)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for driver in drivers {
        let _ = driver.await;
    }
    write_outputs(options, &rows);
    let errors: u64 = rows.iter().filter_map(|row| row.errors).sum();
    for mix in mixes {
        for what in mix.tally.first_errors() {
            eprintln!("  {what}");
        }
    }
    summarise(&rows);
    summarise_stores(&rows);
    errors == 0
}

fn write_outputs(options: &Options, rows: &[Row]) {
    let mut csv = String::from(
        "elapsed_s,process,rss_kib,open_fds,open_connections,cache_misses_total,req_per_s,p99_ms,errors",
    );
    for name in STORES {
        let _ = write!(csv, ",{name}");
    }
    csv.push('\n');
    for row in rows {
        let _ = write!(
            csv,
            "{:.1},{},{},{},{},{},{},{},{}",
            row.elapsed,
            row.process,
            row.rss,
            row.fds,
            optional(row.connections),
            optional(row.cache_misses),
            optional(row.rps.map(|rps| format!("{rps:.0}"))),
            optional(row.p99.map(|p99| format!("{p99:.2}"))),
            optional(row.errors),
        );
        for value in &row.stores {
            let _ = write!(csv, ",{}", optional(*value));
        }
        csv.push('\n');
    }
    let series = |measure: fn(&Row) -> Option<f64>, processes: &[&str]| -> Vec<Series> {
        processes
            .iter()
            .map(|process| Series {
                name: (*process).to_owned(),
                points: rows
                    .iter()
                    .filter(|row| row.process == *process)
                    .filter_map(|row| measure(row).map(|y| (row.elapsed, y)))
                    .collect(),
            })
            .collect()
    };
    let all = ["serve-mock", "sidecar", "mock"];
    let sidecars = ["serve-mock", "sidecar"];
    let panels = [
        Panel {
            title: "Resident memory (VmRSS)".into(),
            unit: "MiB".into(),
            series: series(|row| Some(mib(row.rss)), &all),
        },
        Panel {
            title: "p99 latency of the interval".into(),
            unit: "ms".into(),
            series: series(|row| row.p99, &sidecars),
        },
        Panel {
            title: "Throughput".into(),
            unit: "req/s".into(),
            series: series(|row| row.rps, &sidecars),
        },
        Panel {
            title: "Open file descriptors".into(),
            unit: "fds".into(),
            series: series(|row| Some(row.fds as f64), &all),
        },
    ];
    let title = "Soak: serve --mock, and serve in front of a mock process";
    let csv_path = format!("{}/soak.csv", options.out);
    let svg_path = format!("{}/soak.svg", options.out);
    if let Err(error) = std::fs::write(&csv_path, csv) {
        eprintln!("soak: writing {csv_path}: {error}");
    }
    if let Err(error) = std::fs::write(&svg_path, plot::svg(title, &panels)) {
        eprintln!("soak: writing {svg_path}: {error}");
    }
    println!("samples in {csv_path}, chart in {svg_path}");
}

/// What each sidecar held at the last sample.
fn summarise_stores(rows: &[Row]) {
    println!("| process | {} |", STORES.join(" | "));
    println!("|---|{}", "---:|".repeat(STORES.len()));
    for process in ["serve-mock", "sidecar"] {
        if let Some(row) = rows.iter().rev().find(|row| row.process == process) {
            let values: Vec<String> = row.stores.iter().map(|value| optional(*value)).collect();
            println!("| {process} | {} |", values.join(" | "));
        }
    }
}

/// Whether memory levelled off: the mean of the last quarter of samples against the quarter
/// before it, per process.
fn summarise(rows: &[Row]) {
    println!("| process | RSS MiB first | RSS MiB at 50–75% | RSS MiB last 25% | growth over the last half |");
    println!("|---|---:|---:|---:|---:|");
    for process in ["serve-mock", "sidecar", "mock"] {
        let rss: Vec<f64> = rows
            .iter()
            .filter(|row| row.process == process)
            .map(|row| mib(row.rss))
            .collect();
        if rss.len() < 4 {
            continue;
        }
        let quarter = rss.len() / 4;
        let mean = |part: &[f64]| part.iter().sum::<f64>() / part.len() as f64;
        let third = mean(&rss[2 * quarter..3 * quarter]);
        let fourth = mean(&rss[3 * quarter..]);
        println!(
            "| {process} | {:.1} | {third:.1} | {fourth:.1} | {:+.1}% |",
            rss[0],
            (fourth / third - 1.0) * 100.0
        );
    }
}

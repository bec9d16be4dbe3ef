//! A sidecar started in process on `127.0.0.1:0` (proxy and admin listener), in front of the
//! fake upstream or of a mock, and the job the sidecar tests launch most.

use std::net::SocketAddr;
use std::time::Duration;

use libretto_sidecar::http::server::{self, ServerOptions};
use libretto_sidecar::mock::MockConfig;
use libretto_sidecar::secret::Secret;
use libretto_sidecar::sidecar::admin::Readiness;
use libretto_sidecar::sidecar::credentials::cache::CacheConfig;
use libretto_sidecar::sidecar::guard::Guard;
use libretto_sidecar::sidecar::metrics::Metrics;
use libretto_sidecar::sidecar::proxy::{Proxy, ProxyConfig};
use libretto_sidecar::sidecar::{OpsConfig, ServeConfig, Sidecar, UpstreamChoice};
use serde_json::{json, Value};

use super::http::TestClient;
use super::mock::{start_demo, MockServer, DEMO_KEY};
use super::upstream::{FakeUpstream, UPSTREAM_KEY};

/// The portal-login job: a member id and the portal credential's username and password.
pub fn portal_job() -> Value {
    json!({"workflow": "portal-login",
           "params": {"memberId": "12345",
                      "username": "{{credential:portal-production/username}}",
                      "password": "{{credential:portal-production/password}}"}})
}

/// Options for a test sidecar.
#[derive(Debug, Clone)]
pub struct Options {
    pub timeout: Duration,
    pub max_body: usize,
    /// The body memory budget (`--max-body-memory`).
    pub max_body_memory: usize,
    pub cache: CacheConfig,
    pub resolve_schedules: bool,
    /// The key the sidecar sends upstream.
    pub key: &'static str,
    /// Client token, relay and read checks, policy.
    pub guard: Guard,
    /// Connection limits of the sidecar's server.
    pub server: ServerOptions,
    pub ops: OpsConfig,
    /// Extra CA certificates trusted for an https upstream.
    pub ca_file: Option<std::path::PathBuf>,
    /// The budgets of the known secrets.
    pub known_secrets: libretto_sidecar::sidecar::answer::known_secrets::KnownLimits,
    /// Credentials per request, concurrent lookups.
    pub lookups: libretto_sidecar::sidecar::upstream::LookupLimits,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_body: 1 << 20,
            max_body_memory: libretto_sidecar::http::budget::DEFAULT_MAX_BODY_MEMORY,
            cache: CacheConfig::default(),
            resolve_schedules: false,
            key: UPSTREAM_KEY,
            guard: Guard::default(),
            // Two connection workers, as on a two-core machine: the tests run the request path
            // as the binary does. A test on tokio's paused clock sets 0 (the workers' clocks
            // are their own).
            server: ServerOptions {
                worker_threads: 2,
                ..ServerOptions::default()
            },
            ops: OpsConfig::default(),
            ca_file: None,
            known_secrets: Default::default(),
            lookups: Default::default(),
        }
    }
}

/// A running sidecar: its base URL, its handler (for the cache), and its admin listener.
pub struct Running {
    pub url: String,
    pub addr: SocketAddr,
    pub proxy: Proxy,
    pub admin_url: String,
    pub metrics: Metrics,
    pub readiness: Readiness,
}

/// Starts a sidecar in front of `upstream` with the test key.
pub async fn start_sidecar(upstream: UpstreamChoice, options: Options) -> Running {
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream,
        api_key: Some(Secret::new(options.key)),
        upstream_timeout: options.timeout,
        mock_job_duration: Duration::from_secs(2),
        upstream_ca_file: options.ca_file.clone(),
        proxy: ProxyConfig {
            max_body: options.max_body,
            resolve_schedules: options.resolve_schedules,
            max_body_memory: options.max_body_memory,
        },
        cache: options.cache,
        guard: options.guard,
        server: options.server,
        remember_jobs: libretto_sidecar::sidecar::answer::job_memory::DEFAULT_CAPACITY,
        known_secrets: options.known_secrets,
        ops: options.ops,
        lookups: options.lookups,
    };
    let sidecar = Sidecar::build(&config).await.unwrap();
    let proxy = sidecar.proxy.clone();
    let metrics = sidecar.metrics().clone();
    let readiness = sidecar.readiness().clone();
    let admin_listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let admin_addr = admin_listener.local_addr().unwrap();
    let admin = sidecar.admin();
    let admin_options = admin.server_options();
    tokio::spawn(server::serve(
        admin_listener,
        admin,
        admin_options,
        std::future::pending(),
    ));
    let listener = server::bind(config.listen).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(sidecar.serve(listener, std::future::pending()));
    Running {
        url: format!("http://{addr}"),
        addr,
        proxy,
        admin_url: format!("http://{admin_addr}"),
        metrics,
        readiness,
    }
}

/// A fake upstream with the portal credential ([`FakeUpstream::portal`]), and a sidecar in
/// front of it.
pub async fn fake_and_sidecar(options: Options) -> (FakeUpstream, Running) {
    let fake = FakeUpstream::portal();
    let url = fake.start().await;
    let running = start_sidecar(UpstreamChoice::Url(url), options).await;
    (fake, running)
}

/// A sidecar in front of `mock`, sending the demo key upstream.
pub async fn sidecar_for(mock: &MockServer, options: Options) -> Running {
    start_sidecar(
        UpstreamChoice::Url(mock.base.clone()),
        Options {
            key: DEMO_KEY,
            ..options
        },
    )
    .await
}

/// A mock with the demo fixtures and `config`, and a client for a sidecar in front of it.
pub async fn mock_and_sidecar(config: MockConfig, options: Options) -> (MockServer, TestClient) {
    let mock = start_demo(config).await;
    let sidecar = sidecar_for(&mock, options).await;
    (mock, TestClient::new(sidecar.url))
}

//! `libretto-sidecar serve`: configuration read once at start-up, and the running sidecar.
//!
//! The API key is taken from the environment or a file, never from a command-line value (which
//! would show in `ps` and shell history), and wrapped in [`Secret`] at once. A missing key
//! stops the process before anything listens, with a message saying how to provide one.
//! With `--mock` the built-in mock runs in this process on its own loopback port, preloaded
//! with the demo fixtures, and the sidecar uses the demo tenant's key.
//!
//! The security settings are read here too and rejected early: the client token file, the
//! policy file, and a listen address reachable from other hosts without a token. Core dumps
//! are turned off before any secret is loaded, and SIGHUP re-reads the client token file.
//!
//! Beside the proxy runs the admin listener (probes and metrics). Credentials named with
//! `--prefetch` are fetched before `/readyz` turns ready. On SIGTERM or SIGINT readiness drops
//! at once, the proxy stops accepting and in-flight requests get `--shutdown-grace` to finish;
//! SIGHUP re-reads the API key file, which is also checked for a new key every few seconds.

pub mod admin;
pub mod answer;
pub mod credentials;
pub mod error;
pub mod guard;
pub mod metrics;
pub mod proxy;
pub mod route;
pub mod upstream;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::{info, info_span, warn, Instrument};

use crate::cli::ServeArgs;
use crate::http::server::{self, ServerOptions};
use crate::mock::{Mock, MockConfig, DEMO_FIXTURES};
use crate::runtime::backoff::Backoff;
use crate::secret::Secret;
use crate::sidecar::admin::{Admin, Readiness};
use crate::sidecar::answer::job_memory::{self, JobMemory};
use crate::sidecar::answer::Answers;
use crate::sidecar::credentials::cache::{CacheConfig, CredentialCache};
use crate::sidecar::credentials::Credentials;
use crate::sidecar::guard::access::{check_bind, AccessError, ClientToken};
use crate::sidecar::guard::policy::{Policy, PolicyError};
use crate::sidecar::guard::Guard;
use crate::sidecar::metrics::Metrics;
use crate::sidecar::proxy::{Proxy, ProxyConfig};
use crate::sidecar::upstream::{
    KeyReloadError, Upstream, UpstreamConfig, UpstreamConfigError, KEY_FILE_POLL,
};

/// The environment variable the upstream API key is read from.
pub const API_KEY_ENV: &str = "LIBRETTO_API_KEY";

/// The default upstream base URL.
pub const DEFAULT_UPSTREAM: &str = "https://api.libretto.sh";

/// The API key of the mock's demo tenant.
pub const DEMO_API_KEY: &str = "demo-api-key";

/// Why the sidecar could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "no Libretto API key: set the {API_KEY_ENV} environment variable, or pass \
         --api-key-file PATH (a file holding the key), or use --mock to run against the built-in mock"
    )]
    MissingKey,
    #[error("the API key file {path} could not be read: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the API key file {0} is empty")]
    EmptyKeyFile(PathBuf),
    #[error(transparent)]
    Upstream(#[from] UpstreamConfigError),
    #[error("--upstream-timeout must be longer than zero: every upstream call would time out")]
    ZeroTimeout,
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not listen on {addr} (admin listener): {source}")]
    AdminBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the built-in mock could not start: {0}")]
    Mock(String),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Where the sidecar forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamChoice {
    Url(String),
    /// The built-in mock, started in this process.
    Mock,
}

/// Everything `serve` needs, checked.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub upstream: UpstreamChoice,
    /// The upstream key; `None` only with the mock, which uses its demo key.
    pub api_key: Option<Secret>,
    pub upstream_timeout: Duration,
    /// Extra CA certificates (PEM) trusted for an `https` upstream.
    pub upstream_ca_file: Option<PathBuf>,
    pub proxy: ProxyConfig,
    pub cache: CacheConfig,
    /// Client token, relay and read checks, and the credential policy.
    pub guard: Guard,
    /// Connection limits of the client-facing server.
    pub server: ServerOptions,
    /// How many launched jobs' filled places are remembered for their echoes.
    pub remember_jobs: u64,
    pub ops: OpsConfig,
}

/// The operations settings: admin listener, warm-up, shutdown and key rotation.
#[derive(Debug, Clone)]
pub struct OpsConfig {
    pub admin_listen: SocketAddr,
    /// Credentials fetched at start-up before the sidecar reports ready.
    pub prefetch: Vec<String>,
    /// How long in-flight requests may take to finish once shutdown begins.
    pub shutdown_grace: Duration,
    /// The file the API key came from, re-read on SIGHUP and after an upstream 401.
    pub key_file: Option<PathBuf>,
    /// How often the key file is checked for a new key.
    pub key_poll: Duration,
}

impl Default for OpsConfig {
    fn default() -> Self {
        Self {
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 8789)),
            prefetch: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
            key_file: None,
            key_poll: KEY_FILE_POLL,
        }
    }
}

impl ServeConfig {
    /// Checks the flags; `env_key` is the value of [`API_KEY_ENV`], if set. A key file wins
    /// over the variable. Without a key and without `--mock` this fails with
    /// [`StartError::MissingKey`].
    pub fn from_args(args: &ServeArgs, env_key: Option<Secret>) -> Result<Self, StartError> {
        let file_key = match &args.api_key_file {
            Some(path) => {
                let key = Secret::from_file(path).map_err(|source| StartError::KeyFile {
                    path: path.clone(),
                    source,
                })?;
                if key.is_empty() {
                    return Err(StartError::EmptyKeyFile(path.clone()));
                }
                Some(key)
            }
            None => None,
        };
        if args.upstream_timeout.is_zero() {
            return Err(StartError::ZeroTimeout);
        }
        let key_file = file_key.as_ref().and(args.api_key_file.clone());
        let api_key = file_key.or(env_key.filter(|key| !key.is_empty()));
        let upstream = if args.mock {
            if args.upstream != DEFAULT_UPSTREAM {
                tracing::warn!(upstream = %crate::sidecar::upstream::base_url::redact_url(&args.upstream), "Ignoring the upstream URL: --mock is on");
            }
            UpstreamChoice::Mock
        } else {
            if api_key.is_none() {
                return Err(StartError::MissingKey);
            }
            crate::sidecar::upstream::base_url::BaseUrl::parse(&args.upstream)?;
            UpstreamChoice::Url(args.upstream.clone())
        };
        let token = match &args.client_token_file {
            Some(path) => ClientToken::from_file(path)?,
            None => ClientToken::none(),
        };
        check_bind(args.listen, &token, args.allow_remote)?;
        let policy = match &args.policy {
            Some(path) => Some(std::sync::Arc::new(Policy::load(path)?)),
            None => None,
        };
        Ok(Self {
            listen: args.listen,
            upstream,
            api_key,
            upstream_timeout: args.upstream_timeout,
            upstream_ca_file: args.upstream_ca_file.clone(),
            proxy: ProxyConfig {
                max_body: args.max_body,
                resolve_schedules: args.resolve_schedules,
            },
            cache: CacheConfig {
                ttl: args.cache_ttl,
                negative_ttl: args.negative_ttl,
                capacity: args.cache_capacity,
                stale_if_error: args.stale_if_error,
            },
            ops: OpsConfig {
                admin_listen: args.admin_listen,
                prefetch: args
                    .prefetch
                    .iter()
                    .map(|name| name.trim().to_owned())
                    .filter(|name| !name.is_empty())
                    .collect(),
                shutdown_grace: args.shutdown_grace,
                key_file,
                key_poll: KEY_FILE_POLL,
            },
            guard: Guard {
                token,
                allow_forwarded: args.allow_forwarded,
                allow_credential_reads: args.allow_credential_reads,
                policy,
                allowed_hosts: allowed_hosts(args),
            },
            server: ServerOptions {
                header_read_timeout: args.header_read_timeout,
                max_header_bytes: args.max_header_bytes,
                max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
                idle_timeout: args.idle_timeout,
                ..ServerOptions::default()
            },
            remember_jobs: args.remember_jobs,
        })
    }
}

/// The hosts clients may name besides loopback ones: `--allowed-host` and the listen address.
fn allowed_hosts(args: &ServeArgs) -> Vec<String> {
    let mut hosts: Vec<String> = args
        .allowed_hosts
        .iter()
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .collect();
    if !args.listen.ip().is_unspecified() {
        hosts.push(args.listen.ip().to_string());
    }
    hosts
}

/// The value of [`API_KEY_ENV`] as a secret, if set and not empty.
pub fn key_from_env() -> Option<Secret> {
    std::env::var_os(API_KEY_ENV)
        .map(|value| Secret::new(value.into_encoded_bytes()))
        .filter(|key| !key.is_empty())
}

/// A built sidecar: its handler, its metrics and readiness, and the in-process mock when
/// there is one.
pub struct Sidecar {
    pub proxy: Proxy,
    server: ServerOptions,
    metrics: Metrics,
    readiness: Readiness,
    prefetch: Vec<String>,
    shutdown_grace: Duration,
    key_poll: Duration,
    mock: Option<JoinHandle<()>>,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if let Some(mock) = self.mock.take() {
            mock.abort();
        }
    }
}

impl Sidecar {
    /// Builds the upstream client, the cache and the proxy; starts the mock if asked to.
    pub async fn build(config: &ServeConfig) -> Result<Self, StartError> {
        let (base_url, api_key, key_file, mock) = match &config.upstream {
            UpstreamChoice::Url(url) => (
                url.clone(),
                config.api_key.clone().ok_or(StartError::MissingKey)?,
                config.ops.key_file.clone(),
                None,
            ),
            UpstreamChoice::Mock => {
                let (addr, task) = start_mock().await?;
                (
                    format!("http://{addr}"),
                    Secret::new(DEMO_API_KEY),
                    None,
                    Some(task),
                )
            }
        };
        let metrics = Metrics::new();
        let upstream = Upstream::new(UpstreamConfig {
            base_url,
            timeout: config.upstream_timeout,
            api_key,
            key_file,
            metrics: metrics.clone(),
            ca_file: config.upstream_ca_file.clone(),
        })?;
        let cache = CredentialCache::with_metrics(config.cache, metrics.clone());
        let answers = Answers {
            read_timeout: config.upstream_timeout,
            jobs: JobMemory::new(config.remember_jobs, job_memory::DEFAULT_TTL),
            ..Answers::default()
        };
        Ok(Self {
            proxy: Proxy::secured(
                upstream,
                cache,
                config.proxy,
                metrics.clone(),
                config.guard.clone(),
                answers,
            ),
            server: config.server.clone(),
            readiness: Readiness::new(!config.ops.prefetch.is_empty()),
            metrics,
            prefetch: config.ops.prefetch.clone(),
            shutdown_grace: config.ops.shutdown_grace,
            key_poll: config.ops.key_poll,
            mock,
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// The admin routes (`/healthz`, `/readyz`, `/metrics`) of this sidecar.
    pub fn admin(&self) -> Admin {
        Admin::new(self.metrics.clone(), self.readiness.clone())
    }

    /// Prefetches the `--prefetch` credentials, then serves on `listener` until `shutdown`
    /// resolves. From that moment readiness is false and the listener is closed; in-flight
    /// requests get the shutdown grace to finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let warmup = (!self.prefetch.is_empty()).then(|| {
            tokio::spawn(prefetch(
                self.proxy.credentials().clone(),
                self.prefetch.clone(),
                self.readiness.clone(),
            ))
        });
        let readiness = self.readiness.clone();
        let shutdown = async move {
            shutdown.await;
            readiness.begin_shutdown();
            info!("Shutting down: no new connections, draining requests in flight");
        };
        let options = ServerOptions {
            shutdown_grace: self.shutdown_grace,
            observer: Some(std::sync::Arc::new(self.metrics.clone())),
            ..self.server.clone()
        };
        let key_watch = self.proxy.upstream().spawn_key_watch(self.key_poll);
        server::serve(listener, self.proxy.clone(), options, shutdown).await;
        if let Some(warmup) = warmup {
            warmup.abort();
        }
        if let Some(key_watch) = key_watch {
            key_watch.abort();
        }
    }
}

/// The pause between prefetch attempts of one credential.
const PREFETCH_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));

/// Fetches every named credential into the cache, retrying each until it is found, then
/// marks the sidecar ready. Logs names and errors, never values.
async fn prefetch(credentials: Credentials, names: Vec<String>, readiness: Readiness) {
    let fetches = names.iter().map(|name| {
        let credentials = credentials.clone();
        async move {
            let mut attempt = 0;
            loop {
                match credentials.get(name, None).await {
                    Ok((Some(_), _)) => {
                        info!(credential = %name, "Credential prefetched");
                        return;
                    }
                    Ok((None, _)) => {
                        warn!(credential = %name, attempt, "Prefetch: no such credential; retrying");
                    }
                    Err(err) => {
                        warn!(credential = %name, attempt, error = %err, "Prefetch failed; retrying");
                    }
                }
                tokio::time::sleep(PREFETCH_BACKOFF.delay(attempt)).await;
                attempt = attempt.saturating_add(1);
            }
        }
    });
    join_all(fetches).instrument(info_span!("prefetch")).await;
    readiness.set_warmed();
    info!(credentials = names.len(), "Prefetch finished; ready");
}

/// Re-reads the API key file and the client token file on every SIGHUP. The new key is used
/// from the next upstream call on, and requests in flight keep the one they started with; a
/// file that cannot be read leaves the old value in force.
fn spawn_reload_on_sighup(upstream: Upstream, token: ClientToken) -> Option<JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(hangup) => hangup,
            Err(err) => {
                warn!(error = %err, "SIGHUP cannot be handled; key and token files will not be re-read on it");
                return None;
            }
        };
        Some(tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                match upstream.reload_key().await {
                    Ok(changed) => info!(changed, "API key file re-read on SIGHUP"),
                    Err(KeyReloadError::NoFile) => {}
                    Err(err) => {
                        warn!(error = %err, "API key not re-read on SIGHUP; keeping the current one")
                    }
                }
                if token.is_configured() {
                    match token.reload() {
                        Ok(()) => info!("Client token re-read on SIGHUP"),
                        Err(err) => {
                            warn!(error = %err, "Client token not re-read on SIGHUP; keeping the current one")
                        }
                    }
                }
            }
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = (upstream, token);
        None
    }
}

/// Starts the built-in mock on a loopback port, preloaded with the demo fixtures.
async fn start_mock() -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let mock = Mock::new(MockConfig::default());
    mock.load_fixtures(DEMO_FIXTURES)
        .map_err(|err| StartError::Mock(err.to_string()))?;
    let listener = server::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|err| StartError::Mock(err.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|err| StartError::Mock(err.to_string()))?;
    let task = tokio::spawn(server::serve(
        listener,
        mock,
        ServerOptions::default(),
        std::future::pending(),
    ));
    info!(%addr, "Built-in mock started");
    Ok((addr, task))
}

/// `libretto-sidecar serve`: checks the flags, binds, prints the one `listening on` line and
/// serves until the process is asked to stop.
pub async fn run(args: ServeArgs) -> Result<(), StartError> {
    if let Err(err) = crate::runtime::hardening::disable_core_dumps() {
        warn!(error = %err, "Core dumps could not be disabled");
    }
    let config = ServeConfig::from_args(&args, key_from_env())?;
    // Signal handlers go in before anything listens, so an early signal is never fatal.
    let shutdown = crate::runtime::shutdown::install();
    let sidecar = Sidecar::build(&config).await?;
    let _reload =
        spawn_reload_on_sighup(sidecar.proxy.upstream().clone(), config.guard.token.clone());
    let listener = server::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let admin_addr = config.ops.admin_listen;
    let admin_listener =
        server::bind(admin_addr)
            .await
            .map_err(|source| StartError::AdminBind {
                addr: admin_addr,
                source,
            })?;
    let admin_addr = admin_listener.local_addr().unwrap_or(admin_addr);
    let line = server::listening_line(&listener).map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
    drop(stdout);
    let upstream = match &config.upstream {
        UpstreamChoice::Url(url) => crate::sidecar::upstream::base_url::redact_url(url),
        UpstreamChoice::Mock => "mock".to_owned(),
    };
    info!(%upstream, admin = %admin_addr, "Sidecar started");
    // The admin listener outlives the drain, so probes see /readyz 503 until the end.
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin = tokio::spawn(server::serve(
        admin_listener,
        sidecar.admin(),
        ServerOptions {
            shutdown_grace: Duration::from_secs(1),
            ..ServerOptions::default()
        },
        async move {
            let _ = admin_stopped.await;
        },
    ));
    sidecar.serve(listener, shutdown).await;
    let _ = stop_admin.send(());
    let _ = admin.await;
    info!("Sidecar stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn serve_args(extra: &[&str]) -> ServeArgs {
        let mut argv = vec!["libretto-sidecar", "serve"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(args) => *args,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn a_key_is_required_without_the_mock() {
        let err = ServeConfig::from_args(&serve_args(&[]), None).unwrap_err();
        assert!(matches!(err, StartError::MissingKey));
        assert!(err.to_string().contains("LIBRETTO_API_KEY"));
        assert!(err.to_string().contains("--api-key-file"));
        assert!(ServeConfig::from_args(&serve_args(&[]), Some(Secret::new(""))).is_err());
    }

    #[test]
    fn the_key_file_wins_over_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "from-file\n").unwrap();
        let args = serve_args(&["--api-key-file", path.to_str().unwrap()]);
        let config = ServeConfig::from_args(&args, Some(Secret::new("from-env"))).unwrap();
        assert!(config.api_key.unwrap().ct_eq(b"from-file"));
    }

    #[test]
    fn mock_needs_no_key_and_wins_over_the_upstream() {
        let config = ServeConfig::from_args(&serve_args(&["--mock"]), None).unwrap();
        assert_eq!(config.upstream, UpstreamChoice::Mock);
        let args = serve_args(&["--mock", "--upstream", "http://127.0.0.1:1"]);
        let config = ServeConfig::from_args(&args, None).unwrap();
        assert_eq!(config.upstream, UpstreamChoice::Mock);
    }

    #[test]
    fn a_zero_timeout_and_a_url_with_user_info_are_refused() {
        let key = || Some(Secret::new("k"));
        let err =
            ServeConfig::from_args(&serve_args(&["--upstream-timeout", "0s"]), key()).unwrap_err();
        assert!(matches!(err, StartError::ZeroTimeout), "{err}");
        assert!(err.to_string().contains("--upstream-timeout"));
        let args = serve_args(&["--upstream", "http://user:hunter2@127.0.0.1:1/"]);
        let err = ServeConfig::from_args(&args, key()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("user name or password"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn defaults_follow_the_documentation() {
        let config = ServeConfig::from_args(&serve_args(&[]), Some(Secret::new("k"))).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8787");
        assert_eq!(
            config.upstream,
            UpstreamChoice::Url("https://api.libretto.sh".into())
        );
        assert_eq!(config.upstream_timeout, Duration::from_secs(30));
        assert_eq!(config.proxy.max_body, 1 << 20);
        assert_eq!(config.cache.ttl, Duration::from_secs(60));
        assert_eq!(config.cache.negative_ttl, Duration::from_secs(5));
        assert_eq!(config.cache.capacity, 10_000);
        assert!(!config.proxy.resolve_schedules);
        assert_eq!(config.ops.admin_listen.to_string(), "127.0.0.1:8789");
        assert_eq!(config.ops.shutdown_grace, Duration::from_secs(10));
        assert!(config.ops.prefetch.is_empty());
        assert!(
            config.ops.key_file.is_none(),
            "the key came from the environment"
        );
        assert_eq!(config.cache.stale_if_error, None);
    }

    #[test]
    fn operations_flags_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "k").unwrap();
        let args = serve_args(&[
            "--api-key-file",
            path.to_str().unwrap(),
            "--admin-listen",
            "0.0.0.0:9000",
            "--prefetch",
            "a, b,,c",
            "--shutdown-grace",
            "2s",
            "--stale-if-error",
            "5m",
        ]);
        let config = ServeConfig::from_args(&args, None).unwrap();
        assert_eq!(config.ops.admin_listen.to_string(), "0.0.0.0:9000");
        assert_eq!(config.ops.prefetch, ["a", "b", "c"]);
        assert_eq!(config.ops.shutdown_grace, Duration::from_secs(2));
        assert_eq!(config.ops.key_file.as_deref(), Some(path.as_path()));
        assert_eq!(config.cache.stale_if_error, Some(Duration::from_secs(300)));
    }

    #[test]
    fn a_bad_upstream_url_is_refused() {
        let args = serve_args(&["--upstream", "ftp://x"]);
        assert!(matches!(
            ServeConfig::from_args(&args, Some(Secret::new("k"))),
            Err(StartError::Upstream(_))
        ));
    }
}

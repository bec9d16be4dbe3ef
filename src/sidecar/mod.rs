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
//! `--prefetch`, and every credential of the tenant when learning is on (`--learn-credentials`,
//! see [`learn`]), are fetched before `/readyz` turns ready. On SIGTERM or SIGINT readiness drops
//! at once, the proxy stops accepting and in-flight requests get `--shutdown-grace` to finish;
//! SIGHUP re-reads the API key file, which is also checked for a new key every few seconds.

pub mod admin;
pub mod answer;
pub(crate) mod config;
pub mod credentials;
pub(crate) mod error;
pub mod guard;
pub mod learn;
pub mod metrics;
mod prefetch;
pub mod proxy;
mod reload;
pub(crate) mod route;
pub mod upstream;

pub use config::{
    key_from_env, OpsConfig, ServeConfig, StartError, UpstreamChoice, API_KEY_ENV,
    DEFAULT_UPSTREAM, DEMO_API_KEY,
};
pub use error::ERROR_CODES;
use prefetch::prefetch;
use reload::spawn_reload_on_sighup;

use std::io::Write;
#[cfg(feature = "mock")]
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::cli::ServeArgs;
use crate::http::server::{self, ServerOptions};
#[cfg(feature = "mock")]
use crate::mock::{Mock, MockConfig, DEMO_FIXTURES};
#[cfg(feature = "mock")]
use crate::secret::Secret;
use crate::sidecar::admin::{Admin, Readiness};
use crate::sidecar::answer::job_memory::{self, JobMemory};
use crate::sidecar::answer::known_secrets::KnownSecrets;
use crate::sidecar::answer::withhold::Learning;
use crate::sidecar::answer::Answers;
use crate::sidecar::credentials::cache::CredentialCache;
use crate::sidecar::metrics::holdings::{Held, Holdings};
use crate::sidecar::metrics::Metrics;
use crate::sidecar::proxy::Proxy;
use crate::sidecar::upstream::{Upstream, UpstreamConfig};

/// The stores whose size the metrics report (see [`holdings`](metrics::holdings)).
struct Stores {
    cache: CredentialCache,
    known: KnownSecrets,
    jobs: JobMemory,
}

impl Held for Stores {
    fn holdings(&self) -> Holdings {
        let (job_memory_entries, job_memory_weight_kib) = self.jobs.held();
        Holdings {
            cache_entries: self.cache.entry_count(),
            cache_weight_kib: self.cache.weight_now(),
            known_secret_values: self.known.values() as u64,
            known_secret_bytes: self.known.bytes() as u64,
            job_memory_entries,
            job_memory_weight_kib,
        }
    }
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
    learn: Option<learn::LearnConfig>,
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
            #[cfg(not(feature = "mock"))]
            UpstreamChoice::Mock => return Err(StartError::MockNotBuilt),
            #[cfg(feature = "mock")]
            UpstreamChoice::Mock => {
                let (addr, task) = start_mock(config.mock_job_duration).await?;
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
            lookups: config.lookups,
        })?;
        let cache = CredentialCache::with_metrics(config.cache, metrics.clone());
        let learning = Learning::new(config.ops.learn.is_none());
        let answers = Answers {
            known: KnownSecrets::with_limits(config.known_secrets),
            read_timeout: config.upstream_timeout,
            jobs: JobMemory::new(config.remember_jobs, job_memory::DEFAULT_TTL),
            learning: learning.clone(),
            ..Answers::default()
        };
        metrics.watch_holdings(Box::new(Stores {
            cache: cache.clone(),
            known: answers.known.clone(),
            jobs: answers.jobs.clone(),
        }));
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
            readiness: Readiness::new(!config.ops.prefetch.is_empty())
                .with_learning(learning)
                .with_mock(config.upstream == UpstreamChoice::Mock),
            metrics,
            prefetch: config.ops.prefetch.clone(),
            shutdown_grace: config.ops.shutdown_grace,
            key_poll: config.ops.key_poll,
            learn: config.ops.learn,
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

    /// Prefetches the `--prefetch` credentials and starts learning the tenant's credentials
    /// (see [`learn`]), then serves on `listener` until `shutdown` resolves. From that moment readiness is false and the listener is closed; in-flight
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
        let learner = self.learn.map(|config| {
            tokio::spawn(learn::run(
                self.proxy.credentials().clone(),
                config,
                self.proxy.answers().learning.clone(),
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
        if let Ok(addr) = listener.local_addr() {
            // The sidecar's own origins carry the port it listens on.
            self.proxy.guard().set_listen_port(addr.port());
        }
        server::serve(listener, self.proxy.clone(), options, shutdown).await;
        if let Some(warmup) = warmup {
            warmup.abort();
        }
        if let Some(learner) = learner {
            learner.abort();
        }
        if let Some(key_watch) = key_watch {
            key_watch.abort();
        }
    }
}

#[cfg(feature = "mock")]
/// Starts the built-in mock on a loopback port, preloaded with the demo fixtures.
async fn start_mock(job_duration: Duration) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let mock = Mock::new(MockConfig {
        job_duration: crate::cli::JobDuration::After(job_duration),
        ..MockConfig::default()
    });
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
    let listen = listener.local_addr().unwrap_or(config.listen);
    let policy = args
        .policy
        .as_ref()
        .map_or_else(|| "none".to_owned(), |path| path.display().to_string());
    let on_off = |on: bool| if on { "on" } else { "off" };
    info!(
        %listen,
        admin = %admin_addr,
        %upstream,
        policy,
        client_token = on_off(config.guard.token.is_configured()),
        mock = on_off(config.upstream == UpstreamChoice::Mock),
        version = env!("CARGO_PKG_VERSION"),
        "Sidecar started"
    );
    if config.upstream == UpstreamChoice::Mock {
        warn!(
            upstream = "mock",
            "Serving the built-in mock: jobs go nowhere (no browser runs them, no real credential is used)"
        );
    }
    // The admin listener outlives the drain, so probes see /readyz 503 until the end.
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin_routes = sidecar.admin();
    let admin_options = admin_routes.server_options();
    let admin = tokio::spawn(server::serve(
        admin_listener,
        admin_routes,
        admin_options,
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
mod tests;

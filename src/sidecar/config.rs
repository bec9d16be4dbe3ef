//! `serve`'s configuration, read once at start-up and rejected early: the API key from the
//! environment or a file (never a flag value), the upstream or the in-process mock, the
//! security settings and the operations settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::ServeArgs;
use crate::http::server::ServerOptions;
use crate::secret::Secret;
use crate::sidecar::answer::known_secrets::KnownLimits;
use crate::sidecar::credentials::cache::CacheConfig;
use crate::sidecar::guard::access::{check_bind, AccessError, ClientToken};
use crate::sidecar::guard::policy::{Policy, PolicyError};
use crate::sidecar::guard::Guard;
use crate::sidecar::learn::LearnConfig;
use crate::sidecar::proxy::ProxyConfig;
use crate::sidecar::upstream::{LookupLimits, UpstreamConfigError, KEY_FILE_POLL};

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
    #[error(
        "this build has no built-in mock (it was built without the `mock` feature), so --mock \
         and LIBRETTO_SIDECAR_MOCK cannot be used: point --upstream at a Libretto API, or run \
         a build with the default features"
    )]
    MockNotBuilt,
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(
        "the upstream {upstream} is this sidecar's own listen address {listen}: every request \
         would loop back into the sidecar. Point --upstream (LIBRETTO_API_URL) at the Libretto \
         API, or listen elsewhere with --listen"
    )]
    SelfUpstream {
        upstream: String,
        listen: SocketAddr,
    },
    #[error("--allowed-origin {0} is not an origin: give scheme, host and optional port, like https://console.example")]
    BadOrigin(String),
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
    /// How long a job of the built-in mock runs (`--mock-job-duration`), with `--mock`.
    pub mock_job_duration: Duration,
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
    /// The budgets of the secrets the scrubber knows.
    pub known_secrets: KnownLimits,
    pub ops: OpsConfig,
    /// Credentials per request, concurrent lookups.
    pub lookups: LookupLimits,
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
    /// Learning the tenant's credentials at start-up and periodically (`--learn-credentials`,
    /// on by default from the command line); `None` turns it off, the default of a sidecar
    /// built in code.
    pub learn: Option<LearnConfig>,
}

impl Default for OpsConfig {
    fn default() -> Self {
        Self {
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 8789)),
            prefetch: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
            key_file: None,
            key_poll: KEY_FILE_POLL,
            learn: None,
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
            if !cfg!(feature = "mock") {
                return Err(StartError::MockNotBuilt);
            }
            if args.upstream != DEFAULT_UPSTREAM {
                tracing::warn!(upstream = %crate::sidecar::upstream::base_url::redact_url(&args.upstream), "Ignoring the upstream URL: --mock is on");
            }
            UpstreamChoice::Mock
        } else {
            if api_key.is_none() {
                return Err(StartError::MissingKey);
            }
            crate::sidecar::upstream::base_url::BaseUrl::parse(&args.upstream)?;
            if crate::sidecar::guard::via::names_listen_address(&args.upstream, args.listen) {
                return Err(StartError::SelfUpstream {
                    upstream: crate::sidecar::upstream::base_url::redact_url(&args.upstream),
                    listen: args.listen,
                });
            }
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
            mock_job_duration: args.mock_job_duration,
            upstream_ca_file: args.upstream_ca_file.clone(),
            proxy: ProxyConfig {
                max_body: args.max_body,
                resolve_schedules: args.resolve_schedules,
                max_body_memory: args.max_body_memory,
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
                learn: args.learn_credentials.then_some(LearnConfig {
                    interval: args.learn_interval,
                    max: usize::try_from(args.learn_max).unwrap_or(usize::MAX),
                }),
            },
            guard: Guard {
                token,
                allow_forwarded: args.allow_forwarded,
                allow_credential_reads: args.allow_credential_reads,
                policy,
                allowed_hosts: allowed_hosts(args),
                allowed_origins: allowed_origins(args)?,
                ..Guard::default()
            },
            server: ServerOptions {
                header_read_timeout: args.header_read_timeout,
                max_header_bytes: args.max_header_bytes,
                max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
                idle_timeout: args.idle_timeout,
                worker_threads: args
                    .workers
                    .map_or_else(crate::runtime::workers::default_count, usize::from),
                ..ServerOptions::default()
            },
            remember_jobs: args.remember_jobs,
            known_secrets: KnownLimits {
                total_bytes: args.max_known_secret_bytes,
                value_bytes: args.max_secret_value_bytes,
                ..KnownLimits::default()
            },
            lookups: LookupLimits {
                max_per_request: usize::try_from(args.max_credentials_per_request)
                    .unwrap_or(usize::MAX),
                max_concurrent: usize::try_from(args.max_concurrent_lookups).unwrap_or(usize::MAX),
            },
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

/// The `--allowed-origin` values as `scheme://host[:port]` in lower case, the scheme's default
/// port left out as a browser leaves it out; anything else (a path, user info, `null`) is
/// refused at start-up.
fn allowed_origins(args: &ServeArgs) -> Result<Vec<String>, StartError> {
    args.allowed_origins
        .iter()
        .filter(|origin| !origin.trim().is_empty())
        .map(|origin| normalize_origin(origin).ok_or_else(|| StartError::BadOrigin(origin.clone())))
        .collect()
}

/// One origin as a browser writes it in `Origin`, or `None` if `origin` is not one.
fn normalize_origin(origin: &str) -> Option<String> {
    let text = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let uri = text.parse::<http::Uri>().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    let bare = uri
        .path_and_query()
        .is_none_or(|pq| pq.as_str().is_empty() || pq.as_str() == "/");
    if authority.as_str().contains('@') || !bare || authority.host().is_empty() {
        return None;
    }
    let default_port = match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    Some(match uri.port_u16() {
        Some(port) if Some(port) != default_port => {
            format!("{scheme}://{}:{port}", authority.host())
        }
        _ => format!("{scheme}://{}", authority.host()),
    })
}

/// The value of [`API_KEY_ENV`] as a secret, if set and not empty.
pub fn key_from_env() -> Option<Secret> {
    std::env::var_os(API_KEY_ENV)
        .map(|value| Secret::new(value.into_encoded_bytes()))
        .filter(|key| !key.is_empty())
}

#[cfg(test)]
mod tests {
    use super::normalize_origin;

    #[test]
    fn origins_are_written_as_a_browser_sends_them() {
        for (given, written) in [
            ("https://Console.Example/", "https://console.example"),
            ("https://console.example:443", "https://console.example"),
            ("http://app.internal:80", "http://app.internal"),
            ("http://app.internal:3000", "http://app.internal:3000"),
            ("https://[::1]:8443", "https://[::1]:8443"),
        ] {
            assert_eq!(normalize_origin(given).as_deref(), Some(written), "{given}");
        }
        for refused in [
            "null",
            "console.example",
            "https://console.example/path",
            "https://user@console.example",
            "https://console.example?q=1",
        ] {
            assert_eq!(normalize_origin(refused), None, "{refused}");
        }
    }
}

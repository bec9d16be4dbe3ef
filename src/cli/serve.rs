//! `serve`: the sidecar's flags, each with its environment variable and default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};

use super::parse::*;

/// Flags of `libretto-sidecar serve`. The API key is never a flag: it comes from the
/// environment variable `LIBRETTO_API_KEY` or from `--api-key-file`.
#[derive(Debug, Clone, Args)]
#[command(after_help = SERVE_AFTER_HELP)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(
        long,
        help_heading = "Connections",
        value_name = "ADDR",
        env = "LIBRETTO_SIDECAR_LISTEN",
        default_value = "127.0.0.1:8787"
    )]
    pub listen: SocketAddr,

    /// Base URL of the Libretto API (http or https; a base path is allowed). Ignored with
    /// --mock.
    #[arg(
        long,
        help_heading = "Upstream",
        value_name = "URL",
        env = "LIBRETTO_API_URL",
        default_value = "https://api.libretto.sh"
    )]
    pub upstream: String,

    /// Run the built-in mock in this process as the upstream, preloaded with the demo
    /// credentials, and use the demo tenant's key. Takes precedence over --upstream (so a
    /// LIBRETTO_API_URL set in the shell does not get in the way).
    #[arg(long, help_heading = "Upstream", env = "LIBRETTO_SIDECAR_MOCK", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub mock: bool,

    /// With --mock: how long each job of the built-in mock runs before it completes (e.g. 2s,
    /// 100ms); a load test launching thousands of jobs a second wants them short, since a tenant's
    /// live jobs count against its memory budget.
    #[arg(long, help_heading = "Upstream", value_name = "DURATION", env = "LIBRETTO_SIDECAR_MOCK_JOB_DURATION", default_value = "2s", value_parser = parse_duration)]
    pub mock_job_duration: Duration,

    /// File holding the upstream API key (instead of the LIBRETTO_API_KEY variable); watched
    /// for changes and re-read on SIGHUP. Default: none.
    #[arg(
        long,
        help_heading = "Upstream",
        value_name = "FILE",
        env = "LIBRETTO_API_KEY_FILE"
    )]
    pub api_key_file: Option<PathBuf>,

    /// How long an upstream call may take before the sidecar answers 504 (e.g. 30s, 500ms).
    #[arg(long, help_heading = "Upstream", value_name = "DURATION", env = "LIBRETTO_SIDECAR_UPSTREAM_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// PEM file of CA certificates to trust for an https upstream, besides the public roots
    /// (for an upstream or TLS-intercepting proxy behind a private CA). Default: none.
    #[arg(
        long,
        help_heading = "Upstream",
        value_name = "FILE",
        env = "LIBRETTO_SIDECAR_UPSTREAM_CA_FILE"
    )]
    pub upstream_ca_file: Option<PathBuf>,

    /// Largest request body on any route (bytes, or 512KiB, 1MiB): read whole where the sidecar
    /// looks in, streamed and cut at the limit elsewhere.
    #[arg(long, help_heading = "Limits", value_name = "SIZE", env = "LIBRETTO_SIDECAR_MAX_BODY", default_value = "1MiB", value_parser = parse_size)]
    pub max_body: usize,

    /// Memory for all request bodies held at once, across every connection and HTTP/2 stream
    /// (bytes, or 64MiB): a body read whole holds its bytes and the estimate of its parsed form;
    /// past it requests are answered 503 BODY_BUDGET_EXHAUSTED at once.
    #[arg(long, help_heading = "Limits", value_name = "SIZE", env = "LIBRETTO_SIDECAR_MAX_BODY_MEMORY", default_value = "64MiB", value_parser = parse_size)]
    pub max_body_memory: usize,

    /// How long a fetched credential is served from the cache.
    #[arg(long, help_heading = "Cache", value_name = "DURATION", env = "LIBRETTO_SIDECAR_CACHE_TTL", default_value = "60s", value_parser = parse_duration)]
    pub cache_ttl: Duration,

    /// How long "no such credential" is remembered.
    #[arg(long, help_heading = "Cache", value_name = "DURATION", env = "LIBRETTO_SIDECAR_NEGATIVE_TTL", default_value = "5s", value_parser = parse_duration)]
    pub negative_ttl: Duration,

    /// Most credentials kept in the cache at once (an entry weighs one unit per started KiB of
    /// its name and value, so this bounds the cache's bytes too).
    #[arg(
        long,
        help_heading = "Cache",
        value_name = "COUNT",
        env = "LIBRETTO_SIDECAR_CACHE_CAPACITY",
        default_value_t = 10_000
    )]
    pub cache_capacity: u64,

    /// Resolve placeholders in schedules/create and schedules/update when the schedule is
    /// saved (the values are then stored upstream) instead of refusing them.
    #[arg(long, help_heading = "Access", env = "LIBRETTO_SIDECAR_RESOLVE_SCHEDULES", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub resolve_schedules: bool,

    /// Let credentials/get through (refused by default: apps use placeholders, not values).
    #[arg(long, help_heading = "Access", env = "LIBRETTO_SIDECAR_ALLOW_CREDENTIAL_READS", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub allow_credential_reads: bool,

    /// Policy file (TOML, or JSON for a .json file): which workflows may use which credentials.
    /// Default: none (any workflow may use any credential).
    #[arg(
        long,
        help_heading = "Access",
        value_name = "FILE",
        env = "LIBRETTO_SIDECAR_POLICY"
    )]
    pub policy: Option<PathBuf>,

    /// File holding the token every client must send in `x-sidecar-token`; re-read on SIGHUP.
    /// Default: none (local clients need no token).
    #[arg(
        long,
        help_heading = "Access",
        value_name = "FILE",
        env = "LIBRETTO_SIDECAR_CLIENT_TOKEN_FILE"
    )]
    pub client_token_file: Option<PathBuf>,

    /// Allow listening on a non-loopback address without a client token.
    #[arg(long, help_heading = "Access", env = "LIBRETTO_SIDECAR_ALLOW_REMOTE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub allow_remote: bool,

    /// Accept requests carrying X-Forwarded-For or Forwarded (relayed by another proxy).
    #[arg(long, help_heading = "Access", env = "LIBRETTO_SIDECAR_ALLOW_FORWARDED", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub allow_forwarded: bool,

    /// Client connections served at once; more are answered 503.
    #[arg(long, help_heading = "Connections", value_name = "COUNT", env = "LIBRETTO_SIDECAR_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Threads serving connections, each with its own runtime and upstream pool; a connection
    /// stays on one from start to end. Default: one per CPU the process may use.
    #[arg(long, help_heading = "Connections", value_name = "COUNT", env = "LIBRETTO_SIDECAR_WORKERS", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,

    /// How long a client may take to send a request's headers.
    #[arg(long, help_heading = "Connections", value_name = "DURATION", env = "LIBRETTO_SIDECAR_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// Largest request head accepted (bytes, or 64KiB; at least 8KiB); larger ones are answered
    /// 431 with an empty body.
    #[arg(long, help_heading = "Connections", value_name = "SIZE", env = "LIBRETTO_SIDECAR_MAX_HEADER_BYTES", default_value = "64KiB", value_parser = parse_header_size)]
    pub max_header_bytes: usize,

    /// Jobs launched through the sidecar whose params are remembered (for 6 hours), so that
    /// their echoes show what the app sent; a job weighs one unit per started KiB.
    #[arg(long, help_heading = "Scrubbing", value_name = "COUNT", env = "LIBRETTO_SIDECAR_REMEMBER_JOBS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub remember_jobs: u64,

    /// Most bytes of secret patterns the scrubber holds (every learned value counted with
    /// each escaped form it matches); a new value past it is refused (503
    /// SECRET_BUDGET_EXHAUSTED) unless values unseen for 24 hours make room.
    #[arg(long, help_heading = "Scrubbing", value_name = "SIZE", env = "LIBRETTO_SIDECAR_MAX_KNOWN_SECRET_BYTES", default_value = "4MiB", value_parser = parse_size)]
    pub max_known_secret_bytes: usize,

    /// Largest credential value (its strings and numbers) the scrubber learns; a job using a
    /// larger one is refused (422 CREDENTIAL_TOO_LARGE), never forwarded.
    #[arg(long, help_heading = "Scrubbing", value_name = "SIZE", env = "LIBRETTO_SIDECAR_MAX_SECRET_VALUE_BYTES", default_value = "64KiB", value_parser = parse_size)]
    pub max_secret_value_bytes: usize,
    /// Most distinct credentials one request may name; a request naming more is refused 400
    /// TOO_MANY_CREDENTIALS before any lookup.
    #[arg(long, help_heading = "Limits", value_name = "COUNT", env = "LIBRETTO_SIDECAR_MAX_CREDENTIALS_PER_REQUEST", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_credentials_per_request: u32,

    /// Most credentials/get calls to the upstream in flight at once (and so upstream
    /// connections held by lookups); more lookups wait their turn.
    #[arg(long, help_heading = "Limits", value_name = "COUNT", env = "LIBRETTO_SIDECAR_MAX_CONCURRENT_LOOKUPS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_lookups: u32,

    /// A host name clients may use to reach the sidecar besides loopback names and the listen
    /// address (repeatable); any other `Host` is refused (DNS rebinding). Default: none.
    #[arg(
        long = "allowed-host",
        help_heading = "Access",
        value_name = "HOST",
        env = "LIBRETTO_SIDECAR_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// An Origin accepted besides the sidecar's own (http:// and a loopback name, the listen
    /// address or an --allowed-host, with the listen port), e.g. https://console.example
    /// (repeatable); requests with any other Origin are refused as from a browser page.
    /// Default: none.
    #[arg(
        long = "allowed-origin",
        help_heading = "Access",
        value_name = "ORIGIN",
        env = "LIBRETTO_SIDECAR_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// How long a client connection may stay open with no byte moving either way; keep it
    /// above --upstream-timeout. (A new connection's first byte is bounded by
    /// --header-read-timeout.)
    #[arg(long, help_heading = "Connections", value_name = "DURATION", env = "LIBRETTO_SIDECAR_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    // Operations: admin listener, warm-up, shutdown and outage behaviour.
    /// Address of the admin listener (GET /healthz, /readyz, /metrics); no secrets there.
    #[arg(
        long,
        help_heading = "Operations",
        value_name = "ADDR",
        env = "LIBRETTO_SIDECAR_ADMIN_LISTEN",
        default_value = "127.0.0.1:8789"
    )]
    pub admin_listen: SocketAddr,

    /// Credentials (comma-separated names) fetched into the cache at start-up; /readyz answers
    /// 503 until all of them are in. Default: none.
    #[arg(
        long, help_heading = "Cache",
        env = "LIBRETTO_SIDECAR_PREFETCH",
        value_delimiter = ',',
        value_name = "NAME,...",
        value_parser = parse_credential_name
    )]
    pub prefetch: Vec<String>,

    /// How long in-flight requests may take to finish after SIGTERM or SIGINT.
    #[arg(long, help_heading = "Operations", value_name = "DURATION", env = "LIBRETTO_SIDECAR_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// When a credential lookup fails (connect error, timeout or 5xx), serve a cached value that
    /// expired no longer ago than this, marked `x-libretto-sidecar-stale: 1`. Default: off.
    #[arg(long, help_heading = "Cache", env = "LIBRETTO_SIDECAR_STALE_IF_ERROR", value_parser = parse_duration, value_name = "DURATION")]
    pub stale_if_error: Option<Duration>,

    /// Learn every credential of the tenant (credentials/list, then each value) at start-up and
    /// every --learn-interval, so echoes of jobs launched before a restart are scrubbed; until
    /// the first pass is done /readyz answers 503 and such echoes are refused (NOT_READY).
    #[arg(long, help_heading = "Scrubbing", env = "LIBRETTO_SIDECAR_LEARN_CREDENTIALS", default_value_t = true, action = ArgAction::Set, value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub learn_credentials: bool,

    /// How often the tenant's credentials are learned again after the first pass.
    #[arg(long, help_heading = "Scrubbing", value_name = "DURATION", env = "LIBRETTO_SIDECAR_LEARN_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub learn_interval: Duration,

    /// Most credentials learned per pass; the rest are learned only when a job uses them.
    #[arg(long, help_heading = "Scrubbing", value_name = "COUNT", env = "LIBRETTO_SIDECAR_LEARN_MAX", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub learn_max: u32,
}

/// The end of `serve --help`: where the key comes from, switch defaults, and signals.
const SERVE_AFTER_HELP: &str = "\
The upstream API key is never a flag value: it is read from the LIBRETTO_API_KEY environment
variable, or from the file named by --api-key-file (which wins). That file is checked for a new
key every 5 seconds, re-read on SIGHUP, and re-read after an upstream 401 (the request is then
sent once more if the key changed). Switches without a value (--mock, --resolve-schedules,
--allow-credential-reads, --allow-remote, --allow-forwarded) are off unless given; from the
environment they take 1, true, yes, on, y or t for on and 0, false, no, off, n or f for off.
--learn-credentials is on by default and takes such a value (--learn-credentials=false).
Flags without a [default] are unset unless given.

Signals: SIGTERM or SIGINT stop accepting, let requests in flight finish within
--shutdown-grace and exit 0; SIGHUP re-reads the API key file and the client token file.";

//! The command line: subcommands and flags, parsed once at start-up.
//!
//! Each flag that an operator may want to set from the environment names its variable, so
//! `--help` documents flag, variable and default in one place. Values are checked here, so a
//! bad flag stops the process with a clear message before anything listens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// A sidecar that fills Libretto credential placeholders into jobs, and an offline mock of the
/// Libretto API.
#[derive(Debug, Parser)]
#[command(name = "libretto-sidecar", version, about, propagate_version = true)]
pub struct Cli {
    /// Log line format; the level filter comes from RUST_LOG (default `info`).
    #[arg(long, global = true, env = "LIBRETTO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Libretto API from memory (credentials, jobs, logs, webhooks, schedules), for
    /// offline work and tests.
    // `display_name` keeps `SUBCOMMAND --version` printing the program's own name.
    #[command(display_name = "libretto-sidecar")]
    Mock(MockArgs),
    /// Run the sidecar: fill credential placeholders into jobs and forward them upstream.
    #[command(display_name = "libretto-sidecar")]
    Serve(Box<ServeArgs>),
    /// Lint a jobs/create body offline: list its placeholders, report every error (exit 1).
    #[command(display_name = "libretto-sidecar")]
    Check(CheckArgs),
}

/// Arguments of `libretto-sidecar check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The body to check (enveloped `{"json": ...}` or bare): a file, or `-` for stdin.
    #[arg(default_value = "-")]
    pub input: String,
}

/// Flags of `libretto-sidecar mock`.
#[derive(Debug, Clone, Args)]
pub struct MockArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "LIBRETTO_MOCK_LISTEN", default_value = "127.0.0.1:8788")]
    pub listen: SocketAddr,

    /// Largest request body accepted (bytes, or with a unit: 512KiB, 1MiB).
    #[arg(long, env = "LIBRETTO_MOCK_MAX_BODY", default_value = "1MiB", value_parser = parse_size)]
    pub max_body: usize,

    /// JSON file of tenants and credentials to preload (format in docs/mock.md).
    #[arg(long, env = "LIBRETTO_MOCK_FIXTURES")]
    pub fixtures: Option<PathBuf>,

    /// File holding the AES-SIV key that seals stored values (64 raw bytes or 128 hex
    /// characters); without it a random key is made for this process.
    #[arg(long, env = "LIBRETTO_MOCK_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,

    /// How long a job runs before it completes (e.g. 2s, 500ms), or `never` to keep jobs
    /// running until cancelled or until their `timeout_seconds` (default 1800) runs out.
    #[arg(long, env = "LIBRETTO_MOCK_JOB_DURATION", default_value = "2s", value_parser = parse_job_duration)]
    pub job_duration: JobDuration,

    /// Finished jobs kept in memory per tenant; older ones are dropped first.
    #[arg(long, env = "LIBRETTO_MOCK_MAX_JOBS", default_value_t = 10_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_jobs: usize,

    /// Attempts per webhook delivery, the first included; failures are retried with
    /// jittered exponential backoff.
    #[arg(long, env = "LIBRETTO_MOCK_WEBHOOK_ATTEMPTS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub webhook_attempts: u32,

    /// Bytes all tenants' state may take together (jobs with their params and logs,
    /// credentials, webhooks, schedules); finished jobs are dropped oldest first to make room.
    #[arg(long, env = "LIBRETTO_MOCK_MAX_MEMORY", default_value = "32MiB", value_parser = parse_size)]
    pub max_memory: usize,

    /// Bytes one tenant's state may take; its oldest finished jobs are dropped first.
    #[arg(long, env = "LIBRETTO_MOCK_MAX_TENANT_BYTES", default_value = "8MiB", value_parser = parse_size)]
    pub max_tenant_bytes: usize,

    /// Tenants (API keys) kept at once; an idle one is forgotten, least recently used first.
    #[arg(long, env = "LIBRETTO_MOCK_MAX_TENANTS", default_value_t = 1000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_tenants: usize,
}

/// Flags of `libretto-sidecar serve`. The API key is never a flag: it comes from the
/// environment variable `LIBRETTO_API_KEY` or from `--api-key-file`.
#[derive(Debug, Clone, Args)]
#[command(after_help = SERVE_AFTER_HELP)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(
        long,
        env = "LIBRETTO_SIDECAR_LISTEN",
        default_value = "127.0.0.1:8787"
    )]
    pub listen: SocketAddr,

    /// Base URL of the Libretto API (http or https; a base path is allowed). Ignored with
    /// --mock.
    #[arg(
        long,
        env = "LIBRETTO_API_URL",
        default_value = "https://api.libretto.sh"
    )]
    pub upstream: String,

    /// Run the built-in mock in this process as the upstream, preloaded with the demo
    /// credentials, and use the demo tenant's key. Takes precedence over --upstream (so a
    /// LIBRETTO_API_URL set in the shell does not get in the way).
    #[arg(long, env = "LIBRETTO_SIDECAR_MOCK", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub mock: bool,

    /// File holding the upstream API key (instead of the LIBRETTO_API_KEY variable); watched
    /// for changes and re-read on SIGHUP. Default: none.
    #[arg(long, env = "LIBRETTO_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,

    /// How long an upstream call may take before the sidecar answers 504 (e.g. 30s, 500ms).
    #[arg(long, env = "LIBRETTO_SIDECAR_UPSTREAM_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// PEM file of CA certificates to trust for an https upstream, besides the public roots
    /// (for an upstream or TLS-intercepting proxy behind a private CA). Default: none.
    #[arg(long, env = "LIBRETTO_SIDECAR_UPSTREAM_CA_FILE")]
    pub upstream_ca_file: Option<PathBuf>,

    /// Largest request body on any route (bytes, or 512KiB, 1MiB): read whole where the sidecar
    /// looks in, streamed and cut at the limit elsewhere.
    #[arg(long, env = "LIBRETTO_SIDECAR_MAX_BODY", default_value = "1MiB", value_parser = parse_size)]
    pub max_body: usize,

    /// Memory for all request bodies held at once, across every connection and HTTP/2 stream
    /// (bytes, or 64MiB): a body read whole holds its bytes and the estimate of its parsed form;
    /// past it requests are answered 503 BODY_BUDGET_EXHAUSTED at once.
    #[arg(long, env = "LIBRETTO_SIDECAR_MAX_BODY_MEMORY", default_value = "64MiB", value_parser = parse_size)]
    pub max_body_memory: usize,

    /// How long a fetched credential is served from the cache.
    #[arg(long, env = "LIBRETTO_SIDECAR_CACHE_TTL", default_value = "60s", value_parser = parse_duration)]
    pub cache_ttl: Duration,

    /// How long "no such credential" is remembered.
    #[arg(long, env = "LIBRETTO_SIDECAR_NEGATIVE_TTL", default_value = "5s", value_parser = parse_duration)]
    pub negative_ttl: Duration,

    /// Most credentials kept in the cache at once (an entry weighs one unit per started KiB of
    /// its name and value, so this bounds the cache's bytes too).
    #[arg(
        long,
        env = "LIBRETTO_SIDECAR_CACHE_CAPACITY",
        default_value_t = 10_000
    )]
    pub cache_capacity: u64,

    /// Resolve placeholders in schedules/create and schedules/update when the schedule is
    /// saved (the values are then stored upstream) instead of refusing them.
    #[arg(long, env = "LIBRETTO_SIDECAR_RESOLVE_SCHEDULES", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub resolve_schedules: bool,

    /// Let credentials/get through (refused by default: apps use placeholders, not values).
    #[arg(long, env = "LIBRETTO_SIDECAR_ALLOW_CREDENTIAL_READS", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub allow_credential_reads: bool,

    /// Policy file (TOML, or JSON for a .json file): which workflows may use which credentials.
    /// Default: none (any workflow may use any credential).
    #[arg(long, env = "LIBRETTO_SIDECAR_POLICY")]
    pub policy: Option<PathBuf>,

    /// File holding the token every client must send in `x-sidecar-token`; re-read on SIGHUP.
    /// Default: none (local clients need no token).
    #[arg(long, env = "LIBRETTO_SIDECAR_CLIENT_TOKEN_FILE")]
    pub client_token_file: Option<PathBuf>,

    /// Allow listening on a non-loopback address without a client token.
    #[arg(long, env = "LIBRETTO_SIDECAR_ALLOW_REMOTE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub allow_remote: bool,

    /// Accept requests carrying X-Forwarded-For or Forwarded (relayed by another proxy).
    #[arg(long, env = "LIBRETTO_SIDECAR_ALLOW_FORWARDED", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub allow_forwarded: bool,

    /// Client connections served at once; more are answered 503.
    #[arg(long, env = "LIBRETTO_SIDECAR_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// How long a client may take to send a request's headers.
    #[arg(long, env = "LIBRETTO_SIDECAR_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// Largest request head accepted (bytes, or 64KiB; at least 8KiB); larger ones are answered
    /// 431 with an empty body.
    #[arg(long, env = "LIBRETTO_SIDECAR_MAX_HEADER_BYTES", default_value = "64KiB", value_parser = parse_header_size)]
    pub max_header_bytes: usize,

    /// Jobs launched through the sidecar whose params are remembered (for 6 hours), so that
    /// their echoes show what the app sent; a job weighs one unit per started KiB.
    #[arg(long, env = "LIBRETTO_SIDECAR_REMEMBER_JOBS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub remember_jobs: u64,

    /// Most bytes of secret patterns the scrubber holds (every learned value counted with
    /// each escaped form it matches); a new value past it is refused (503
    /// SECRET_BUDGET_EXHAUSTED) unless values unseen for 24 hours make room.
    #[arg(long, env = "LIBRETTO_SIDECAR_MAX_KNOWN_SECRET_BYTES", default_value = "4MiB", value_parser = parse_size)]
    pub max_known_secret_bytes: usize,

    /// Largest credential value (its strings and numbers) the scrubber learns; a job using a
    /// larger one is refused (422 CREDENTIAL_TOO_LARGE), never forwarded.
    #[arg(long, env = "LIBRETTO_SIDECAR_MAX_SECRET_VALUE_BYTES", default_value = "64KiB", value_parser = parse_size)]
    pub max_secret_value_bytes: usize,
    /// Most distinct credentials one request may name; a request naming more is refused 400
    /// TOO_MANY_CREDENTIALS before any lookup.
    #[arg(long, env = "LIBRETTO_SIDECAR_MAX_CREDENTIALS_PER_REQUEST", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_credentials_per_request: u32,

    /// Most credentials/get calls to the upstream in flight at once (and so upstream
    /// connections held by lookups); more lookups wait their turn.
    #[arg(long, env = "LIBRETTO_SIDECAR_MAX_CONCURRENT_LOOKUPS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_lookups: u32,

    /// A host name clients may use to reach the sidecar besides loopback names and the listen
    /// address (repeatable); any other `Host` is refused (DNS rebinding). Default: none.
    #[arg(
        long = "allowed-host",
        env = "LIBRETTO_SIDECAR_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// How long a client connection may stay open with no byte moving either way; keep it
    /// above --upstream-timeout. (A new connection's first byte is bounded by
    /// --header-read-timeout.)
    #[arg(long, env = "LIBRETTO_SIDECAR_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    // Operations: admin listener, warm-up, shutdown and outage behaviour.
    /// Address of the admin listener (GET /healthz, /readyz, /metrics); no secrets there.
    #[arg(
        long,
        env = "LIBRETTO_SIDECAR_ADMIN_LISTEN",
        default_value = "127.0.0.1:8789"
    )]
    pub admin_listen: SocketAddr,

    /// Credentials (comma-separated names) fetched into the cache at start-up; /readyz answers
    /// 503 until all of them are in. Default: none.
    #[arg(
        long,
        env = "LIBRETTO_SIDECAR_PREFETCH",
        value_delimiter = ',',
        value_name = "NAME,...",
        value_parser = parse_credential_name
    )]
    pub prefetch: Vec<String>,

    /// How long in-flight requests may take to finish after SIGTERM or SIGINT.
    #[arg(long, env = "LIBRETTO_SIDECAR_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// When a credential lookup fails (connect error, timeout or 5xx), serve a cached value that
    /// expired no longer ago than this, marked `x-libretto-sidecar-stale: 1`. Default: off.
    #[arg(long, env = "LIBRETTO_SIDECAR_STALE_IF_ERROR", value_parser = parse_duration, value_name = "DURATION")]
    pub stale_if_error: Option<Duration>,

    /// Learn every credential of the tenant (credentials/list, then each value) at start-up and
    /// every --learn-interval, so echoes of jobs launched before a restart are scrubbed; until
    /// the first pass is done /readyz answers 503 and such echoes are refused (NOT_READY).
    #[arg(long, env = "LIBRETTO_SIDECAR_LEARN_CREDENTIALS", default_value_t = true, action = ArgAction::Set, value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub learn_credentials: bool,

    /// How often the tenant's credentials are learned again after the first pass.
    #[arg(long, env = "LIBRETTO_SIDECAR_LEARN_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub learn_interval: Duration,

    /// Most credentials learned per pass; the rest are learned only when a job uses them.
    #[arg(long, env = "LIBRETTO_SIDECAR_LEARN_MAX", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
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

/// How long a mock job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobDuration {
    After(Duration),
    Never,
}

/// Parses `never` or a humantime duration (`2s`, `500ms`, `1m`).
pub fn parse_job_duration(text: &str) -> Result<JobDuration, String> {
    if text.trim().eq_ignore_ascii_case("never") {
        return Ok(JobDuration::Never);
    }
    parse_duration(text).map(JobDuration::After)
}

/// Parses one `--prefetch` name: trimmed, and held to the placeholder grammar's NAME (no `/`,
/// `{`, `}` or whitespace), so a name no placeholder could use is refused at start-up instead
/// of being retried for ever. An empty name (`a,,b`) is left for the caller to skip.
pub fn parse_credential_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name
        .chars()
        .any(|c| matches!(c, '/' | '{' | '}') || c.is_whitespace())
    {
        return Err(format!(
            "`{name}` is not a credential name (no `/`, `{{`, `}}` or whitespace)"
        ));
    }
    Ok(name.to_owned())
}

/// Parses a humantime duration such as `30s`, `250ms` or `5m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|err| format!("`{text}` is not a duration such as 30s, 250ms or 5m ({err})"))
}

/// Parses a byte size: a plain number of bytes, or a number with B, KB, KiB, MB, MiB, GB or GiB.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let number: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 1048576, 512KiB or 1MiB"))?;
    let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        other => {
            return Err(format!(
                "`{other}` is not a size unit (use B, KiB, MiB or GiB)"
            ))
        }
    };
    let size = number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if size == 0 {
        return Err("a size must be greater than zero".into());
    }
    Ok(size)
}

/// Parses `--max-header-bytes`: a size of at least
/// [`MIN_HEADER_BYTES`](crate::http::server::MIN_HEADER_BYTES), since the HTTP/1.1 server cannot read
/// with a smaller buffer and would silently raise a smaller value.
pub fn parse_header_size(text: &str) -> Result<usize, String> {
    let size = parse_size(text)?;
    if size < crate::http::server::MIN_HEADER_BYTES {
        return Err(format!(
            "`{text}` is too small: at least 8KiB: the HTTP/1.1 server's smallest read buffer"
        ));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_sizes_under_8_kib_are_refused() {
        assert_eq!(parse_header_size("8KiB"), Ok(8192));
        assert_eq!(parse_header_size("64KiB"), Ok(64 << 10));
        let refused = parse_header_size("8191").unwrap_err();
        assert!(refused.contains("at least 8KiB"), "{refused}");
        let err = Cli::try_parse_from(["libretto-sidecar", "serve", "--max-header-bytes", "4KiB"])
            .expect_err("a 4KiB head limit is refused");
        let text = err.to_string();
        assert!(
            text.contains("at least 8KiB: the HTTP/1.1 server's smallest read buffer"),
            "{text}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("1 parsec").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn job_durations() {
        assert_eq!(parse_job_duration("never"), Ok(JobDuration::Never));
        assert_eq!(
            parse_job_duration("2s"),
            Ok(JobDuration::After(Duration::from_secs(2)))
        );
        assert!(parse_job_duration("soon").is_err());
    }

    #[test]
    fn prefetch_names_follow_the_placeholder_grammar() {
        assert_eq!(parse_credential_name(" portal "), Ok("portal".into()));
        assert_eq!(parse_credential_name(""), Ok(String::new()));
        for bad in ["a/b", "{x}", "a b", "a}", "tab\tname"] {
            assert!(parse_credential_name(bad).is_err(), "{bad}");
        }
        assert!(
            Cli::try_parse_from(["libretto-sidecar", "serve", "--prefetch", "ok,a/b"]).is_err()
        );
    }

    #[test]
    fn switches_take_boolish_values_from_the_environment() {
        use clap::{CommandFactory, FromArgMatches};
        // Each switch read from a variable of this test's own, so no other test sees it.
        let switches = [
            ("mock", "LIBRETTO_CLI_TEST_MOCK"),
            ("resolve_schedules", "LIBRETTO_CLI_TEST_RESOLVE_SCHEDULES"),
            (
                "allow_credential_reads",
                "LIBRETTO_CLI_TEST_ALLOW_CREDENTIAL_READS",
            ),
            ("allow_remote", "LIBRETTO_CLI_TEST_ALLOW_REMOTE"),
            ("allow_forwarded", "LIBRETTO_CLI_TEST_ALLOW_FORWARDED"),
        ];
        for (id, var) in switches {
            let parse = |value: &str| {
                // clap reads the variable when the argument is built.
                std::env::set_var(var, value);
                let matches = Cli::command()
                    .mut_subcommand("serve", |serve| serve.mut_arg(id, |arg| arg.env(var)))
                    .try_get_matches_from(["libretto-sidecar", "serve"])
                    .ok()?;
                let Command::Serve(args) = Cli::from_arg_matches(&matches).ok()?.command else {
                    return None;
                };
                Some(match id {
                    "mock" => args.mock,
                    "resolve_schedules" => args.resolve_schedules,
                    "allow_credential_reads" => args.allow_credential_reads,
                    "allow_remote" => args.allow_remote,
                    _ => args.allow_forwarded,
                })
            };
            for on in ["1", "true", "yes", "on", "Y", "t"] {
                assert_eq!(parse(on), Some(true), "{id}={on}");
            }
            for off in ["0", "false", "no", "off", "n", "F"] {
                assert_eq!(parse(off), Some(false), "{id}={off}");
            }
            assert_eq!(parse("maybe"), None, "{id}");
            std::env::remove_var(var);
        }
    }

    #[test]
    fn subcommand_versions_name_the_program() {
        use clap::CommandFactory;
        let mut command = Cli::command();
        command.build();
        for sub in command
            .get_subcommands()
            .filter(|sub| sub.get_name() != "help")
        {
            assert_eq!(
                sub.render_version().trim(),
                format!("libretto-sidecar {}", env!("CARGO_PKG_VERSION"))
            );
        }
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

//! `mock`: the built-in Libretto API's flags, and how long its jobs run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse::*;

/// Flags of `libretto-sidecar mock`.
#[derive(Debug, Clone, Args)]
pub struct MockArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(
        long,
        help_heading = "Connections",
        value_name = "ADDR",
        env = "LIBRETTO_MOCK_LISTEN",
        default_value = "127.0.0.1:8788"
    )]
    pub listen: SocketAddr,

    /// Largest request body accepted (bytes, or with a unit: 512KiB, 1MiB).
    #[arg(long, help_heading = "Limits", value_name = "SIZE", env = "LIBRETTO_MOCK_MAX_BODY", default_value = "1MiB", value_parser = parse_size)]
    pub max_body: usize,

    /// JSON file of tenants and credentials to preload (format in docs/mock.md).
    #[arg(
        long,
        help_heading = "Data",
        value_name = "FILE",
        env = "LIBRETTO_MOCK_FIXTURES"
    )]
    pub fixtures: Option<PathBuf>,

    /// File holding the AES-SIV key that seals stored values (64 raw bytes or 128 hex
    /// characters); without it a random key is made for this process.
    #[arg(
        long,
        help_heading = "Data",
        value_name = "FILE",
        env = "LIBRETTO_MOCK_ENCRYPTION_KEY_FILE"
    )]
    pub encryption_key_file: Option<PathBuf>,

    /// How long a job runs before it completes (e.g. 2s, 500ms), or `never` to keep jobs
    /// running until cancelled or until their `timeout_seconds` (default 1800) runs out.
    #[arg(long, help_heading = "Jobs", value_name = "DURATION", env = "LIBRETTO_MOCK_JOB_DURATION", default_value = "2s", value_parser = parse_job_duration)]
    pub job_duration: JobDuration,

    /// Finished jobs kept in memory per tenant; older ones are dropped first.
    #[arg(long, help_heading = "Limits", value_name = "COUNT", env = "LIBRETTO_MOCK_MAX_JOBS", default_value_t = 10_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_jobs: usize,

    /// Attempts per webhook delivery, the first included; failures are retried with
    /// jittered exponential backoff.
    #[arg(long, help_heading = "Jobs", value_name = "COUNT", env = "LIBRETTO_MOCK_WEBHOOK_ATTEMPTS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub webhook_attempts: u32,

    /// Bytes all tenants' state may take together (jobs with their params and logs,
    /// credentials, webhooks, schedules); finished jobs are dropped oldest first to make room.
    #[arg(long, help_heading = "Limits", value_name = "SIZE", env = "LIBRETTO_MOCK_MAX_MEMORY", default_value = "32MiB", value_parser = parse_size)]
    pub max_memory: usize,

    /// Bytes one tenant's state may take; its oldest finished jobs are dropped first.
    #[arg(long, help_heading = "Limits", value_name = "SIZE", env = "LIBRETTO_MOCK_MAX_TENANT_BYTES", default_value = "8MiB", value_parser = parse_size)]
    pub max_tenant_bytes: usize,

    /// Tenants (API keys) kept at once; an idle one is forgotten, least recently used first.
    #[arg(long, help_heading = "Limits", value_name = "COUNT", env = "LIBRETTO_MOCK_MAX_TENANTS", default_value_t = 1000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_tenants: usize,
}

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

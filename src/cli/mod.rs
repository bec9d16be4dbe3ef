//! The command line: subcommands and flags, parsed once at start-up.
//!
//! Each flag that an operator may want to set from the environment names its variable, so
//! `--help` documents flag, variable and default in one place. Values are checked here, so a
//! bad flag stops the process with a clear message before anything listens.

mod check;
#[cfg(feature = "mock")]
mod mock;
mod parse;
mod serve;

pub use check::CheckArgs;
#[cfg(feature = "mock")]
pub use mock::{parse_job_duration, JobDuration, MockArgs};
pub use parse::{parse_credential_name, parse_duration, parse_header_size, parse_size};
pub use serve::ServeArgs;

use clap::{Parser, Subcommand, ValueEnum};

/// A sidecar that fills Libretto credential placeholders into jobs, and an offline mock of the
/// Libretto API.
#[derive(Debug, Parser)]
#[command(name = "libretto-sidecar", version, about, propagate_version = true)]
pub struct Cli {
    /// Log line format; the level filter comes from RUST_LOG (default `info`).
    #[arg(long, global = true, help_heading = "Operations", value_name = "FORMAT", env = "LIBRETTO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
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
    #[cfg(feature = "mock")]
    #[command(display_name = "libretto-sidecar")]
    Mock(MockArgs),
    /// Run the sidecar: fill credential placeholders into jobs and forward them upstream.
    #[command(display_name = "libretto-sidecar")]
    Serve(Box<ServeArgs>),
    /// Lint a jobs/create body offline: list its placeholders, report every error (exit 1).
    #[command(display_name = "libretto-sidecar")]
    Check(CheckArgs),
}

#[cfg(test)]
mod tests;

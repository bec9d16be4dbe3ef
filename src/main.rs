//! The `libretto-sidecar` binary: parses the command line and runs the library.

use std::process::ExitCode;

use clap::Parser;
use libretto_sidecar::cli::{Cli, Command};

/// mimalloc: per-thread free lists, so a request's many small allocations (headers, JSON
/// values, buffers) neither contend nor fragment as with the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held to the end of `main`: dropping it writes out the log lines still queued.
    let _log_flush = libretto_sidecar::runtime::logging::init(cli.log_format);
    let result: Result<(), Failure> = match cli.command {
        #[cfg(feature = "mock")]
        Command::Mock(args) => libretto_sidecar::mock::run(args)
            .await
            .map_err(Failure::from),
        Command::Check(args) => return ExitCode::from(libretto_sidecar::check::run(&args)),
        Command::Serve(args) => libretto_sidecar::sidecar::run(*args)
            .await
            .map_err(Failure::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            libretto_sidecar::runtime::logging::report_fatal(cli.log_format, err.as_ref());
            ExitCode::FAILURE
        }
    }
}

//! The `libretto-sidecar` binary: parses the command line and runs the library.

use std::process::ExitCode;

use clap::Parser;
use libretto_sidecar::cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    libretto_sidecar::logging::init(cli.log_format);
    match cli.command {
        Command::Mock(args) => libretto_sidecar::mock::run(args).await?,
        Command::Check(args) => return Ok(ExitCode::from(libretto_sidecar::check::run(&args))),
        Command::Serve(args) => libretto_sidecar::sidecar::run(*args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

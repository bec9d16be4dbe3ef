//! The `libretto-sidecar` binary: parses the command line and runs the library.

use clap::Parser;
use libretto_sidecar::cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    libretto_sidecar::logging::init(cli.log_format);
    match cli.command {
        Command::Mock(args) => libretto_sidecar::mock::run(args).await?,
    }
    Ok(())
}

//! The `libretto-sidecar` binary: parses the command line and runs the library.

use clap::Parser;
use libretto_sidecar::cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    libretto_sidecar::logging::init(cli.log_format);
    match cli.command {
        Command::Mock(_args) => anyhow::bail!("the mock lands with the next change"),
        Command::Check(args) => {
            let code = libretto_sidecar::check::run(&args);
            if code != 0 {
                std::process::exit(code);
            }
        }
    }
    Ok(())
}

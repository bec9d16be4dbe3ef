//! `check`: the job bodies to lint.

use clap::Args;

/// Arguments of `libretto-sidecar check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The body to check (enveloped `{"json": ...}` or bare): a file, or `-` for stdin.
    #[arg(default_value = "-")]
    pub input: String,
}

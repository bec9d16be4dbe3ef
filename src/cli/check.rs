//! `check`: the job bodies to lint, and how to report on them.

use clap::{Args, ValueEnum};

/// Arguments of `libretto-sidecar check`.
#[derive(Debug, Clone, Args)]
#[command(after_help = CHECK_AFTER_HELP)]
pub struct CheckArgs {
    /// The bodies to check (enveloped `{"json": ...}` or bare): files, globs such as
    /// 'jobs/**/*.json' (quoted, so the shell leaves them to `check`), or `-` for stdin.
    #[arg(value_name = "FILE|GLOB|-", default_value = "-")]
    pub inputs: Vec<String>,

    /// How to report: `text` (one line per item), `json` (one document for every file) or
    /// `github` (GitHub Actions annotations, shown inline on the pull request).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
}

/// The report formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    Github,
}

/// The end of `check --help`: globs and exit codes.
const CHECK_AFTER_HELP: &str = "\
A glob is any input holding *, ?, [ or {: `*` stays within a directory, `**` crosses them, and
the files it matches are checked in name order; a glob that matches no file is an error, as is
a file that cannot be read. Several inputs naming the same file check it once.

Exit status: 0 every body is clean, 1 at least one body has an error, 2 a usage error or an
input that names no readable body (a missing or unreadable file, text that is not UTF-8, a bad
glob or one matching no file); the readable inputs are still reported.";

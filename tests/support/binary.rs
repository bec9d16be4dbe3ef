//! Running the compiled binary: a command without the test's own `LIBRETTO_*` and `RUST_LOG`
//! variables, the `listening on` line it prints first, and a start that must be refused.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// The `libretto-sidecar` binary cargo built for these tests.
pub const BINARY: &str = env!("CARGO_BIN_EXE_libretto-sidecar");

/// How long the binary may take to print its listening line or to refuse to start.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The binary as a blocking command, with no `LIBRETTO_*` or `RUST_LOG` variable inherited
/// from the environment the tests run in.
pub fn std_command() -> std::process::Command {
    let mut command = std::process::Command::new(BINARY);
    for (var, _) in std::env::vars_os() {
        if var
            .to_str()
            .is_some_and(|var| var.starts_with("LIBRETTO_") || var == "RUST_LOG")
        {
            command.env_remove(var);
        }
    }
    command
}

/// [`std_command`] as a tokio command, killed when dropped.
pub fn command() -> Command {
    let mut command = Command::from(std_command());
    command.kill_on_drop(true);
    command
}

/// `serve --mock` on ephemeral ports with `extra` flags, stdout piped (for [`listening_line`])
/// and stderr dropped; the caller may add to it before spawning.
pub fn serve_mock(extra: &[&str]) -> Command {
    let mut command = command();
    command
        .args(["serve", "--mock"])
        .args(extra)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    command
}

/// Reads a started child's first stdout line, `listening on http://IP:PORT`; returns the base
/// URL and the rest of stdout. Fails the test if the line does not come within
/// [`START_TIMEOUT`] or reads otherwise.
pub async fn listening_line(child: &mut Child) -> (String, BufReader<ChildStdout>) {
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    tokio::time::timeout(START_TIMEOUT, stdout.read_line(&mut line))
        .await
        .expect("the listening line arrives in time")
        .expect("stdout is readable");
    let base = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    assert!(
        base.starts_with("http://") && !base.ends_with(":0"),
        "{base}"
    );
    (base.to_owned(), stdout)
}

/// The base URL from a started child's listening line (see [`listening_line`]).
pub async fn listening_base(child: &mut Child) -> String {
    listening_line(child).await.0
}

/// Runs a command that must refuse to start: it exits unsuccessfully within
/// [`START_TIMEOUT`] without printing a listening line. Returns its stderr.
pub async fn refused_start(command: &mut Command) -> String {
    let output = tokio::time::timeout(START_TIMEOUT, command.output())
        .await
        .expect("the binary exits in time")
        .expect("the binary runs");
    assert!(!output.status.success(), "it started: {command:?}");
    assert!(output.stdout.is_empty(), "nothing listened");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

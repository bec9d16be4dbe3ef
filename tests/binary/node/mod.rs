//! The Node scripts in `tests/node/`, run with `node` (20 or newer, for the built-in `fetch`):
//! the seed's example against the mock ([`seed`]), the same flow with placeholders through the
//! sidecar ([`sidecar`]), and README's webhook receiver verifying the mock's deliveries
//! ([`receiver`]).

mod orpc_client;
mod receiver;
mod seed;
mod sidecar;

use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

/// `node <script>`, its stdout and stderr piped, killed when dropped.
fn node(script: &str) -> Command {
    let mut command = Command::new("node");
    command
        .arg(script)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Waits at most 30 s for `what` (the script run by `child`) to exit successfully; returns its
/// stdout.
async fn succeeds(child: Child, what: &str) -> String {
    let output: Output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} finishes within 30s"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    stdout.into_owned()
}

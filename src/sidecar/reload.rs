//! SIGHUP: the API key file and the client token file read again, each kept as it was when
//! the new one cannot be used.

use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::sidecar::guard::access::ClientToken;
use crate::sidecar::upstream::{KeyReloadError, Upstream};

/// Re-reads the API key file and the client token file on every SIGHUP. The new key is used
/// from the next upstream call on, and requests in flight keep the one they started with; a
/// file that cannot be read leaves the old value in force.
pub(super) fn spawn_reload_on_sighup(
    upstream: Upstream,
    token: ClientToken,
) -> Option<JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(hangup) => hangup,
            Err(err) => {
                warn!(error = %err, "SIGHUP cannot be handled; key and token files will not be re-read on it");
                return None;
            }
        };
        Some(tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                match upstream.reload_key().await {
                    Ok(changed) => info!(changed, "API key file re-read on SIGHUP"),
                    Err(KeyReloadError::NoFile) => {}
                    Err(err) => {
                        warn!(error = %err, "API key not re-read on SIGHUP; keeping the current one")
                    }
                }
                if token.is_configured() {
                    match token.reload() {
                        Ok(()) => info!("Client token re-read on SIGHUP"),
                        Err(err) => {
                            warn!(error = %err, "Client token not re-read on SIGHUP; keeping the current one")
                        }
                    }
                }
            }
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = (upstream, token);
        None
    }
}

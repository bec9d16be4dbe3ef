//! The sidecar's API key: read from its file without blocking the runtime, re-read on SIGHUP,
//! on an upstream 401 and whenever the file's content changes (polled, so a Kubernetes Secret
//! update is picked up where no signal can be sent).

use std::time::Duration;

use http::HeaderValue;
use tracing::{debug, info, warn};

use super::error::KeyReloadError;
use super::Upstream;
use crate::secret::Secret;

/// How often the API key file is checked for a new key.
pub const KEY_FILE_POLL: Duration = Duration::from_secs(5);

impl Upstream {
    /// Re-reads the API key file and uses its key from the next request on. `Ok(true)` when
    /// the key changed. On any error the key in use is kept. The file is read without
    /// blocking the runtime.
    pub async fn reload_key(&self) -> Result<bool, KeyReloadError> {
        let path = self.inner.key_file.as_ref().ok_or(KeyReloadError::NoFile)?;
        let key = read_key_file(path).await?;
        let mut current = self.inner.api_key.write();
        let changed = *current != key;
        *current = key;
        Ok(changed)
    }

    /// Checks the API key file every `every` and swaps the key in when the file's content
    /// changed (content, not modification time: a Kubernetes Secret volume swaps a symlink).
    /// `None` when the key did not come from a file.
    pub fn spawn_key_watch(&self, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        self.inner.key_file.as_ref()?;
        let upstream = self.clone();
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            // Warn once when the file turns unreadable, not on every tick.
            let mut failing = false;
            loop {
                ticks.tick().await;
                match upstream.reload_key().await {
                    Ok(changed) => {
                        failing = false;
                        if changed {
                            info!("API key file changed; using the new key");
                        }
                    }
                    Err(err) if !failing => {
                        failing = true;
                        warn!(error = %err, "API key file could not be checked; keeping the current key");
                    }
                    Err(err) => debug!(error = %err, "API key file still unreadable"),
                }
            }
        }))
    }

    /// The key in use, to tell later whether it changed.
    pub(super) fn current_key(&self) -> Secret {
        self.inner.api_key.read().clone()
    }
}

/// Reads an API key file without blocking the runtime: not empty, and sendable as a header
/// value.
async fn read_key_file(path: &std::path::Path) -> Result<Secret, KeyReloadError> {
    let key = Secret::read_file(path)
        .await
        .map_err(|source| KeyReloadError::Read {
            path: path.to_owned(),
            source,
        })?;
    if key.is_empty() {
        return Err(KeyReloadError::Empty(path.to_owned()));
    }
    HeaderValue::from_bytes(key.expose()).map_err(|_| KeyReloadError::Header(path.to_owned()))?;
    Ok(key)
}

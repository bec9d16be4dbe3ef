//! `--prefetch`: the named credentials fetched (and retried with backoff) before `/readyz`
//! turns ready.

use std::time::Duration;

use futures_util::future::join_all;
use tracing::{info, info_span, warn, Instrument};

use crate::runtime::backoff::Backoff;
use crate::sidecar::admin::Readiness;
use crate::sidecar::credentials::Credentials;

/// The pause between prefetch attempts of one credential.
const PREFETCH_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));

/// Fetches every named credential into the cache, retrying each until it is found, then
/// marks the sidecar ready. Logs names and errors, never values.
pub(super) async fn prefetch(credentials: Credentials, names: Vec<String>, readiness: Readiness) {
    let fetches = names.iter().map(|name| {
        let credentials = credentials.clone();
        async move {
            let mut attempt = 0;
            loop {
                match credentials.get(name, None).await {
                    Ok((Some(_), _)) => {
                        info!(credential = %name, "Credential prefetched");
                        return;
                    }
                    Ok((None, _)) => {
                        warn!(credential = %name, attempt, "Prefetch: no such credential; retrying");
                    }
                    Err(err) => {
                        warn!(credential = %name, attempt, error = %err, "Prefetch failed; retrying");
                    }
                }
                tokio::time::sleep(PREFETCH_BACKOFF.delay(attempt)).await;
                attempt = attempt.saturating_add(1);
            }
        }
    });
    join_all(fetches).instrument(info_span!("prefetch")).await;
    readiness.set_warmed();
    info!(credentials = names.len(), "Prefetch finished; ready");
}

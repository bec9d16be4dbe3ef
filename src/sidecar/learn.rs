//! Learning the tenant's credentials, so that a restarted sidecar scrubs the echoes of jobs
//! launched before it started.
//!
//! The known secrets are in memory: after a restart (or a crash) the sidecar knows no value
//! until it fetches one, while upstream keeps echoing the real values of older jobs. So at
//! start-up, and again every `--learn-interval`, the sidecar lists the tenant's credentials
//! (`credentials/list`, names only) and fetches each value through the [`Credentials`] handle,
//! which teaches every fetched value to the known secrets. At most [`CONCURRENCY`] fetches run
//! at once and at most `--learn-max` credentials are learned per pass. Failures are logged
//! (names and errors, never values) and retried with backoff; nothing here ends the process.
//!
//! Until the first pass has learned every listed credential, `/readyz` answers 503 and echoes
//! of jobs this sidecar did not launch are withheld (see
//! [`crate::sidecar::answer::withhold`]). A credential deleted upstream stays known.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tracing::{info, info_span, warn, Instrument};

use crate::runtime::backoff::Backoff;
use crate::sidecar::answer::withhold::Learning;
use crate::sidecar::credentials::Credentials;

/// How often the credentials are learned again, by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Most credentials learned per pass, by default.
pub const DEFAULT_MAX: usize = 1000;

/// The shortest pause between passes (a zero `--learn-interval` is read as this).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Fetches run at once.
pub const CONCURRENCY: usize = 4;

/// Tries of one credential within a pass.
const FETCH_ATTEMPTS: u32 = 3;

/// The pause between tries of one credential.
const FETCH_BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));

/// The pause between first passes that did not complete.
const PASS_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));

/// How learning runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LearnConfig {
    /// The pause between passes once the first has completed.
    pub interval: Duration,
    /// Most credentials learned per pass.
    pub max: usize,
}

impl Default for LearnConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            max: DEFAULT_MAX,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Credentials fetched (or answered by the cache, which learned them when it filled).
    pub learned: usize,
    /// Listed, then gone when fetched.
    pub gone: usize,
    /// Still failing after every try.
    pub failed: usize,
    /// More credentials listed than `max` let in.
    pub truncated: bool,
}

/// Runs the first pass until it completes (then marks `learning` complete), then one pass per
/// interval, for ever.
pub async fn run(credentials: Credentials, config: LearnConfig, learning: Learning) {
    let span = info_span!("learn");
    async move {
        let mut attempt = 0;
        loop {
            match pass(&credentials, config.max).await {
                Some(done) if done.failed == 0 => {
                    info!(
                        learned = done.learned,
                        gone = done.gone,
                        truncated = done.truncated,
                        "Credentials learned; echoes of older jobs are scrubbed"
                    );
                    break;
                }
                Some(done) => {
                    warn!(
                        failed = done.failed,
                        attempt, "Learning incomplete; retrying"
                    );
                }
                None => warn!(attempt, "Learning could not list the credentials; retrying"),
            }
            tokio::time::sleep(PASS_BACKOFF.delay(attempt)).await;
            attempt = attempt.saturating_add(1);
        }
        learning.set_complete();
        loop {
            tokio::time::sleep(config.interval.max(MIN_INTERVAL)).await;
            if let Some(done) = pass(&credentials, config.max).await {
                info!(
                    learned = done.learned,
                    gone = done.gone,
                    failed = done.failed,
                    truncated = done.truncated,
                    "Credentials learned again"
                );
            }
        }
    }
    .instrument(span)
    .await;
}

/// One pass: lists the credentials, then fetches each (at most [`CONCURRENCY`] at once).
/// `None` when the list could not be read.
pub async fn pass(credentials: &Credentials, max: usize) -> Option<Pass> {
    let listed = match credentials.upstream().list_credentials(max).await {
        Ok(listed) => listed,
        Err(err) => {
            warn!(error = %err, "Listing the credentials failed");
            return None;
        }
    };
    if listed.truncated {
        warn!(
            max,
            "More credentials than --learn-max: the rest are learned only when a job uses them"
        );
    }
    let mut done = Pass {
        truncated: listed.truncated,
        ..Pass::default()
    };
    let mut fetches = stream::iter(listed.names)
        .map(|name| async move {
            let outcome = fetch(credentials, &name).await;
            (name, outcome)
        })
        .buffer_unordered(CONCURRENCY);
    while let Some((_, outcome)) = fetches.next().await {
        match outcome {
            Outcome::Learned => done.learned += 1,
            Outcome::Gone => done.gone += 1,
            Outcome::Failed => done.failed += 1,
        }
    }
    Some(done)
}

enum Outcome {
    Learned,
    Gone,
    Failed,
}

/// Fetches one credential through the cache, retried with backoff.
async fn fetch(credentials: &Credentials, name: &str) -> Outcome {
    let mut attempt = 0;
    loop {
        match credentials.get(name, None).await {
            Ok((Some(_), _)) => return Outcome::Learned,
            Ok((None, _)) => return Outcome::Gone,
            Err(err) => {
                attempt += 1;
                if attempt >= FETCH_ATTEMPTS {
                    warn!(credential = %name, error = %err, "Learning a credential failed");
                    return Outcome::Failed;
                }
                tokio::time::sleep(FETCH_BACKOFF.delay(attempt - 1)).await;
            }
        }
    }
}

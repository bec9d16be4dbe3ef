//! The mock's configuration ([`MockConfig`], from the command line or set by tests) and why it
//! could not start ([`MockError`]). Both are public through `crate::mock`.

use std::path::PathBuf;
use std::time::Duration;

use super::engine::delivery::DeliveryConfig;
use super::fixtures::FixtureError;
use super::state::budget::MemoryLimits;
use crate::cli::{JobDuration, MockArgs};
use crate::secret::seal::{SealError, Sealer};
use crate::secret::Secret;

/// Why the mock could not start.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("could not read the encryption key file {path}: {source}")]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the encryption key in {path} is unusable: {source}")]
    Key { path: PathBuf, source: SealError },
    #[error("could not read the fixtures file {path}: {source}")]
    ReadFixtures {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Fixtures(#[from] FixtureError),
    #[error("a fixture credential could not be stored: {0}")]
    Store(String),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("could not announce the listening address: {0}")]
    Announce(std::io::Error),
}

/// How the mock behaves.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
    /// How long a job runs before it ends.
    pub job_duration: JobDuration,
    /// Finished jobs kept per tenant; each tenant's older ones are dropped first.
    pub max_jobs: usize,
    /// Seals stored credential values.
    pub sealer: Sealer,
    /// How long a job stays `queued` before it runs.
    pub start_delay: Duration,
    /// How job results are delivered to webhooks and callbacks (attempts, backoff, bounds).
    pub delivery: DeliveryConfig,
    /// A schedule does not fire while its tenant has this many queued or running jobs.
    pub schedule_live_job_limit: usize,
    /// How many bytes and tenants the mock's state may take (see `state/budget.rs`).
    pub memory: MemoryLimits,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            max_body: 1 << 20,
            job_duration: JobDuration::After(Duration::from_secs(2)),
            max_jobs: 10_000,
            sealer: Sealer::random(),
            start_delay: Duration::from_millis(100),
            delivery: DeliveryConfig::default(),
            schedule_live_job_limit: 10_000,
            memory: MemoryLimits::default(),
        }
    }
}

impl MockConfig {
    /// The configuration the command line asks for; reads the encryption key file if given.
    pub(crate) fn from_args(args: &MockArgs) -> Result<Self, MockError> {
        let sealer = match &args.encryption_key_file {
            Some(path) => {
                let material = Secret::from_file(path).map_err(|source| MockError::ReadKey {
                    path: path.clone(),
                    source,
                })?;
                Sealer::from_key_material(&material).map_err(|source| MockError::Key {
                    path: path.clone(),
                    source,
                })?
            }
            None => Sealer::random(),
        };
        Ok(Self {
            max_body: args.max_body,
            job_duration: args.job_duration,
            max_jobs: args.max_jobs,
            sealer,
            memory: MemoryLimits {
                max_memory: args.max_memory,
                max_tenant_bytes: args.max_tenant_bytes,
                max_tenants: args.max_tenants,
            },
            delivery: DeliveryConfig {
                attempts: args.webhook_attempts,
                ..DeliveryConfig::default()
            },
            ..Self::default()
        })
    }
}

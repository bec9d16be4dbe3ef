//! An in-memory mock of the Libretto API (`libretto-sidecar mock`), for offline work and tests.
//!
//! It serves the credentials, jobs, logs, webhooks and schedules routes with upstream's wire
//! format (see `router.rs` for the checks every request passes), keeps every tenant apart by
//! the SHA-256 of its API key, stores credential values and signing secrets sealed with
//! AES-SIV, and runs jobs on timers so a client sees them go `queued` → `running` →
//! `completed`. A job's end is delivered, signed, to its callback or the tenant's webhooks
//! (`callbacks.rs`, `delivery.rs`), and schedules launch jobs on cron (`scheduler.rs`). Route
//! groups upstream has but the mock does not (sessions, deployments, workflows) answer 501.
//!
//! Conventions beyond upstream's public contract, chosen by this project:
//! - A workflow whose name starts with `fail` ends `failed` with an `error` and a
//!   `mapped_stack`; one starting with `echo` logs its `params` as compact JSON.
//! - A job references credentials through the `x-libretto-credential-ids` header
//!   (comma-separated UUIDs) and the `credential_id` field; a reference to a credential that
//!   does not exist is 409 and creates no job, and a referenced credential cannot be deleted
//!   (409, `data.job_ids`) while a queued or running job uses it.
//! - A repeated `nonce` from one tenant answers with the first job instead of creating one.
//! - Each tenant keeps at most `max_jobs` finished jobs; beyond that its oldest are dropped,
//!   with their logs and nonces. Another tenant's jobs never push them out.
//! - A job that runs longer than its `timeout_seconds` (default 1800) ends `failed` with
//!   "Job timed out after Ns".
//! - Requests that only read (or name what cannot exist yet) keep no state for a new key.
//! - `jobs/list` is newest first; `logs/list` is oldest first; both page with opaque tokens.
//!
//! # Mock fixtures
//!
//! `--fixtures FILE` preloads tenants and their credentials:
//!
//! ```json
//! {"tenants": [{"api_key": "...", "credentials": [{"name": "...", "value": <any JSON>}]}]}
//! ```
//!
//! Unknown keys are refused; names are 1 to 200 characters, not blank and unique per tenant,
//! and each `api_key` appears once. The demo file embedded as [`DEMO_FIXTURES`] holds the
//! tenant `demo-api-key`.

// Route handlers return `Result<_, ApiError>`; an error is built at most once per request and
// answered at once, so its size (the envelope's fields) costs nothing worth boxing for.

#[path = "engine/callbacks.rs"]
mod callbacks;
#[path = "state/credentials.rs"]
mod credentials;
mod cron;
mod cursor;
#[path = "engine/delivery.rs"]
mod delivery;
mod fixtures;
mod input;
#[path = "state/job_store.rs"]
mod job_store;
#[path = "routes/jobs.rs"]
mod jobs;
#[path = "state/launch.rs"]
mod launch;
#[path = "state/logs.rs"]
mod logs;
mod router;
#[path = "engine/scheduler.rs"]
mod scheduler;
#[path = "state/schedules.rs"]
mod schedules;
#[path = "engine/signature.rs"]
mod signature;
#[path = "state/tenant.rs"]
mod tenant;
#[path = "state/webhooks.rs"]
mod webhooks;

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use dashmap::DashMap;
use http::{Request, Response};
use hyper::body::Incoming;
use parking_lot::Mutex;
use tracing::info;

use crate::body::Body;
use crate::cli::{JobDuration, MockArgs};
use crate::seal::{SealError, Sealer};
use crate::secret::Secret;
use crate::server::{self, Handler, ServerOptions};

use callbacks::DeliveryTag;
pub use cron::{next_fire_after, CronSpecError};
use delivery::Deliverer;
pub use delivery::DeliveryConfig;
pub use fixtures::FixtureError;
pub use job_store::CREDENTIAL_IDS_HEADER;
use scheduler::SchedulerState;
pub use signature::{
    sign as sign_webhook, verify as verify_webhook, EVENT_TYPE_HEADER, SIGNATURE_HEADER,
};
use tenant::{Tenant, TenantId};

/// The demo fixtures, embedded so `serve --mock` works without files.
pub const DEMO_FIXTURES: &str = include_str!("../../fixtures/demo.json");

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
        }
    }
}

impl MockConfig {
    /// The configuration the command line asks for; reads the encryption key file if given.
    pub fn from_args(args: &MockArgs) -> Result<Self, MockError> {
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
            delivery: DeliveryConfig {
                attempts: args.webhook_attempts,
                ..DeliveryConfig::default()
            },
            ..Self::default()
        })
    }
}

pub(crate) struct Inner {
    config: MockConfig,
    tenants: DashMap<TenantId, Arc<Mutex<Tenant>>>,
    /// Sends job results to webhooks and callbacks.
    deliverer: Deliverer<DeliveryTag>,
    scheduler: SchedulerState,
}

/// The mock: a cheap handle to shared state, and the [`Handler`] that serves it.
#[derive(Clone)]
pub struct Mock {
    inner: Arc<Inner>,
}

impl Mock {
    pub fn new(config: MockConfig) -> Self {
        Self {
            inner: Arc::new_cyclic(|weak| Inner {
                deliverer: callbacks::deliverer(config.delivery, weak.clone()),
                scheduler: SchedulerState::default(),
                config,
                tenants: DashMap::new(),
            }),
        }
    }

    /// Preloads tenants' credentials from fixtures text (format in the module docs). An
    /// existing credential of the same name is overwritten.
    pub fn load_fixtures(&self, json_text: &str) -> Result<(), MockError> {
        let fixtures = fixtures::parse(json_text)?;
        for fixture in &fixtures.tenants {
            let tenant = self.tenant(&TenantId::from_api_key(fixture.api_key.as_bytes()));
            let mut tenant = tenant.lock();
            for credential in &fixture.credentials {
                let seq = tenant.next_seq();
                tenant
                    .credentials
                    .upsert(seq, &credential.name, &credential.value)
                    .map_err(|err| MockError::Store(err.to_string()))?;
            }
        }
        Ok(())
    }

    fn max_body(&self) -> usize {
        self.inner.config.max_body
    }

    /// The tenant's state, created on first use. The map's guard is released before the
    /// caller locks the tenant.
    fn tenant(&self, id: &TenantId) -> Arc<Mutex<Tenant>> {
        if let Some(existing) = self.existing_tenant(id) {
            return existing;
        }
        self.inner
            .tenants
            .entry(id.clone())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Tenant::new(
                    id.clone(),
                    self.inner.config.sealer.clone(),
                )))
            })
            .clone()
    }

    /// The tenant's state for a route that may answer without storing anything: the existing
    /// tenant, or a fresh empty one that is not kept. A request with a new key that only reads
    /// (or names something that cannot exist yet) answers as for an empty tenant and leaves no
    /// trace, so memory grows only with tenants that store something.
    fn tenant_or_empty(&self, id: &TenantId) -> Arc<Mutex<Tenant>> {
        self.existing_tenant(id).unwrap_or_else(|| {
            Arc::new(Mutex::new(Tenant::new(
                id.clone(),
                self.inner.config.sealer.clone(),
            )))
        })
    }

    /// How many tenants the mock keeps state for.
    pub fn tenant_count(&self) -> usize {
        self.inner.tenants.len()
    }

    fn existing_tenant(&self, id: &TenantId) -> Option<Arc<Mutex<Tenant>>> {
        self.inner
            .tenants
            .get(id)
            .map(|entry| entry.value().clone())
    }

    fn downgrade(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    fn upgrade(weak: &Weak<Inner>) -> Option<Self> {
        weak.upgrade().map(|inner| Self { inner })
    }
}

impl Handler for Mock {
    fn call(
        &self,
        request: Request<Incoming>,
    ) -> impl std::future::Future<Output = Response<Body>> + Send {
        router::handle(self.clone(), request)
    }
}

/// `libretto-sidecar mock`: binds, prints `listening on http://IP:PORT` to stdout, and serves
/// until the process is asked to stop.
pub async fn run(args: MockArgs) -> Result<(), MockError> {
    if let Err(err) = crate::hardening::disable_core_dumps() {
        tracing::warn!(error = %err, "Core dumps could not be disabled");
    }
    let mock = Mock::new(MockConfig::from_args(&args)?);
    if let Some(path) = &args.fixtures {
        let text = std::fs::read_to_string(path).map_err(|source| MockError::ReadFixtures {
            path: path.clone(),
            source,
        })?;
        mock.load_fixtures(&text)?;
    }
    let listener = server::bind(args.listen)
        .await
        .map_err(|source| MockError::Bind {
            addr: args.listen,
            source,
        })?;
    let line = server::listening_line(&listener).map_err(MockError::Announce)?;
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}").map_err(MockError::Announce)?;
        stdout.flush().map_err(MockError::Announce)?;
    }
    info!(addr = %args.listen, "Mock serving");
    server::serve(
        listener,
        mock,
        ServerOptions::default(),
        crate::shutdown::signal(),
    )
    .await;
    Ok(())
}

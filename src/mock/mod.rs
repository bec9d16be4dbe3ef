//! An in-memory mock of the Libretto API (`libretto-sidecar mock`), for offline work and tests.
//!
//! It serves the credentials, jobs, logs, webhooks and schedules routes with upstream's wire
//! format (see `router.rs` for the checks every request passes), keeps every tenant apart by
//! the SHA-256 of its API key, stores credential values and signing secrets sealed with
//! AES-SIV, and runs jobs on timers so a client sees them go `queued` → `running` →
//! `completed`. A job's end is delivered, signed, to its callback or the tenant's webhooks
//! (`engine/callbacks.rs`, `engine/delivery.rs`), and schedules launch jobs on cron
//! (`engine/scheduler.rs`). Route groups upstream has but the mock does not (sessions,
//! deployments, workflows) answer 501.
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
//!   with their logs and nonces. Another tenant's jobs never push them out by count.
//! - The state is bounded in bytes (`--max-memory`, `--max-tenant-bytes`) and in tenants
//!   (`--max-tenants`): finished jobs are dropped oldest first to make room, idle tenants
//!   least recently used first; a record that still does not fit is refused (413, 409 or
//!   503; see `state/budget.rs`).
//! - A job that runs longer than its `timeout_seconds` (default 1800) ends `failed` with
//!   "Job timed out after Ns".
//! - Requests that only read (or name what cannot exist yet) keep no state for a new key.
//! - `jobs/list` is newest first; `logs/list` is oldest first; both page with opaque tokens.
//!
//! # Layout
//!
//! - `mod.rs` (this file): the public [`Mock`], [`run`] and the public re-exports;
//!   `config.rs`: [`MockConfig`] and [`MockError`].
//! - `router.rs`: the route table and the checks every request passes, then the handler.
//! - `routes/`: one file per route group (credentials, jobs, logs, webhooks, schedules). A
//!   handler parses its input, acts on the state under the tenant's lock, starts what the
//!   engine must do next, and shapes upstream's answer.
//! - `state/`: what each tenant owns and the registry of tenants, one store per kind of
//!   record, and a job's lifecycle transitions. No waiting, sending or spawning.
//! - `engine/`: what happens in time: the shared core the routes and timers hold, job timers,
//!   result callbacks, the delivery queue and its signatures, and the scheduler.
//! - Leaves used by several layers: `input.rs` (zod-like input checks, web URLs, launch
//!   options), `cursor.rs` (paging tokens), `cron.rs` (cron expressions and zones) and
//!   `fixtures.rs` (preloaded tenants).
//!
//! Dependencies point one way: `mod.rs` → `router.rs` → `routes/` → `engine/` → `state/` →
//! leaves. Routes may use the engine and the state; the engine may use the state; the state
//! uses neither, and a job's end travels up as a transition's result, which the engine
//! dispatches, never as a call from the state into the engine.
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

mod config;
mod cron;
mod cursor;
mod engine;
mod fixtures;
mod input;
mod router;
mod routes;
mod state;

use http::{Request, Response};
use hyper::body::Incoming;
use tracing::info;

use crate::cli::MockArgs;
use crate::http::body::Body;
use crate::http::server::{self, Handler, ServerOptions};

pub use config::{MockConfig, MockError};
pub use cron::{next_fire_after, CronSpecError};
pub use engine::delivery::DeliveryConfig;
pub use engine::signature::{
    sign as sign_webhook, verify as verify_webhook, EVENT_TYPE_HEADER, SIGNATURE_HEADER,
};
pub use fixtures::{FixtureError, DEMO_FIXTURES};
pub use router::routes;
pub use routes::jobs::CREDENTIAL_IDS_HEADER;
pub use state::budget::{
    MemoryLimits, DEFAULT_MAX_MEMORY, DEFAULT_MAX_TENANTS, DEFAULT_MAX_TENANT_BYTES,
};

use engine::core::Core;
use state::credentials::credential_cost;
use state::tenant_id::TenantId;

/// The mock: a cheap handle to shared state, and the [`Handler`] that serves it.
#[derive(Clone)]
pub struct Mock {
    core: Core,
}

impl Mock {
    pub fn new(config: MockConfig) -> Self {
        Self {
            core: Core::new(config),
        }
    }

    /// Preloads tenants' credentials from fixtures text (format in the module docs). An
    /// existing credential of the same name is overwritten.
    pub fn load_fixtures(&self, json_text: &str) -> Result<(), MockError> {
        let fixtures = fixtures::parse(json_text)?;
        for fixture in &fixtures.tenants {
            let tenant_id = TenantId::from_api_key(fixture.api_key.as_bytes());
            let tenant = self
                .core
                .tenants()
                .tenant(&tenant_id)
                .map_err(|err| MockError::Store(err.to_string()))?;
            let mut tenant = tenant.lock();
            for credential in &fixture.credentials {
                let cost = credential_cost(&credential.name, credential.value.to_string().len());
                self.core
                    .make_room(&mut tenant, &tenant_id, cost)
                    .map_err(|err| MockError::Store(err.to_string()))?;
                let seq = tenant.next_seq();
                tenant
                    .credentials
                    .upsert(seq, &credential.name, &credential.value)
                    .map_err(|err| MockError::Store(err.to_string()))?;
            }
        }
        Ok(())
    }

    /// The answer to a POST of `body` to `path` under `api_key`, without HTTP (see
    /// `router::answer_bytes`).
    pub(crate) fn answer_bytes(
        &self,
        path: &str,
        api_key: &[u8],
        body: &[u8],
        headers: &http::HeaderMap,
    ) -> Result<serde_json::Value, crate::http::envelope::ApiError> {
        router::answer_bytes(&self.core, path, api_key, body, headers)
    }

    /// Bytes the mock's state takes, as counted against `--max-memory`.
    pub fn memory_used(&self) -> usize {
        self.core.tenants().budget().used()
    }

    /// How many tenants the mock keeps state for.
    pub fn tenant_count(&self) -> usize {
        self.core.tenants().len()
    }
}

impl Handler for Mock {
    fn call(
        &self,
        request: Request<Incoming>,
    ) -> impl std::future::Future<Output = Response<Body>> + Send {
        router::handle(self.core.clone(), request)
    }
}

/// `libretto-sidecar mock`: binds, prints `listening on http://IP:PORT` to stdout, and serves
/// until the process is asked to stop.
pub async fn run(args: MockArgs) -> Result<(), MockError> {
    if let Err(err) = crate::runtime::hardening::disable_core_dumps() {
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
        crate::runtime::shutdown::signal(),
    )
    .await;
    Ok(())
}

//! The mock's state: what each tenant owns, one store per kind of record, and the lifecycle
//! transitions of a job.
//!
//! Everything here runs under a tenant's lock and never waits, sends or spawns: it is used by
//! the routes (`routes/`) and by the engine (`engine/`), and uses neither. `tenant.rs` holds a
//! tenant's stores together and the registry of all tenants; `tenant_id.rs` is the key they
//! are found by. The stores are `credentials.rs`, `job_store.rs`, `logs.rs`, `webhooks.rs`
//! (which also seals every callback secret) and `schedules.rs`; a job carries its
//! `job_hooks.rs` and both jobs and schedules keep their `launch.rs` options.
//! `job_lifecycle.rs` creates, starts, ends, cancels and drops jobs, and reports an end to its
//! caller instead of acting on it. `budget.rs` counts the bytes all this takes and
//! `stored_json.rs` keeps large JSON inputs as their text.

pub(crate) mod budget;
pub(crate) mod credentials;
pub(crate) mod job_hooks;
pub(crate) mod job_lifecycle;
pub(crate) mod job_store;
pub(crate) mod launch;
pub(crate) mod logs;
pub(crate) mod schedules;
pub(crate) mod stored_json;
pub(crate) mod tenant;
pub(crate) mod tenant_id;
pub(crate) mod webhooks;

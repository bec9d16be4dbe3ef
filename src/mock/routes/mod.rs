//! The mock's HTTP-facing handlers, one file per route group.
//!
//! A handler reads and checks its input (`input.rs`), takes its tenant's lock, acts on the
//! state (`state/`), starts whatever the engine must do next (`engine/`: a job's timers, the
//! scheduler's wake-up) and shapes upstream's answer. The router (`router.rs`) has already
//! checked the method, the API key and the body; no handler uses another.

pub(crate) mod credentials;
pub(crate) mod jobs;
pub(crate) mod logs;
pub(crate) mod schedules;
pub(crate) mod webhooks;

//! The mock's engine: what happens in time rather than in answer to a request.
//!
//! `core.rs` is the shared handle the routes and timers hold (configuration, tenants, the
//! delivery queue, the scheduler's wake-up call). `runner.rs` runs each job's timers and
//! dispatches its end; `callbacks.rs` decides who hears of the end and logs each delivery
//! attempt; `delivery.rs` is the bounded, fair, retrying delivery queue and `signature.rs`
//! the HMAC it signs with; `scheduler.rs` fires due schedules; `room.rs` makes room in the
//! memory budget before a record is stored. The engine uses the state
//! (`state/`) and is used by the routes (`routes/`), never the other way round.

pub(crate) mod callbacks;
pub(crate) mod core;
pub(crate) mod delivery;
pub(crate) mod room;
pub(crate) mod runner;
pub(crate) mod scheduler;
pub(crate) mod signature;

//! The mock of the Libretto API in process, over real HTTP: a mock started on `127.0.0.1:0`,
//! one module per group of routes, its answers snapshotted into `snapshots/`.

#[path = "../support/mod.rs"]
mod support;

mod contract;
mod credentials;
mod jobs;
mod logs;
mod memory;
mod rpc_meta;
mod schedules;
mod webhooks;
mod wire;

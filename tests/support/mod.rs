//! Helpers shared by every integration test binary, defined once. Each binary's `main.rs`
//! includes this tree with `#[path = "../support/mod.rs"] mod support;`; not every binary uses
//! every helper, hence `dead_code` is allowed.
//!
//! - [`http`]: the test client, `call`/`call_with` as an app POSTs, refusal checks;
//! - [`mock`]: a mock started in process, job polling, snapshot redaction and `snap!`;
//! - [`upstream`]: the counting fake Libretto upstream; [`dropping`]: a front for it that loses
//!   `jobs/create` answers;
//! - [`sidecar`]: a sidecar started in process in front of the fake or a mock;
//! - [`webhook_receiver`]: a recording webhook receiver and the expected signature;
//! - [`binary`]: running the compiled binary and reading its listening line;
//! - [`openmetrics`]: the Prometheus Python client's OpenMetrics parser, installed on first use.

#![allow(dead_code)]

pub mod binary;
pub mod dropping;
pub mod http;
pub mod mock;
pub mod openmetrics;
pub mod sidecar;
pub mod upstream;
pub mod webhook_receiver;

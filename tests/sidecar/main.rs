//! The sidecar in process, over real HTTP: a sidecar started on `127.0.0.1:0` in front of the
//! counting fake upstream, a mock, or a server of the test's own. One module per concern.

#[path = "../support/mod.rs"]
mod support;

mod cache;
mod ecosystem;
mod jobs;
mod lost_answers;
mod ops;
mod passthrough;
mod refusals;
mod restart;
mod security;
mod streamed_answers;
mod tls;
mod with_mock;

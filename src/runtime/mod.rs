//! The process around the servers: logging (and its JSON lines), shutdown signals, hardening (no core dumps), the
//! clock used for timestamps, the jittered backoff used for retries, and the connection
//! workers (one single-threaded runtime per CPU).

pub mod backoff;
#[cfg(feature = "mock")]
pub(crate) mod clock;
pub(crate) mod hardening;
pub mod json_lines;
pub mod logging;
pub(crate) mod shutdown;
pub mod workers;

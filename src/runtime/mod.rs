//! The process around the servers: logging, shutdown signals, hardening (no core dumps), the
//! clock used for timestamps, the jittered backoff used for retries, and the connection
//! workers (one single-threaded runtime per CPU).

pub mod backoff;
#[cfg(feature = "mock")]
pub(crate) mod clock;
pub(crate) mod hardening;
pub mod logging;
pub(crate) mod shutdown;
pub mod workers;

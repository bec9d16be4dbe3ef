//! libretto-sidecar: a sidecar that fills credential placeholders into Libretto jobs so secrets
//! never pass through app code, and an in-memory mock of the Libretto API for offline work.
//!
//! `main.rs` only parses the command line; everything it runs lives here so tests drive the
//! same functions.

#![forbid(unsafe_code)]

pub mod access;
pub mod admin;
pub mod answer;
pub mod backoff;
pub mod base_url;
pub mod body;
pub mod cache;
pub mod check;
pub mod cli;
pub mod clock;
pub mod conn_limits;
pub mod credential_answer;
pub mod envelope;
pub mod guard;
pub mod hardening;
pub mod job_memory;
pub mod known_secrets;
pub mod logging;
pub mod metrics;
pub mod mock;
pub mod placeholder;
pub mod policy;
pub mod proxy;
pub mod resolve;
pub mod rewrite;
pub mod scrub;
pub mod scrub_stream;
pub mod seal;
pub mod secret;
pub mod server;
pub mod shutdown;
pub mod sidecar;
pub mod sidecar_error;
pub mod upstream;

//! libretto-sidecar: a sidecar that fills credential placeholders into Libretto jobs so secrets
//! never pass through app code, and an in-memory mock of the Libretto API for offline work.
//!
//! `main.rs` only parses the command line; everything it runs lives here so tests drive the
//! same functions.
//!
//! # Layout
//!
//! A request to `serve` flows one way, and each step lives in one folder:
//!
//! | step | where |
//! |---|---|
//! | accept the connection, bound its head, body and idle time | [`http`] (`server`, `conn_limits`, `body`) |
//! | classify the request once (kind, echo treatment, metric label) | `sidecar::route` |
//! | guard it (client token, relays, browsers, hosts, credential reads, policy) | `sidecar::guard` |
//! | scan the body for placeholders and plan the JSON Patch | [`placeholders`] |
//! | resolve each credential (cache, single flight, upstream lookup) | `sidecar::credentials` |
//! | rewrite, forward with the sidecar's key | `sidecar::proxy`, `sidecar::upstream` |
//! | answer: restore echoes, scrub known secrets | `sidecar::answer` |
//!
//! Around it: [`cli`] (the command line), `sidecar` (start-up, reload, admin listener,
//! metrics), `mock` (the built-in Libretto API, behind the `mock` feature), [`check`] (the offline lint), `runtime`
//! (logging, signals, hardening, clock, backoff) and `secret` (the unprintable [`Secret`] type
//! and the sealing of values in memory). `docs/architecture.md` draws the same map.

#![forbid(unsafe_code)]

pub mod check;
pub mod cli;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
#[cfg(feature = "mock")]
pub mod mock;
pub mod placeholders;
pub mod runtime;
pub mod secret;
pub mod sidecar;

pub use secret::Secret;

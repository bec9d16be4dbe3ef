//! The placeholder grammar.
//!
//! The property is `libretto_sidecar::fuzzing::placeholder`; `cargo test` replays the
//! committed corpus through it too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| libretto_sidecar::fuzzing::placeholder(data));

//! Credentials as the sidecar sees them: the sealed, single-flight cache in front of the
//! upstream lookup, and the resolution of a scanned body's credentials through it.

pub mod cache;
pub mod resolve;

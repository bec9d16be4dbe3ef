//! The HTTP plumbing shared by the sidecar and the mock: the oRPC error envelope, bounded body
//! reads, the serve loop with its connection limits, and the header helpers (hop-by-hop
//! headers, request ids, content type and encoding), each written once.

pub mod body;
pub mod budget;
pub(crate) mod conn_limits;
pub mod envelope;
pub(crate) mod headers;
pub(crate) mod limited;
pub mod server;

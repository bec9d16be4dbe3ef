//! Everything that runs the compiled `libretto-sidecar` binary or another process: the `mock`,
//! `serve` and `check` subcommands as shipped, the binary under operations (signals, logs) and
//! its security (tokens, core dumps, nothing secret in its output), the offline flow docs/mock.md
//! walks, the deployment manifest, the Dockerfile, the compose example and the docs'
//! `docker run` line, the configuration table in the docs, and the
//! Node scripts in `tests/node/`.

#[path = "../support/mod.rs"]
mod support;

mod check;
mod check_formats;
mod deploy_compose;
mod deploy_docker;
mod deploy_manifest;
mod docs_configuration;
mod learn;
mod mock;
mod node;
mod offline_flow;
mod ops;
mod security;
mod serve;

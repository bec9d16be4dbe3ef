//! Structured logging set-up: `tracing` to stderr, text or JSON, filtered by `RUST_LOG`.
//!
//! Logs go to stderr so that stdout carries only the one `listening on ...` line that scripts
//! and tests read. The HTTP, HTTP/2 and TLS libraries are held to `debug` whatever `RUST_LOG`
//! says: at `trace` they print frames and header blocks, which would put request headers (a
//! client token, an API key) and bodies in the log.

use std::io::IsTerminal;

use tracing_subscriber::filter::{Directive, LevelFilter};
use tracing_subscriber::{fmt, EnvFilter};

use crate::cli::LogFormat;

/// Libraries whose `trace` output may carry header values or bodies.
const CAPPED_AT_DEBUG: &[&str] = &["h2", "hyper", "hyper_util", "hyper_rustls", "rustls"];

/// The filter from `RUST_LOG` (default `info`), with the libraries above capped at `debug`.
pub fn filter() -> EnvFilter {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    cap(filter)
}

/// Caps the noisy libraries at `debug` when the filter asks for `trace` anywhere (below that
/// they are left as asked, so `info` stays quiet).
fn cap(mut filter: EnvFilter) -> EnvFilter {
    if filter.max_level_hint() != Some(LevelFilter::TRACE) {
        return filter;
    }
    for target in CAPPED_AT_DEBUG {
        if let Ok(directive) = format!("{target}=debug").parse::<Directive>() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Installs the global subscriber. Calling it twice is harmless (the second call is ignored).
pub fn init(format: LogFormat) {
    // Colours only on a terminal: a log file or collector gets plain `key=value` text.
    let builder = fmt()
        .with_env_filter(filter())
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_is_capped_for_http_libraries_only() {
        let capped = cap(EnvFilter::new("trace")).to_string();
        assert!(capped.contains("h2=debug"), "{capped}");
        assert!(capped.contains("hyper=debug"), "{capped}");
        let quiet = cap(EnvFilter::new("info")).to_string();
        assert!(!quiet.contains("h2"), "{quiet}");
        let explicit = cap(EnvFilter::new("info,h2=trace")).to_string();
        assert!(explicit.contains("h2=debug"), "{explicit}");
        assert!(!explicit.contains("h2=trace"), "{explicit}");
    }
}

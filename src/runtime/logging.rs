//! Structured logging set-up: `tracing` to stderr, text or JSON, filtered by `RUST_LOG`,
//! written by a thread of its own so that a request never waits on a write to stderr.
//!
//! Logs go to stderr so that stdout carries only the one `listening on ...` line that scripts
//! and tests read. The HTTP, HTTP/2 and TLS libraries are held to `debug` whatever `RUST_LOG`
//! says: at `trace` they print frames and header blocks, which would put request headers (a
//! client token, an API key) and bodies in the log.
//!
//! An error that stops the process is reported here too, in the chosen format, so a collector
//! reading JSON lines gets a JSON line for a failed start as well.

use std::io::IsTerminal;

use tracing_subscriber::filter::{Directive, LevelFilter};
use tracing_subscriber::{fmt, EnvFilter};

use crate::cli::LogFormat;

/// Libraries whose `trace` output may carry header values or bodies.
const CAPPED_AT_DEBUG: &[&str] = &["h2", "hyper", "hyper_util", "hyper_rustls", "rustls"];

/// The filter from `RUST_LOG` (default `info`), with the libraries above capped at `debug`.
pub fn filter() -> EnvFilter {
    filter_from(std::env::var(EnvFilter::DEFAULT_ENV).ok().as_deref()).0
}

/// The filter for a `RUST_LOG` value, capped; and, when the value is set but not a valid
/// filter, why (the filter is then `info`).
fn filter_from(rust_log: Option<&str>) -> (EnvFilter, Option<String>) {
    let (filter, invalid) = match rust_log {
        None => (EnvFilter::new("info"), None),
        Some(text) => match EnvFilter::try_new(text) {
            Ok(filter) => (filter, None),
            Err(err) => (EnvFilter::new("info"), Some(err.to_string())),
        },
    };
    (cap(filter), invalid)
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
/// An invalid `RUST_LOG` is logged as a warning (the filter falls back to `info`).
pub fn init(format: LogFormat) -> LogFlush {
    let rust_log = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let (filter, invalid) = filter_from(rust_log.as_deref());
    // Lines are written to stderr by a thread of their own: a request's lines cost it a copy
    // into a queue, not a write each. When the queue is full, logging waits (lossy off): an
    // audit line is never dropped. The thread writes the lines it finds queued through a
    // buffer and flushes it once the queue is empty: one `write` a batch, not one a line.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(false)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::with_capacity(
            LOG_WRITE_BUFFER,
            std::io::stderr(),
        ));
    match format {
        LogFormat::Text => {
            // Colours only on a terminal: a log file or collector gets plain `key=value` text.
            let _ = fmt()
                .with_env_filter(filter)
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(writer)
                .try_init();
        }
        LogFormat::Json => {
            use tracing_subscriber::layer::SubscriberExt;
            use tracing_subscriber::util::SubscriberInitExt;
            let _ = tracing_subscriber::registry()
                .with(json_layer(writer))
                .with(filter)
                .try_init();
        }
    }
    if let Some(error) = invalid {
        tracing::warn!(rust_log, %error, "RUST_LOG is not a valid filter; logging at info");
    }
    *WRITER.lock() = Some(guard);
    LogFlush(())
}

/// Lines waiting for the writer thread, at most; past them logging waits for it.
const LOG_QUEUE_LINES: usize = 64 * 1024;

/// The writer thread's buffer: a batch of queued lines goes out in writes of up to this much.
const LOG_WRITE_BUFFER: usize = 64 * 1024;

/// The log writer thread's guard: dropped, it writes out the lines still queued.
static WRITER: parking_lot::Mutex<Option<tracing_appender::non_blocking::WorkerGuard>> =
    parking_lot::Mutex::new(None);

/// Writes out the queued log lines when dropped. Keep it for the life of the process (the
/// binary holds it in `main`); a process that exits without unwinding calls [`flush`] first.
#[must_use = "dropping it stops the log writer"]
pub struct LogFlush(());

impl Drop for LogFlush {
    fn drop(&mut self) {
        flush();
    }
}

/// Writes out the log lines still queued and stops the writer; later lines are not written.
/// For a process about to exit.
pub fn flush() {
    drop(WRITER.lock().take());
}

/// The JSON lines layer: one flat object per event (`timestamp`, `level`, `target`, the
/// message and the event's fields, and the fields of every span it happens in, such as a
/// request's `request_id`, `method`, `path` and `route`), each name once (see
/// [`crate::runtime::json_lines`]).
pub fn json_layer<W>(writer: W) -> crate::runtime::json_lines::JsonLines<W>
where
    W: for<'writer> tracing_subscriber::fmt::MakeWriter<'writer> + 'static,
{
    crate::runtime::json_lines::JsonLines::new(writer)
}

/// Reports the error that stops the process: with `--log-format json` one JSON log line,
/// otherwise one plain `Error: ...` line on stderr. Each cause appears once.
pub fn report_fatal(format: LogFormat, err: &(dyn std::error::Error + 'static)) {
    let message = error_chain(err);
    match format {
        LogFormat::Json => tracing::error!(error = %message, "Could not run"),
        LogFormat::Text => eprintln!("Error: {message}"),
    }
}

/// An error and its causes on one line, skipping a cause whose text the message already
/// holds (many errors print their source in their own message).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_rust_log_is_reported_and_falls_back_to_info() {
        let (filter, invalid) = filter_from(Some("libretto_sidecar=loud"));
        assert!(invalid.is_some());
        assert_eq!(filter.to_string(), "info");
        let (filter, invalid) = filter_from(Some("warn,libretto_sidecar=debug"));
        assert!(invalid.is_none());
        assert!(filter.to_string().contains("libretto_sidecar=debug"));
        assert!(filter_from(None).1.is_none());
    }

    #[derive(Debug, thiserror::Error)]
    #[error("could not listen on 127.0.0.1:1: {source}")]
    struct Outer {
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("start failed")]
    struct Wrapper(#[source] std::io::Error);

    #[test]
    fn causes_are_named_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use");
        assert_eq!(
            error_chain(&Outer { source: io() }),
            "could not listen on 127.0.0.1:1: address in use"
        );
        assert_eq!(error_chain(&Wrapper(io())), "start failed: address in use");
    }

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

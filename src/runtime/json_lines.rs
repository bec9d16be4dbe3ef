//! `--log-format json`: one flat JSON object per event, written straight into a line buffer.
//!
//! A line is `level`, `target`, `timestamp` (RFC 3339, UTC, microseconds), `message` and the
//! event's other fields in the order the event names them, then the fields of every span the
//! event happens in (a request's `request_id`, `method`, `path`, `route`, the connection's
//! `peer`, ...) with `name`, the innermost span's name, sorted by key, an inner span's field
//! winning over an outer one's. Each key appears once: a span field the event names itself is
//! left out. Numbers and booleans are JSON numbers and booleans; every other value is a string.
//!
//! A span's fields are turned into JSON text once, when the span is made (or a field of it is
//! recorded), and every line in it copies that text; a line costs one buffer, kept per thread,
//! and one hand-off to the writer. The general JSON layers build a `serde_json::Value` of the
//! event and of the spans for every line, which at `info` cost a request more than its rewrite.

use std::cell::RefCell;
use std::fmt;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The layer writing flat JSON lines to `W`.
pub struct JsonLines<W> {
    make_writer: W,
}

impl<W> JsonLines<W> {
    pub fn new(make_writer: W) -> Self {
        Self { make_writer }
    }
}

/// A span's fields as JSON text: each key with its value already encoded.
#[derive(Default)]
struct SpanFields(Vec<(&'static str, Vec<u8>)>);

impl SpanFields {
    fn set(&mut self, key: &'static str, json: Vec<u8>) {
        match self.0.iter_mut().find(|(name, _)| *name == key) {
            Some((_, value)) => *value = json,
            None => self.0.push((key, json)),
        }
    }
}

impl Visit for SpanFields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field.name(), json_string(&format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), json_string(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), value.to_string().into_bytes());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), value.to_string().into_bytes());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), value.to_string().into_bytes());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let mut json = Vec::new();
        push_float(&mut json, value);
        self.set(field.name(), json);
    }
}

impl<S, W> Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    W: for<'writer> MakeWriter<'writer> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = SpanFields::default();
        fields.set("name", json_string(attrs.metadata().name()));
        attrs.record(&mut fields);
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        thread_local! {
            static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        LINE.with(|line| {
            // A line logged while this thread writes one (from inside a Debug impl) gets a
            // buffer of its own.
            let mut own = Vec::new();
            let mut borrowed = line.try_borrow_mut();
            let text = match borrowed.as_deref_mut() {
                Ok(text) => text,
                Err(_) => &mut own,
            };
            text.clear();
            self.format(event, &ctx, text);
            let _ = self
                .make_writer
                .make_writer_for(event.metadata())
                .write_all(text);
        });
    }
}

impl<W> JsonLines<W> {
    fn format<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>, text: &mut Vec<u8>)
    where
        S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    {
        let metadata = event.metadata();
        text.extend_from_slice(b"{\"level\":\"");
        text.extend_from_slice(metadata.level().as_str().as_bytes());
        text.extend_from_slice(b"\",\"target\":");
        push_json_string(text, metadata.target());
        text.extend_from_slice(b",\"timestamp\":\"");
        let _ = SystemTime.format_time(&mut Writer::new(&mut Text(text)));
        text.push(b'"');
        let mut fields = EventFields {
            text,
            keys: Vec::new(),
        };
        event.record(&mut fields);
        let EventFields { text, keys } = fields;
        let Some(scope) = ctx.event_scope(event) else {
            text.extend_from_slice(b"}\n");
            return;
        };
        // Inner spans first: the first value met for a key is the one kept.
        let spans: Vec<_> = scope.collect();
        let extensions: Vec<_> = spans.iter().map(|span| span.extensions()).collect();
        let mut merged: Vec<(&'static str, &[u8])> = Vec::new();
        for span_fields in extensions.iter().filter_map(|ext| ext.get::<SpanFields>()) {
            for (key, value) in &span_fields.0 {
                let taken = keys.contains(key) || merged.iter().any(|(name, _)| name == key);
                if !taken {
                    merged.push((key, value));
                }
            }
        }
        merged.sort_unstable_by_key(|(key, _)| *key);
        for (key, value) in merged {
            text.push(b',');
            push_json_string(text, key);
            text.push(b':');
            text.extend_from_slice(value);
        }
        text.extend_from_slice(b"}\n");
    }
}

/// The event's fields written into the line as they are visited (`message` comes first, as
/// the event macros name it first).
struct EventFields<'a> {
    text: &'a mut Vec<u8>,
    keys: Vec<&'static str>,
}

impl EventFields<'_> {
    fn key(&mut self, field: &Field) {
        self.keys.push(field.name());
        self.text.push(b',');
        push_json_string(self.text, field.name());
        self.text.push(b':');
    }
}

impl Visit for EventFields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        push_json_string(self.text, &format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        push_json_string(self.text, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.text, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.text, "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.text
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        push_float(self.text, value);
    }
}

/// A float as JSON: a number, or `null` for what JSON has no number for (NaN, infinities).
fn push_float(text: &mut Vec<u8>, value: f64) {
    match serde_json::Number::from_f64(value) {
        Some(number) => {
            let _ = write!(text, "{number}");
        }
        None => text.extend_from_slice(b"null"),
    }
}

/// A string as JSON text, quoted and escaped.
fn json_string(value: &str) -> Vec<u8> {
    let mut text = Vec::with_capacity(value.len() + 2);
    push_json_string(&mut text, value);
    text
}

/// Appends a string as JSON text, quoted and escaped (by serde_json).
fn push_json_string(text: &mut Vec<u8>, value: &str) {
    let _ = serde_json::to_writer(text, value);
}

/// The line buffer as a `fmt::Write` target (for the timestamp).
struct Text<'a>(&'a mut Vec<u8>);

impl fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn logged(run: impl FnOnce()) -> Vec<serde_json::Value> {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(JsonLines::new(lines.clone()));
        tracing::subscriber::with_default(subscriber, run);
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with('\n'));
        text.lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
            .collect()
    }

    #[test]
    fn lines_are_flat_with_the_span_fields_once_each() {
        let lines = logged(|| {
            let conn = tracing::info_span!("conn", peer = "127.0.0.1:1");
            let _conn = conn.enter();
            let request = tracing::info_span!(
                "request",
                request_id = %"r-1",
                route = "jobs/create",
                trace_id = tracing::field::Empty,
                peer = "inner",
            );
            request.record("trace_id", "4bf9");
            let _request = request.enter();
            tracing::info!(
                status = 200u16,
                elapsed_ms = 3u64,
                ok = true,
                ratio = 0.5,
                bad = f64::NAN,
                delta = -2i64,
                text = "a \"quoted\"\nline \u{1}",
                debug = ?Some("x"),
                route = "own",
                "Request finished"
            );
            tracing::warn!(target: "audit", "Outside {}", "formatted");
        });
        let keys = |line: &serde_json::Value| -> Vec<String> {
            line.as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(
            keys(&lines[0]),
            [
                "level",
                "target",
                "timestamp",
                "message",
                "status",
                "elapsed_ms",
                "ok",
                "ratio",
                "bad",
                "delta",
                "text",
                "debug",
                "route",
                "name",
                "peer",
                "request_id",
                "trace_id"
            ]
        );
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], module_path!());
        assert_eq!(line["message"], "Request finished");
        assert_eq!(line["status"], 200);
        assert_eq!(line["ok"], true);
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["bad"], serde_json::Value::Null);
        assert_eq!(line["delta"], -2);
        assert_eq!(line["text"], "a \"quoted\"\nline \u{1}");
        assert_eq!(line["debug"], "Some(\"x\")");
        assert_eq!(line["route"], "own", "the event's own field wins");
        assert_eq!(line["name"], "request", "the innermost span's name");
        assert_eq!(line["peer"], "inner", "the inner span's field wins");
        assert_eq!(line["request_id"], "r-1");
        assert_eq!(line["trace_id"], "4bf9", "a field recorded later");
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(
            timestamp.len() == 27 && timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T',
            "{timestamp}"
        );
        assert_eq!(lines[1]["message"], "Outside formatted");
        assert_eq!(lines[1]["target"], "audit");
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["name"], "request");
    }

    #[test]
    fn a_line_outside_any_span_has_only_its_own_fields() {
        let lines = logged(|| tracing::info!(listen = "127.0.0.1:8787", "Sidecar started"));
        assert_eq!(
            lines[0].as_object().unwrap().keys().collect::<Vec<_>>(),
            ["level", "target", "timestamp", "message", "listen"]
        );
    }
}

//! The life of one request: its span and request id, the in-flight gauge held until the
//! answer's body is sent, the route classified and the guard asked once, the refusal turned
//! into the envelope (a 405 with `Allow: POST`), and the one "Request finished" line with what
//! the request did.
//!
//! The span carries the fields every line of the request shares, once each: `request_id`,
//! `method`, `path` (as sent), `route` (the metric label, such as `jobs/create`) and, when the
//! request carries a valid W3C `traceparent`, its `trace_id`. `traceparent` and `tracestate`
//! themselves are forwarded upstream untouched.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tracing::{info, info_span, Instrument};

use super::{Proxy, RequestStats};
use crate::http::body::{Body, BoxError};
use crate::http::budget::RETRY_AFTER_SECS;
use crate::http::headers::{request_id, REQUEST_ID_HEADER};
use crate::http::server::Handler;
use crate::sidecar::metrics::GaugeGuard;
use crate::sidecar::route::Route;

impl Handler for Proxy {
    async fn call(&self, request: Request<Incoming>) -> Response<Body> {
        let request_id = request_id(request.headers());
        let route = Route::of(request.method(), request.uri().path());
        let label = route.label();
        let span = info_span!(
            "request",
            request_id = %String::from_utf8_lossy(request_id.as_bytes()),
            method = %request.method(),
            path = %request.uri().path(),
            route = label,
            trace_id = tracing::field::Empty,
        );
        if let Some(trace_id) = trace_id(request.headers()) {
            span.record("trace_id", trace_id);
        }
        let metrics = self.inner.metrics.clone();
        async move {
            let in_flight = metrics.in_flight();
            let started = Instant::now();
            let mut stats = RequestStats::default();
            let admitted =
                self.inner
                    .guard
                    .admit(request.method(), request.uri(), request.headers(), &route);
            let routed = match admitted {
                Ok(()) => self
                    .route(request, &route, &request_id, &mut stats)
                    .await
                    .map_err(|err| err.to_api_error()),
                Err(refused) => Err(refused),
            };
            let mut response = match routed {
                Ok(response) => response,
                Err(answer) => {
                    info!(code = %answer.code, status = answer.status.as_u16(), "Request refused");
                    metrics.error(&answer.code);
                    let retry = answer.code == "BODY_BUDGET_EXHAUSTED";
                    let mut response = answer.into_response();
                    if retry {
                        response
                            .headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
                    }
                    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
                        // The sidecar's own 405s are for the routes it reads: POST only.
                        response
                            .headers_mut()
                            .insert(header::ALLOW, HeaderValue::from_static("POST"));
                    }
                    response
                }
            };
            metrics.request(label, response.status().as_u16());
            response
                .headers_mut()
                .insert(REQUEST_ID_HEADER, request_id.clone());
            info!(
                status = response.status().as_u16(),
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                placeholders = stats.placeholders,
                cache_hits = stats.cache_hits,
                cache_misses = stats.cache_misses,
                restored = stats.restored,
                redacted = stats.redacted,
                "Request finished"
            );
            in_flight_until_body_ends(response, in_flight)
        }
        .instrument(span)
        .await
    }
}

/// The trace id of a valid W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`, ids not all
/// zero), for the log; `None` for anything else.
fn trace_id(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("traceparent")?.to_str().ok()?.trim();
    let mut parts = value.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |text: &str, len: usize| {
        text.len() == len
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0')
        && (version != "00" || parts.next().is_none());
    valid.then_some(trace)
}

/// Keeps the request counted as in flight until its answer's body has been sent (or dropped),
/// so a streamed pass-through answer counts for as long as it streams. The body's size hint is
/// kept, so an answer of known length is sent with `Content-Length`, not chunked.
fn in_flight_until_body_ends(response: Response<Body>, in_flight: GaugeGuard) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let body = Held {
        body,
        _held: in_flight,
    }
    .boxed();
    Response::from_parts(parts, body)
}

/// A body that holds a guard until it is done or dropped, and is otherwise the body it wraps.
struct Held {
    body: Body,
    _held: GaugeGuard,
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(traceparent: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(traceparent));
        headers
    }

    #[test]
    fn only_a_valid_traceparent_gives_a_trace_id() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id(&with(good)),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "garbage",
        ] {
            assert_eq!(trace_id(&with(bad)), None, "{bad}");
        }
        assert_eq!(trace_id(&HeaderMap::new()), None);
    }
}

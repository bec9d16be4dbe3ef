//! The life of one request: its span and request id, the in-flight gauge held until the
//! answer's body is sent, the route classified and the guard asked once, the refusal turned
//! into the envelope, and the one "Request finished" line with what the request did.

use std::time::Instant;

use http::{header, HeaderValue, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tracing::{info, info_span, Instrument};

use super::{Proxy, RequestStats};
use crate::http::body::Body;
use crate::http::budget::RETRY_AFTER_SECS;
use crate::http::headers::{request_id, REQUEST_ID_HEADER};
use crate::http::server::Handler;
use crate::sidecar::metrics::GaugeGuard;
use crate::sidecar::route::Route;

impl Handler for Proxy {
    async fn call(&self, request: Request<Incoming>) -> Response<Body> {
        let request_id = request_id(request.headers());
        let span = info_span!(
            "request",
            request_id = %String::from_utf8_lossy(request_id.as_bytes()),
            method = %request.method(),
            path = %request.uri().path(),
        );
        let route = Route::of(request.method(), request.uri().path());
        let label = route.label();
        let metrics = self.inner.metrics.clone();
        async move {
            let in_flight = metrics.in_flight();
            let started = Instant::now();
            let mut stats = RequestStats::default();
            let method = request.method().clone();
            let path = request.uri().path().to_owned();
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
                    response
                }
            };
            metrics.request(label, response.status().as_u16());
            response
                .headers_mut()
                .insert(REQUEST_ID_HEADER, request_id.clone());
            info!(
                %method,
                route = %path,
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

/// Keeps the request counted as in flight until its answer's body has been sent (or dropped),
/// so a streamed pass-through answer counts for as long as it streams.
fn in_flight_until_body_ends(response: Response<Body>, in_flight: GaugeGuard) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let body = body
        .map_frame(move |frame| {
            let _held = &in_flight;
            frame
        })
        .boxed();
    Response::from_parts(parts, body)
}

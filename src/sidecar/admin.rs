//! The admin listener: liveness, readiness and Prometheus metrics for probes and scrapes.
//!
//! It listens apart from the proxy (`--admin-listen`) so that a cluster's probes and scrapers
//! can reach it while the proxy stays on loopback. It serves no secret and needs no token.
//!
//! It has limits of its own ([`Admin::server_options`]), apart from the proxy's: a small
//! connection cap and short deadlines, so that neither a flood of the proxy port nor one of the
//! admin port can starve the probes. A connection over the admin cap still gets `/healthz` and
//! `/readyz` answered (from the readiness state, without a permit); only `/metrics` is refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::http::body::{full, Body};
use crate::http::envelope::{json_response, ApiError};
use crate::http::server::{Handler, OverCapAnswer, ServerOptions};
use crate::sidecar::answer::withhold::Learning;
use crate::sidecar::metrics::Metrics;

/// Whether the sidecar is ready: prefetch and the first learning pass finished, shutdown not
/// begun. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Readiness {
    warmed: Arc<AtomicBool>,
    stopping: Arc<AtomicBool>,
    learning: Learning,
    /// The upstream is the built-in mock: `/readyz` says so (`"mock": true`).
    mock: bool,
}

impl Readiness {
    /// Starts not ready when `warming` (credentials still to prefetch), else ready.
    pub fn new(warming: bool) -> Self {
        Self {
            warmed: Arc::new(AtomicBool::new(!warming)),
            stopping: Arc::new(AtomicBool::new(false)),
            learning: Learning::default(),
            mock: false,
        }
    }

    /// Marks the upstream as the built-in mock, which `/readyz` then reports.
    pub fn with_mock(mut self, mock: bool) -> Self {
        self.mock = mock;
        self
    }

    /// Also waits for `learning` (the first pass over the tenant's credentials).
    pub fn with_learning(mut self, learning: Learning) -> Self {
        self.learning = learning;
        self
    }

    /// Prefetch is done.
    pub fn set_warmed(&self) {
        self.warmed.store(true, Ordering::Release);
    }

    /// Shutdown has begun: never ready again.
    pub fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// The `/readyz` body: the status, and `"mock": true` when the upstream is the mock.
    fn body(&self, status: &str) -> serde_json::Value {
        if self.mock {
            json!({ "status": status, "mock": true })
        } else {
            json!({ "status": status })
        }
    }

    pub fn is_ready(&self) -> bool {
        self.warmed.load(Ordering::Acquire)
            && self.learning.is_complete()
            && !self.stopping.load(Ordering::Acquire)
    }
}

/// The admin routes.
#[derive(Clone, Debug)]
pub struct Admin {
    metrics: Metrics,
    readiness: Readiness,
}

impl Admin {
    pub fn new(metrics: Metrics, readiness: Readiness) -> Self {
        Self { metrics, readiness }
    }

    fn answer(&self, method: &Method, path: &str) -> Response<Body> {
        if !matches!(path, "/healthz" | "/readyz" | "/metrics") {
            return ApiError::not_found(
                "Not found: the admin listener serves /healthz, /readyz and /metrics",
            )
            .into_response();
        }
        if method != Method::GET && method != Method::HEAD {
            let mut response = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_SUPPORTED",
                "Use GET",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match path {
            "/healthz" => json_response(StatusCode::OK, &json!({ "status": "ok" })),
            "/readyz" if self.readiness.is_ready() => {
                json_response(StatusCode::OK, &self.readiness.body("ready"))
            }
            "/readyz" => json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &self.readiness.body("not ready"),
            ),
            _ => {
                let mut response = Response::new(full(self.metrics.encode()));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(crate::sidecar::metrics::CONTENT_TYPE),
                );
                response
            }
        }
    }
}

/// Connections the admin listener serves at once (probes and scrapes need few).
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

/// How long a client of the admin listener has for its first byte and its request head.
pub const ADMIN_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// How long an admin connection may stay silent before it is closed.
pub const ADMIN_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

impl Admin {
    /// The admin listener's own connection limits: [`ADMIN_MAX_CONNECTIONS`], short deadlines,
    /// and the probes answered even over the cap.
    pub fn server_options(&self) -> ServerOptions {
        ServerOptions {
            header_read_timeout: ADMIN_HEADER_TIMEOUT,
            idle_timeout: ADMIN_IDLE_TIMEOUT,
            max_connections: ADMIN_MAX_CONNECTIONS,
            max_header_bytes: crate::http::server::MIN_HEADER_BYTES,
            shutdown_grace: Duration::from_secs(1),
            observer: None,
            over_cap: Some(Arc::new(self.clone())),
            worker_threads: 0,
        }
    }
}

impl OverCapAnswer for Admin {
    fn answer(&self, method: &Method, path: &str) -> Option<Response<Body>> {
        let probe = matches!(path, "/healthz" | "/readyz");
        (probe && (method == Method::GET || method == Method::HEAD))
            .then(|| Admin::answer(self, method, path))
    }
}

impl Handler for Admin {
    async fn call(&self, request: Request<Incoming>) -> Response<Body> {
        self.answer(request.method(), request.uri().path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_warmup_and_shutdown() {
        let readiness = Readiness::new(true);
        assert!(!readiness.is_ready());
        readiness.set_warmed();
        assert!(readiness.is_ready());
        readiness.begin_shutdown();
        assert!(!readiness.is_ready());
    }

    #[test]
    fn readiness_waits_for_the_first_learning_pass() {
        let learning = Learning::pending();
        let readiness = Readiness::new(false).with_learning(learning.clone());
        assert!(!readiness.is_ready());
        learning.set_complete();
        assert!(readiness.is_ready());
    }

    #[test]
    fn routes() {
        let readiness = Readiness::new(false);
        let admin = Admin::new(Metrics::new(), readiness.clone());
        assert_eq!(
            admin.answer(&Method::GET, "/healthz").status(),
            StatusCode::OK
        );
        assert_eq!(
            admin.answer(&Method::GET, "/readyz").status(),
            StatusCode::OK
        );
        readiness.begin_shutdown();
        assert_eq!(
            admin.answer(&Method::GET, "/readyz").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            admin.answer(&Method::GET, "/metrics").status(),
            StatusCode::OK
        );
        assert_eq!(
            admin.answer(&Method::POST, "/metrics").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            admin.answer(&Method::GET, "/nope").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn other_methods_answer_orpcs_405_code() {
        use http_body_util::BodyExt;
        let admin = Admin::new(Metrics::new(), Readiness::new(false));
        let bytes = admin
            .answer(&Method::POST, "/healthz")
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["json"]["code"], "METHOD_NOT_SUPPORTED");
        assert_eq!(body["json"]["status"], 405);
    }

    #[test]
    fn a_405_names_the_methods_allowed() {
        let admin = Admin::new(Metrics::new(), Readiness::new(false));
        let answer = admin.answer(&Method::DELETE, "/metrics");
        assert_eq!(answer.headers()[header::ALLOW], "GET, HEAD");
    }
}

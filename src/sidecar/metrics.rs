//! Prometheus metrics of the sidecar, served on the admin listener in the OpenMetrics text
//! format ([`CONTENT_TYPE`]).
//!
//! One [`Metrics`] handle (cheap to clone) is shared by the proxy, the cache and the serving
//! loop. Route labels come from a fixed list of Libretto routes, so a client sending random
//! paths cannot grow the label set without bound; anything else is counted as `other`. Names
//! follow the Prometheus conventions: the `libretto_sidecar_` prefix, counters ending in
//! `_total`, durations in `_seconds`, `libretto_sidecar_build_info`, and the standard
//! `process_*` metrics (see [`process`]) without the prefix.

use crate::http::server::ConnectionObserver;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

pub mod holdings;
pub mod process;

use holdings::{Held, HoldingsCollector};

/// The content type of [`Metrics::encode`]'s output: OpenMetrics text 1.0.0, which is what
/// `prometheus-client` writes (`# EOF`, counter families named without `_total`).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The Libretto routes that get their own label value.
const KNOWN_ROUTES: &[&str] = &[
    "credentials/create",
    "credentials/list",
    "credentials/get",
    "credentials/update",
    "credentials/upsert",
    "credentials/delete",
    "jobs/create",
    "jobs/list",
    "jobs/get",
    "jobs/cancel",
    "jobs/debugReport",
    "logs/list",
    "webhooks/create",
    "webhooks/list",
    "webhooks/update",
    "webhooks/delete",
    "schedules/create",
    "schedules/list",
    "schedules/get",
    "schedules/update",
    "schedules/delete",
];

/// The label value for a request path: a known `group/verb`, or `other`.
pub fn route_label(path: &str) -> &'static str {
    let route = path.rsplit_once("/v1/").map_or("", |(_, route)| route);
    KNOWN_ROUTES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(route))
        .copied()
        .unwrap_or("other")
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    route: String,
    /// `2xx`, `3xx`, `4xx`, `5xx`, or `error` when no answer came (timeout, transport).
    status: &'static str,
}

/// The status class label of an upstream answer: `2xx` ... `5xx`, or `error` for no answer.
pub fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        _ => "error",
    }
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    errors: Family<CodeLabels, Counter>,
    placeholders_resolved: Counter,
    cache_hits: Counter,
    cache_misses: Counter,
    cache_evictions: Counter,
    stale_serves: Counter,
    upstream_requests: Family<UpstreamLabels, Counter>,
    upstream_duration: Family<UpstreamLabels, Histogram>,
    in_flight: Gauge,
    open_connections: Gauge,
    holdings: HoldingsCollector,
}

/// The sidecar's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn upstream_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    pub fn new() -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(process::ProcessCollector::new()));
        let holdings = HoldingsCollector::default();
        root.register_collector(Box::new(holdings.clone()));
        let registry = root.sub_registry_with_prefix("libretto_sidecar");
        registry.register(
            "build",
            "The sidecar's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        let errors = Family::<CodeLabels, Counter>::default();
        let placeholders_resolved = Counter::default();
        let cache_hits = Counter::default();
        let cache_misses = Counter::default();
        let cache_evictions = Counter::default();
        let stale_serves = Counter::default();
        let upstream_requests = Family::<UpstreamLabels, Counter>::default();
        let upstream_duration = Family::<UpstreamLabels, Histogram>::new_with_constructor(
            upstream_histogram as fn() -> Histogram,
        );
        let in_flight = Gauge::default();
        let open_connections = Gauge::default();
        registry.register(
            "requests",
            "Requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "errors",
            "Errors the sidecar answered itself, by code",
            errors.clone(),
        );
        registry.register(
            "placeholders_resolved",
            "Credential placeholders filled into forwarded requests",
            placeholders_resolved.clone(),
        );
        registry.register(
            "cache_hits",
            "Credential lookups served from the cache",
            cache_hits.clone(),
        );
        registry.register(
            "cache_misses",
            "Credential lookups that went upstream",
            cache_misses.clone(),
        );
        registry.register(
            "cache_evictions",
            "Credential cache entries dropped (expired, evicted or invalidated)",
            cache_evictions.clone(),
        );
        registry.register(
            "stale_serves",
            "Requests forwarded with an expired credential because its lookup failed (stale-if-error)",
            stale_serves.clone(),
        );
        registry.register(
            "upstream_requests",
            "Requests sent to the upstream, by route and status class (error: no answer)",
            upstream_requests.clone(),
        );
        registry.register_with_unit(
            "upstream_request_duration",
            "Time to the upstream's answer head, by route and status class (error: no answer)",
            Unit::Seconds,
            upstream_duration.clone(),
        );
        registry.register(
            "requests_in_flight",
            "Requests being handled now",
            in_flight.clone(),
        );
        registry.register(
            "open_connections",
            "Client connections open now",
            open_connections.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry: root,
                requests,
                errors,
                placeholders_resolved,
                cache_hits,
                cache_misses,
                cache_evictions,
                stale_serves,
                upstream_requests,
                upstream_duration,
                in_flight,
                open_connections,
                holdings,
            }),
        }
    }

    pub fn request(&self, route: &'static str, status: u16) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    pub fn error(&self, code: &str) {
        self.inner
            .errors
            .get_or_create(&CodeLabels {
                code: code.to_owned(),
            })
            .inc();
    }

    pub fn placeholders_resolved(&self, count: usize) {
        self.inner.placeholders_resolved.inc_by(count as u64);
    }

    pub fn cache_hit(&self) {
        self.inner.cache_hits.inc();
    }

    pub fn cache_miss(&self) {
        self.inner.cache_misses.inc();
    }

    pub fn cache_eviction(&self) {
        self.inner.cache_evictions.inc();
    }

    pub fn stale_serve(&self) {
        self.inner.stale_serves.inc();
    }

    /// One request to the upstream: `status` is its answer's, `None` when none came.
    pub fn upstream_request(&self, route: &'static str, status: Option<u16>, elapsed: Duration) {
        let labels = UpstreamLabels {
            route: route.to_owned(),
            status: status_class(status),
        };
        self.inner.upstream_requests.get_or_create(&labels).inc();
        self.inner
            .upstream_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a request as in flight until the guard drops.
    pub fn in_flight(&self) -> GaugeGuard {
        GaugeGuard::new(self.inner.in_flight.clone())
    }

    /// Counts a connection as open until the guard drops.
    pub fn open_connection(&self) -> GaugeGuard {
        GaugeGuard::new(self.inner.open_connections.clone())
    }

    /// Reports what `source` holds (the cache, known secrets and job memory) at each scrape,
    /// as the gauges of [`holdings`]. The first source attached stays.
    pub fn watch_holdings(&self, source: Box<dyn Held>) {
        self.inner.holdings.attach(source);
    }

    /// The metrics in OpenMetrics text format (served as [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }
}

/// Decrements its gauge when dropped.
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    fn new(gauge: Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl ConnectionObserver for Metrics {
    fn opened(&self) -> Box<dyn Send> {
        Box::new(self.open_connection())
    }

    fn refused(&self, path: &str) {
        self.error("SERVICE_UNAVAILABLE");
        self.request(route_label(path), 503);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_bounded() {
        assert_eq!(route_label("/v1/jobs/create"), "jobs/create");
        assert_eq!(route_label("/base/v1/credentials/get"), "credentials/get");
        assert_eq!(route_label("/v1/random/path"), "other");
        assert_eq!(route_label("/"), "other");
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(Some(200)), "2xx");
        assert_eq!(status_class(Some(404)), "4xx");
        assert_eq!(status_class(Some(503)), "5xx");
        assert_eq!(status_class(None), "error");
    }

    #[test]
    fn counters_show_in_text_format() {
        let metrics = Metrics::new();
        metrics.request("jobs/create", 200);
        metrics.error("CREDENTIAL_NOT_FOUND");
        metrics.placeholders_resolved(2);
        metrics.upstream_request("credentials/get", Some(200), Duration::from_millis(3));
        metrics.upstream_request("jobs/create", None, Duration::from_millis(3));
        let guard = metrics.in_flight();
        let text = metrics.encode();
        assert!(
            text.contains(r#"libretto_sidecar_requests_total{route="jobs/create",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"libretto_sidecar_errors_total{code="CREDENTIAL_NOT_FOUND"} 1"#));
        assert!(text.contains("libretto_sidecar_placeholders_resolved_total 2"));
        assert!(text.contains("libretto_sidecar_requests_in_flight 1"));
        assert!(text.contains(
            "libretto_sidecar_upstream_request_duration_seconds_count{route=\"credentials/get\",status=\"2xx\"} 1"
        ));
        assert!(text.contains(
            "libretto_sidecar_upstream_requests_total{route=\"jobs/create\",status=\"error\"} 1"
        ));
        assert!(text.contains("# UNIT libretto_sidecar_upstream_request_duration_seconds seconds"));
        assert!(text.contains(&format!(
            "libretto_sidecar_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(text.ends_with("# EOF\n"), "{text}");
        drop(guard);
        assert!(metrics
            .encode()
            .contains("libretto_sidecar_requests_in_flight 0"));
    }
}

//! Webhook delivery: a bounded queue and a worker that POSTs signed events, with retries.
//!
//! Routes and job timers only *enqueue* a [`Delivery`]; a background task sends it, so a
//! slow or dead receiver never slows the API. Memory stays bounded: at most `queue_capacity`
//! deliveries wait and at most `concurrency` are in flight; when the queue is full the new
//! delivery is dropped and reported. Deliveries are fair between groups (for the mock: between
//! tenants): at most `group_concurrency` of one group are in flight, so one tenant's slow
//! receivers cannot take every slot from the others. Each attempt has its own timeout; connect errors,
//! timeouts and non-2xx answers (redirects included: they are not followed) are retried with
//! jittered exponential backoff ([`Backoff`]) up to `attempts` times, all within
//! `total_timeout`. Every attempt and the final outcome go to a sink, which the mock writes
//! into the job's logs, so `logs/list` shows what happened to each callback.
//!
//! Request: `POST`, `content-type: application/json`, `x-event-type: <event>`, and
//! `x-webhook-signature` (see `signature.rs`) over the exact body bytes sent.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, Uri};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::signature::{sign, EVENT_TYPE_HEADER, SIGNATURE_HEADER};
use crate::backoff::Backoff;
use crate::secret::Secret;

/// How deliveries are sent and retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Attempts per delivery, the first included (at least 1).
    pub attempts: u32,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// How long one attempt may take, connecting included.
    pub attempt_timeout: Duration,
    /// How long all attempts of one delivery may take together.
    pub total_timeout: Duration,
    /// Deliveries waiting to be sent; more are dropped.
    pub queue_capacity: usize,
    /// Deliveries sent at the same time.
    pub concurrency: usize,
    /// Deliveries of one group (one tenant) sent at the same time.
    pub group_concurrency: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            attempts: 5,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(10)),
            attempt_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(60),
            queue_capacity: 1024,
            concurrency: 16,
            group_concurrency: 4,
        }
    }
}

/// What a delivery's tag must tell: the group it counts against for fairness.
pub trait Tag: Send + Sync + 'static {
    type Group: Hash + Eq + Clone + Send + Sync + 'static;
    fn group(&self) -> Self::Group;
}

/// One event for one receiver. `tag` says whom to report to (for the mock: tenant and job).
pub struct Delivery<T> {
    pub tag: T,
    pub url: Uri,
    pub secret: Secret,
    pub event: String,
    pub body: Bytes,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered(u16),
    /// Any other answer.
    Status(u16),
    /// No answer within the attempt's time.
    Timeout,
    /// The connection could not be made.
    Connect,
    /// The request failed after connecting.
    Failed,
}

impl Outcome {
    pub fn is_delivered(&self) -> bool {
        matches!(self, Self::Delivered(_))
    }

    fn describe(&self) -> String {
        match self {
            Self::Delivered(status) | Self::Status(status) => format!("HTTP {status}"),
            Self::Timeout => "timed out".into(),
            Self::Connect => "could not connect".into(),
            Self::Failed => "request failed".into(),
        }
    }
}

/// What happens after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Delivered; nothing more.
    Done,
    /// Another attempt follows.
    Retry,
    /// No attempts or time left.
    GiveUp,
}

/// A report for the sink: one attempt, or a delivery dropped before any attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Attempt {
        event: String,
        target: String,
        attempt: u32,
        attempts: u32,
        outcome: Outcome,
        next: Next,
    },
    Dropped {
        event: String,
        target: String,
    },
}

impl Report {
    /// The log level upstream's `logs/list` would use: info, warn or error.
    pub fn level(&self) -> &'static str {
        match self {
            Self::Attempt {
                next: Next::Done, ..
            } => "info",
            Self::Attempt {
                next: Next::Retry, ..
            } => "warn",
            Self::Attempt {
                next: Next::GiveUp, ..
            }
            | Self::Dropped { .. } => "error",
        }
    }

    /// One line for the job's logs; never the secret, never the URL's query or user info.
    pub fn message(&self) -> String {
        match self {
            Self::Attempt {
                event,
                target,
                attempt,
                attempts,
                outcome,
                next,
            } => {
                let outcome = outcome.describe();
                match next {
                    Next::Done => format!(
                        "Webhook {event} delivered to {target} (attempt {attempt}/{attempts}, {outcome})"
                    ),
                    Next::Retry => format!(
                        "Webhook {event} to {target} failed (attempt {attempt}/{attempts}, {outcome}); retrying"
                    ),
                    Next::GiveUp => format!(
                        "Webhook {event} to {target} failed (attempt {attempt}/{attempts}, {outcome}); giving up"
                    ),
                }
            }
            Self::Dropped { event, target } => {
                format!("Webhook {event} to {target} dropped: the delivery queue is full")
            }
        }
    }
}

/// Where reports go.
pub type Sink<T> = Arc<dyn Fn(&T, &Report) + Send + Sync>;

/// A URL as shown in logs: scheme, host, port and path, without user info or query.
pub fn display_target(url: &Uri) -> String {
    let scheme = url.scheme_str().unwrap_or("http");
    let host = url.host().unwrap_or("");
    let port = url.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{scheme}://{host}{port}{}", url.path())
}

/// What comes after attempt number `attempt` (1-based) with `outcome`, given the time left.
pub fn next_step(outcome: &Outcome, attempt: u32, attempts: u32, time_left: bool) -> Next {
    if outcome.is_delivered() {
        Next::Done
    } else if attempt >= attempts || !time_left {
        Next::GiveUp
    } else {
        Next::Retry
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

fn http_client(config: &DeliveryConfig) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(config.attempt_timeout));
    // The crate enables exactly one rustls provider (ring), so the default one is found.
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(4)
        .build(connector)
}

/// The delivery queue. Cheap to clone; the HTTP client is made on the first delivery (so the
/// queue can be made outside a runtime).
pub struct Deliverer<T: Tag> {
    config: DeliveryConfig,
    sink: Sink<T>,
    shared: Arc<Shared<T::Group>>,
}

/// What every handle of one queue shares.
struct Shared<G> {
    /// Deliveries waiting or in flight: the queue's bound.
    queued: Arc<Semaphore>,
    /// Deliveries in flight, all groups together.
    sending: Semaphore,
    /// Deliveries in flight per group; a group's entry goes when its last delivery ends.
    groups: Mutex<HashMap<G, Arc<Semaphore>>>,
    client: OnceLock<HttpClient>,
}

impl<G: Hash + Eq + Clone> Shared<G> {
    fn group(&self, key: &G, permits: usize) -> Arc<Semaphore> {
        self.groups
            .lock()
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(permits)))
            .clone()
    }

    /// Forgets a group's semaphore once nobody else holds it.
    fn release(&self, key: &G, semaphore: Arc<Semaphore>) {
        drop(semaphore);
        let mut groups = self.groups.lock();
        if groups
            .get(key)
            .is_some_and(|semaphore| Arc::strong_count(semaphore) == 1)
        {
            groups.remove(key);
        }
    }

    #[cfg(test)]
    fn group_count(&self) -> usize {
        self.groups.lock().len()
    }
}

impl<T: Tag> Clone for Deliverer<T> {
    fn clone(&self) -> Self {
        Self {
            config: self.config,
            sink: self.sink.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<T: Tag> Deliverer<T> {
    pub fn new(config: DeliveryConfig, sink: Sink<T>) -> Self {
        let sending = config.concurrency.max(1);
        Self {
            config,
            sink,
            shared: Arc::new(Shared {
                queued: Arc::new(Semaphore::new(config.queue_capacity.max(1) + sending)),
                sending: Semaphore::new(sending),
                groups: Mutex::new(HashMap::new()),
                client: OnceLock::new(),
            }),
        }
    }

    /// Queues a delivery without waiting. When the queue is full (or no runtime runs), the
    /// delivery is dropped and reported; the caller is never held up.
    pub fn enqueue(&self, delivery: Delivery<T>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.dropped(&delivery);
        };
        let Ok(queued) = self.shared.queued.clone().try_acquire_owned() else {
            return self.dropped(&delivery);
        };
        let key = delivery.tag.group();
        let group = self
            .shared
            .group(&key, self.config.group_concurrency.max(1));
        let this = self.clone();
        runtime.spawn(async move {
            // Its group's slot first, so a delivery waiting for its group holds no shared slot.
            if let Ok(_in_group) = group.acquire().await {
                if let Ok(_sending) = this.shared.sending.acquire().await {
                    let client = this.shared.client.get_or_init(|| http_client(&this.config));
                    deliver(client, &this.config, &this.sink, delivery).await;
                }
            }
            this.shared.release(&key, group);
            drop(queued);
        });
    }

    fn dropped(&self, delivery: &Delivery<T>) {
        let target = display_target(&delivery.url);
        warn!(event = %delivery.event, %target, "Webhook delivery dropped");
        let report = Report::Dropped {
            event: delivery.event.clone(),
            target,
        };
        (self.sink)(&delivery.tag, &report);
    }
}

async fn attempt<T>(client: &HttpClient, delivery: &Delivery<T>, timeout: Duration) -> Outcome {
    let signature = sign(delivery.secret.expose(), &delivery.body);
    let request = Request::post(delivery.url.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "libretto-sidecar-mock")
        .header(EVENT_TYPE_HEADER, delivery.event.as_str())
        .header(SIGNATURE_HEADER, signature)
        .body(Full::new(delivery.body.clone()));
    let Ok(request) = request else {
        return Outcome::Failed;
    };
    match tokio::time::timeout(timeout, client.request(request)).await {
        Err(_) => Outcome::Timeout,
        Ok(Err(err)) if err.is_connect() => Outcome::Connect,
        Ok(Err(_)) => Outcome::Failed,
        Ok(Ok(response)) => {
            let status = response.status();
            if status.is_success() {
                Outcome::Delivered(status.as_u16())
            } else {
                Outcome::Status(status.as_u16())
            }
        }
    }
}

/// Sends one delivery with retries, reporting every attempt.
async fn deliver<T>(
    client: &HttpClient,
    config: &DeliveryConfig,
    sink: &Sink<T>,
    delivery: Delivery<T>,
) {
    let deadline = Instant::now() + config.total_timeout;
    let attempts = config.attempts.max(1);
    let target = display_target(&delivery.url);
    for number in 1..=attempts {
        let left = deadline.saturating_duration_since(Instant::now());
        let outcome = attempt(client, &delivery, config.attempt_timeout.min(left)).await;
        let delay = config.backoff.delay(number - 1);
        let time_left = Instant::now() + delay < deadline;
        let next = next_step(&outcome, number, attempts, time_left);
        debug!(event = %delivery.event, %target, attempt = number, ?outcome, ?next, "Webhook attempt");
        let report = Report::Attempt {
            event: delivery.event.clone(),
            target: target.clone(),
            attempt: number,
            attempts,
            outcome,
            next,
        };
        sink(&delivery.tag, &report);
        if next != Next::Retry {
            return;
        }
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    fn report(outcome: Outcome, next: Next) -> Report {
        Report::Attempt {
            event: "job.completed".into(),
            target: "http://h:1/p".into(),
            attempt: 2,
            attempts: 5,
            outcome,
            next,
        }
    }

    #[test]
    fn targets_hide_user_info_and_query() {
        let url: Uri = "https://user:pw@hooks.example:8443/in?token=abc"
            .parse()
            .unwrap();
        assert_eq!(display_target(&url), "https://hooks.example:8443/in");
        let url: Uri = "http://127.0.0.1/".parse().unwrap();
        assert_eq!(display_target(&url), "http://127.0.0.1/");
    }

    #[test]
    fn steps() {
        assert_eq!(next_step(&Outcome::Delivered(204), 5, 5, false), Next::Done);
        assert_eq!(next_step(&Outcome::Status(500), 1, 5, true), Next::Retry);
        assert_eq!(next_step(&Outcome::Timeout, 5, 5, true), Next::GiveUp);
        assert_eq!(next_step(&Outcome::Connect, 1, 5, false), Next::GiveUp);
    }

    #[test]
    fn reports_read_well() {
        let done = report(Outcome::Delivered(200), Next::Done);
        assert_eq!(done.level(), "info");
        assert_eq!(
            done.message(),
            "Webhook job.completed delivered to http://h:1/p (attempt 2/5, HTTP 200)"
        );
        let retry = report(Outcome::Status(503), Next::Retry);
        assert_eq!(retry.level(), "warn");
        assert!(retry
            .message()
            .ends_with("(attempt 2/5, HTTP 503); retrying"));
        let last = report(Outcome::Connect, Next::GiveUp);
        assert_eq!(last.level(), "error");
        assert!(last.message().contains("could not connect"));
    }

    /// Tags 0..100 are group 0, 100..200 group 1, and so on.
    impl Tag for u32 {
        type Group = u32;
        fn group(&self) -> u32 {
            self / 100
        }
    }

    type Seen = Arc<Mutex<Vec<(u32, Report)>>>;

    /// A receiver that accepts connections and never answers; counts the connections.
    async fn hanging() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                open.push(socket);
            }
        });
        (url, accepted)
    }

    fn collecting() -> (Sink<u32>, Seen) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink_seen = seen.clone();
        let sink: Sink<u32> = Arc::new(move |tag: &u32, report: &Report| {
            sink_seen.lock().push((*tag, report.clone()));
        });
        (sink, seen)
    }

    fn delivery(tag: u32, url: &str) -> Delivery<u32> {
        Delivery {
            tag,
            url: url.parse().unwrap(),
            secret: Secret::new("s"),
            event: "job.completed".into(),
            body: Bytes::from_static(b"{}"),
        }
    }

    #[tokio::test]
    async fn a_dead_receiver_gets_every_attempt_then_gives_up() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        drop(listener);
        let (sink, seen) = collecting();
        let config = DeliveryConfig {
            attempts: 3,
            backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(5)),
            ..DeliveryConfig::default()
        };
        Deliverer::new(config, sink).enqueue(delivery(7, &url));
        tokio::time::timeout(Duration::from_secs(5), async {
            while seen.lock().len() < 3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        let seen = seen.lock();
        let nexts: Vec<Next> = seen
            .iter()
            .map(|(tag, report)| {
                assert_eq!(*tag, 7);
                match report {
                    Report::Attempt { outcome, next, .. } => {
                        assert_eq!(outcome, &Outcome::Connect);
                        *next
                    }
                    Report::Dropped { .. } => panic!("not dropped"),
                }
            })
            .collect();
        assert_eq!(nexts, vec![Next::Retry, Next::Retry, Next::GiveUp]);
    }

    #[tokio::test]
    async fn a_full_queue_drops_without_waiting() {
        // A receiver that accepts and never answers keeps the one sending slot busy.
        let (url, _) = hanging().await;
        let (sink, seen) = collecting();
        let config = DeliveryConfig {
            queue_capacity: 1,
            concurrency: 1,
            ..DeliveryConfig::default()
        };
        let deliverer = Deliverer::new(config, sink);
        let started = std::time::Instant::now();
        for tag in 0..20 {
            deliverer.enqueue(delivery(tag, &url));
        }
        assert!(started.elapsed() < Duration::from_millis(500));
        let dropped = seen
            .lock()
            .iter()
            .filter(|(_, report)| matches!(report, Report::Dropped { .. }))
            .count();
        assert!(dropped >= 17, "dropped {dropped}");
    }

    #[test]
    fn without_a_runtime_a_delivery_is_dropped_and_reported() {
        let (sink, seen) = collecting();
        Deliverer::new(DeliveryConfig::default(), sink).enqueue(delivery(1, "http://127.0.0.1:9/"));
        assert!(matches!(seen.lock()[0].1, Report::Dropped { .. }));
    }

    #[tokio::test]
    async fn the_total_limit_gives_up_before_the_last_attempt() {
        let (url, _) = hanging().await;
        let (sink, seen) = collecting();
        let config = DeliveryConfig {
            attempts: 50,
            backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(5)),
            attempt_timeout: Duration::from_millis(100),
            total_timeout: Duration::from_millis(350),
            ..DeliveryConfig::default()
        };
        let started = std::time::Instant::now();
        Deliverer::new(config, sink).enqueue(delivery(3, &url));
        let last = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Some((_, report)) = seen.lock().last() {
                    if matches!(
                        report,
                        Report::Attempt {
                            next: Next::GiveUp,
                            ..
                        }
                    ) {
                        return report.clone();
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        let Report::Attempt {
            attempt, outcome, ..
        } = last
        else {
            panic!("an attempt");
        };
        assert_eq!(outcome, Outcome::Timeout);
        assert!(attempt < 10, "gave up at attempt {attempt} of 50");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            seen.lock().len(),
            attempt as usize,
            "one report per attempt"
        );
    }

    #[tokio::test]
    async fn one_group_never_takes_more_than_its_share_of_slots() {
        let (url, accepted) = hanging().await;
        let (sink, _seen) = collecting();
        let config = DeliveryConfig {
            concurrency: 8,
            group_concurrency: 2,
            ..DeliveryConfig::default()
        };
        let deliverer = Deliverer::new(config, sink);
        // Ten deliveries of group 0, then three of group 1, all to a receiver that hangs.
        for tag in (0..10).chain(100..103) {
            deliverer.enqueue(delivery(tag, &url));
        }
        tokio::time::timeout(Duration::from_secs(5), async {
            while accepted.load(std::sync::atomic::Ordering::SeqCst) < 4 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            4,
            "two in flight per group, though eight slots are free"
        );
        assert_eq!(deliverer.shared.group_count(), 2);
    }

    #[tokio::test]
    async fn a_group_is_forgotten_when_its_deliveries_end() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        drop(listener);
        let (sink, seen) = collecting();
        let config = DeliveryConfig {
            attempts: 1,
            ..DeliveryConfig::default()
        };
        let deliverer = Deliverer::new(config, sink);
        deliverer.enqueue(delivery(1, &url));
        tokio::time::timeout(Duration::from_secs(5), async {
            while seen.lock().is_empty() || deliverer.shared.group_count() > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(deliverer.shared.group_count(), 0);
    }
}

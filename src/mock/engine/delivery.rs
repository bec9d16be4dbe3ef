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
//!
//! The queue knows nothing of jobs or tenants: a delivery's [`Tag`] says which group it counts
//! against and whom its reports are for (`callbacks.rs` tags them with tenant and job).

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
use crate::runtime::backoff::Backoff;
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
pub(crate) trait Tag: Send + Sync + 'static {
    type Group: Hash + Eq + Clone + Send + Sync + 'static;
    fn group(&self) -> Self::Group;
}

/// One event for one receiver. `tag` says whom to report to (for the mock: tenant and job).
pub(crate) struct Delivery<T> {
    pub(crate) tag: T,
    pub(crate) url: Uri,
    pub(crate) secret: Secret,
    pub(crate) event: String,
    pub(crate) body: Bytes,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
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
    fn is_delivered(&self) -> bool {
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
pub(crate) enum Next {
    /// Delivered; nothing more.
    Done,
    /// Another attempt follows.
    Retry,
    /// No attempts or time left.
    GiveUp,
}

/// A report for the sink: one attempt, or a delivery dropped before any attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
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
    pub(crate) fn level(&self) -> &'static str {
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
    pub(crate) fn message(&self) -> String {
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
pub(crate) type Sink<T> = Arc<dyn Fn(&T, &Report) + Send + Sync>;

/// A URL as shown in logs: scheme, host, port and path, without user info or query.
fn display_target(url: &Uri) -> String {
    let scheme = url.scheme_str().unwrap_or("http");
    let host = url.host().unwrap_or("");
    let port = url.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{scheme}://{host}{port}{}", url.path())
}

/// What comes after attempt number `attempt` (1-based) with `outcome`, given the time left.
fn next_step(outcome: &Outcome, attempt: u32, attempts: u32, time_left: bool) -> Next {
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
pub(crate) struct Deliverer<T: Tag> {
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
    pub(crate) fn new(config: DeliveryConfig, sink: Sink<T>) -> Self {
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
    pub(crate) fn enqueue(&self, delivery: Delivery<T>) {
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
mod tests;

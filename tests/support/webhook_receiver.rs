//! A webhook receiver for tests: a real HTTP server on `127.0.0.1:0` that records every
//! delivery and can fail the first few, plus the signature the mock is expected to send.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use libretto_sidecar::http::body::{full, Body};
use libretto_sidecar::http::server::{self, Handler, ServerOptions};
use parking_lot::Mutex;
use serde_json::Value;
use sha2::Sha256;

/// How long a test waits for deliveries.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub event: String,
    pub signature: String,
    pub content_type: String,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver on `127.0.0.1:0`: answers 500 to its first `fail_first` requests, then
/// 200, and keeps every request it got.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    requests: Arc<Mutex<Vec<Received>>>,
    failures_left: Arc<AtomicUsize>,
}

impl Handler for Receiver {
    fn call(
        &self,
        request: Request<Incoming>,
    ) -> impl std::future::Future<Output = Response<Body>> + Send {
        let this = self.clone();
        async move {
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            let (event, signature, content_type) = (
                header("x-event-type"),
                header("x-webhook-signature"),
                header("content-type"),
            );
            let body = request.into_body().collect().await.unwrap().to_bytes();
            this.requests.lock().push(Received {
                event,
                signature,
                content_type,
                body,
            });
            let fail = this
                .failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            let status = if fail {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            };
            let mut response = Response::new(full("ok"));
            *response.status_mut() = status;
            response
        }
    }
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Self {
        let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let receiver = Self {
            url,
            requests: Arc::default(),
            failures_left: Arc::new(AtomicUsize::new(fail_first)),
        };
        tokio::spawn(server::serve(
            listener,
            receiver.clone(),
            ServerOptions::default(),
            std::future::pending::<()>(),
        ));
        receiver
    }

    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().clone()
    }

    /// Waits until `count` requests arrived; fails after [`DEADLINE`].
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        tokio::time::timeout(DEADLINE, async {
            loop {
                let requests = self.requests();
                if requests.len() >= count {
                    return requests;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("expected {count} requests, got {:?}", self.requests()))
    }
}

pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

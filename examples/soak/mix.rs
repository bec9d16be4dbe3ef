//! The request mix and its checks: `jobs/create` with three placeholders, `jobs/get` of a job
//! just created (its `params` must come back exactly as sent, placeholders and all), `jobs/list`
//! and credential writes, through one sidecar. No answer may hold a credential value.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use parking_lot::Mutex;
use serde_json::{json, Value};

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The demo fixtures' credential values (or a distinctive part of them): none may come back.
const SECRETS: [&str; 4] = [
    "demo-user",
    "demo-pa$$w0rd",
    "demo-token-123",
    "plain-secret-value",
];

/// Credentials the writes go to (not used by the jobs, whose values stay known).
const WRITTEN: usize = 32;

/// Jobs kept for `jobs/get`: the most recent ones, well inside the mock's and the sidecar's
/// job memory.
const RECENT: usize = 1024;

/// What one kind of request did, over a phase or a sample interval.
#[derive(Default)]
pub struct Tally {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub echoes_checked: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
    first_errors: Mutex<Vec<String>>,
}

impl Tally {
    fn ok(&self, took: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        self.latencies_us.lock().push(micros);
    }

    fn failed(&self, what: String) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock();
        if first.len() < 10 {
            first.push(what);
        }
    }

    /// Takes the latencies gathered so far: (count, p50 ms, p99 ms, max ms).
    pub fn take_latencies(&self) -> (usize, f64, f64, f64) {
        let mut all = std::mem::take(&mut *self.latencies_us.lock());
        if all.is_empty() {
            return (0, 0.0, 0.0, 0.0);
        }
        all.sort_unstable();
        let at = |q: f64| f64::from(all[((all.len() - 1) as f64 * q) as usize]) / 1000.0;
        (all.len(), at(0.50), at(0.99), at(1.0))
    }

    pub fn first_errors(&self) -> Vec<String> {
        self.first_errors.lock().clone()
    }
}

/// One sidecar under the mix.
pub struct Mix {
    client: HttpClient,
    base: String,
    recent: Mutex<VecDeque<(String, Value)>>,
    credential_ids: Vec<String>,
    pub tally: Tally,
    counter: AtomicU64,
}

impl Mix {
    /// Creates the credentials the writes will update, through the sidecar.
    pub async fn new(client: HttpClient, base: String) -> Result<Arc<Self>, String> {
        let mut mix = Self {
            client,
            base,
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            credential_ids: Vec::new(),
            tally: Tally::default(),
            counter: AtomicU64::new(0),
        };
        for index in 0..WRITTEN {
            let name = format!("soak-{index}-{}", uuid::Uuid::new_v4());
            let input = json!({"name": name, "credentials": {"password": "soak-initial"}});
            let (status, answer) = mix.call("/v1/credentials/create", input).await?;
            let id = answer["json"]["credential_id"].as_str().map(str::to_owned);
            match (status.is_success(), id) {
                (true, Some(id)) => mix.credential_ids.push(id),
                _ => return Err(format!("credentials/create answered {status}: {answer}")),
            }
        }
        Ok(Arc::new(mix))
    }

    async fn call(&self, path: &str, input: Value) -> Result<(StatusCode, Value), String> {
        let (status, bytes) = self.call_raw(path, input).await?;
        let value = serde_json::from_slice(&bytes).map_err(|e| format!("{path}: not JSON: {e}"))?;
        Ok((status, value))
    }

    async fn call_raw(&self, path: &str, input: Value) -> Result<(StatusCode, Bytes), String> {
        let body = serde_json::to_vec(&json!({ "json": input })).map_err(|e| e.to_string())?;
        let request = Request::post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{path}: body: {e}"))?
            .to_bytes();
        if let Some(secret) = SECRETS
            .iter()
            .find(|secret| contains(&bytes, secret.as_bytes()))
        {
            return Err(format!("{path}: the answer holds the value {secret:?}"));
        }
        Ok((status, bytes))
    }

    /// Sends the next request of the mix and checks its answer.
    pub async fn step(&self) {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let begun = Instant::now();
        let outcome = match n % 20 {
            0..=7 => self.create(n).await,
            8..=14 => self.get(n).await,
            15..=17 => self.list().await,
            _ => self.write(n).await,
        };
        match outcome {
            Ok(()) => self.tally.ok(begun.elapsed()),
            Err(what) => self.tally.failed(what),
        }
    }

    async fn create(&self, n: u64) -> Result<(), String> {
        let params = json!({
            "memberId": format!("m-{n}"),
            "username": "{{credential:portal-production/username}}",
            "password": "{{credential:portal-production/password}}",
            "auth": "Bearer {{credential:api/token}}",
        });
        let input = json!({"workflow": "portal-login", "params": params});
        let (status, answer) = self.call("/v1/jobs/create", input).await?;
        let Some(id) = answer["json"]["job_id"]
            .as_str()
            .filter(|_| status.is_success())
        else {
            return Err(format!("jobs/create answered {status}: {answer}"));
        };
        let mut recent = self.recent.lock();
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back((id.to_owned(), params));
        Ok(())
    }

    async fn get(&self, n: u64) -> Result<(), String> {
        let picked = {
            let recent = self.recent.lock();
            (!recent.is_empty()).then(|| recent[(n as usize) % recent.len()].clone())
        };
        let Some((id, sent)) = picked else {
            return self.create(n).await;
        };
        let (status, answer) = self.call("/v1/jobs/get", json!({ "id": id })).await?;
        if !status.is_success() {
            return Err(format!("jobs/get answered {status}: {answer}"));
        }
        if answer["json"]["params"] != sent {
            return Err(format!(
                "jobs/get {id}: params {} are not what was sent ({sent})",
                answer["json"]["params"]
            ));
        }
        self.tally.echoes_checked.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn list(&self) -> Result<(), String> {
        let (status, answer) = self.call("/v1/jobs/list", json!({"limit": 20})).await?;
        if !status.is_success() || !answer["json"]["jobs"].is_array() {
            return Err(format!("jobs/list answered {status}: {answer}"));
        }
        Ok(())
    }

    async fn write(&self, n: u64) -> Result<(), String> {
        let id = &self.credential_ids[(n as usize) % self.credential_ids.len()];
        let input = json!({"id": id, "credentials": {"password": format!("soak-{n}")}});
        let (status, answer) = self.call("/v1/credentials/update", input).await?;
        if !status.is_success() {
            return Err(format!("credentials/update answered {status}: {answer}"));
        }
        Ok(())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

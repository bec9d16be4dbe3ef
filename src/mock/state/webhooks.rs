//! The webhooks routes (`webhooks/create|list|update|delete`) and the endpoint store.
//!
//! A tenant registers endpoints that receive its jobs' results (see `callbacks.rs` for who
//! gets what). An endpoint's `signing_secret` is sealed with AES-SIV like a credential value,
//! bound to its tenant and endpoint id, and never listed. When `create` is given no secret the
//! mock makes one (`whsec_` and 64 hex characters) and returns it once, as `signing_secret` in
//! the create answer, the only time it is shown. The store also seals the per-job and
//! per-schedule callback secrets, so every signing secret at rest is ciphertext. A tenant
//! keeps at most [`MAX_ENDPOINTS`] endpoints, so memory stays bounded; a `description` is at
//! most [`MAX_TEXT_CHARS`] long, and `null` on `update` clears it.

use http::Uri;
use rand::RngCore;
use serde_json::{json, Value};
use tracing::error;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::input::Fields;
use super::tenant::TenantId;
use super::Mock;
use crate::clock;
use crate::envelope::{ApiError, Issue};
use crate::seal::Sealer;
use crate::secret::Secret;

/// Longest accepted URL, description or secret, in characters.
pub const MAX_TEXT_CHARS: usize = 2048;

/// Most endpoints one tenant keeps.
pub const MAX_ENDPOINTS: usize = 100;

/// Why a webhook operation was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WebhookError {
    #[error("Webhook endpoint not found")]
    NotFound,
    #[error("A tenant keeps at most {MAX_ENDPOINTS} webhook endpoints; delete one first")]
    TooMany,
    #[error("The stored signing secret could not be read")]
    Unreadable,
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        let message = err.to_string();
        match err {
            WebhookError::NotFound => ApiError::not_found(message),
            WebhookError::TooMany => ApiError::conflict(message),
            WebhookError::Unreadable => ApiError::internal(message),
        }
    }
}

/// Parses an absolute `http` or `https` URL with a host and, when a port is written, a port
/// from 1 to 65535 (`http::Uri` alone takes `:99999`, and the request would go to port 80).
pub fn http_url(text: &str) -> Option<Uri> {
    let uri: Uri = text.parse().ok()?;
    let web = matches!(uri.scheme_str(), Some("http" | "https"));
    let authority = uri.authority()?.as_str();
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, rest)| rest);
    let (host, port) = match host_and_port.strip_prefix('[') {
        Some(bracketed) => {
            let (inside, after) = bracketed.split_once(']')?;
            (inside, after.strip_prefix(':'))
        }
        None => match host_and_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_and_port, None),
        },
    };
    let port_ok = port.is_none_or(|port| {
        port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p != 0)
    });
    (web && !host.is_empty() && port_ok).then_some(uri)
}

/// Reads an optional URL field, recording `Invalid url` on its path.
pub fn url_field<'a>(fields: &mut Fields<'a>, key: &str, required: bool) -> Option<&'a str> {
    let text = fields.bounded_string(key, required, MAX_TEXT_CHARS)?;
    if http_url(text).is_none() {
        fields.push(Issue::new(
            "invalid_string",
            "Invalid url",
            vec![json!(key)],
        ));
        return None;
    }
    Some(text)
}

/// A fresh signing secret: `whsec_` and 32 random bytes in hex.
pub fn generate_secret() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    Zeroizing::new(format!("whsec_{}", hex::encode(bytes.as_ref())))
}

/// One registered endpoint; the secret only as ciphertext.
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    sealed_secret: Vec<u8>,
    pub description: Option<String>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl Endpoint {
    fn to_json(&self) -> Value {
        json!({
            "webhook_endpoint_id": self.id,
            "url": self.url,
            "description": self.description,
            "active": self.active,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// What `update` changes; `None` leaves a field as it is, `Some(None)` clears the description.
#[derive(Default)]
pub struct EndpointChange<'a> {
    pub url: Option<&'a str>,
    pub secret: Option<&'a str>,
    pub description: Option<Option<&'a str>>,
    pub active: Option<bool>,
}

/// Whose secret a sealed value is, so a ciphertext cannot move between kinds of record.
#[derive(Debug, Clone, Copy)]
pub enum SecretOwner {
    Endpoint,
    Job,
    Schedule,
}

impl SecretOwner {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Endpoint => b"webhook-endpoint",
            Self::Job => b"job-callback",
            Self::Schedule => b"schedule-callback",
        }
    }
}

/// One tenant's endpoints, in the order they were registered.
pub struct WebhookStore {
    tenant: TenantId,
    sealer: Sealer,
    endpoints: Vec<Endpoint>,
}

impl WebhookStore {
    pub fn new(tenant: TenantId, sealer: Sealer) -> Self {
        Self {
            tenant,
            sealer,
            endpoints: Vec::new(),
        }
    }

    /// Seals a signing secret owned by record `id`.
    pub fn seal(
        &self,
        owner: SecretOwner,
        id: Uuid,
        secret: &str,
    ) -> Result<Vec<u8>, WebhookError> {
        let id = id.to_string();
        self.sealer
            .seal(
                &[
                    self.tenant.as_str().as_bytes(),
                    owner.label(),
                    id.as_bytes(),
                ],
                secret.as_bytes(),
            )
            .map_err(|_| WebhookError::Unreadable)
    }

    /// Opens a signing secret sealed by [`WebhookStore::seal`].
    pub fn open(
        &self,
        owner: SecretOwner,
        id: Uuid,
        sealed: &[u8],
    ) -> Result<Secret, WebhookError> {
        let id = id.to_string();
        self.sealer
            .open(
                &[
                    self.tenant.as_str().as_bytes(),
                    owner.label(),
                    id.as_bytes(),
                ],
                sealed,
            )
            .map_err(|_| WebhookError::Unreadable)
    }

    pub fn create(
        &mut self,
        url: &str,
        secret: &str,
        description: Option<&str>,
        active: bool,
    ) -> Result<Uuid, WebhookError> {
        if self.endpoints.len() >= MAX_ENDPOINTS {
            return Err(WebhookError::TooMany);
        }
        let id = Uuid::new_v4();
        let now = clock::now_string();
        self.endpoints.push(Endpoint {
            id,
            url: url.to_string(),
            sealed_secret: self.seal(SecretOwner::Endpoint, id, secret)?,
            description: description.map(str::to_string),
            active,
            created_at: now.clone(),
            updated_at: now,
        });
        Ok(id)
    }

    pub fn list(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter()
    }

    pub fn update(&mut self, id: Uuid, change: &EndpointChange<'_>) -> Result<(), WebhookError> {
        let sealed = match change.secret {
            Some(secret) => Some(self.seal(SecretOwner::Endpoint, id, secret)?),
            None => None,
        };
        let endpoint = self
            .endpoints
            .iter_mut()
            .find(|endpoint| endpoint.id == id)
            .ok_or(WebhookError::NotFound)?;
        if let Some(url) = change.url {
            endpoint.url = url.to_string();
        }
        if let Some(sealed) = sealed {
            endpoint.sealed_secret = sealed;
        }
        if let Some(description) = change.description {
            endpoint.description = description.map(str::to_string);
        }
        if let Some(active) = change.active {
            endpoint.active = active;
        }
        endpoint.updated_at = clock::now_string();
        Ok(())
    }

    pub fn delete(&mut self, id: Uuid) -> Result<(), WebhookError> {
        let before = self.endpoints.len();
        self.endpoints.retain(|endpoint| endpoint.id != id);
        if self.endpoints.len() == before {
            return Err(WebhookError::NotFound);
        }
        Ok(())
    }

    /// Every active endpoint's URL and opened secret; an unusable one is logged and skipped.
    pub fn active_targets(&self) -> Vec<(Uri, Secret)> {
        self.endpoints
            .iter()
            .filter(|endpoint| endpoint.active)
            .filter_map(|endpoint| {
                let url = http_url(&endpoint.url);
                let secret = self
                    .open(SecretOwner::Endpoint, endpoint.id, &endpoint.sealed_secret)
                    .ok();
                if url.is_none() || secret.is_none() {
                    error!(
                        endpoint_id = %endpoint.id,
                        url_ok = url.is_some(),
                        secret_ok = secret.is_some(),
                        "Webhook endpoint unusable; skipped"
                    );
                }
                url.zip(secret)
            })
            .collect()
    }
}

/// `webhooks/create`: `url`, optional `signing_secret`, `description`, `active` →
/// `success`, `webhook_endpoint_id`, `message`, and `signing_secret` when the mock made it.
pub fn create(mock: &Mock, tenant_id: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let url = url_field(&mut fields, "url", true);
    let given_secret = fields.bounded_string("signing_secret", false, MAX_TEXT_CHARS);
    let description = fields.bounded_string("description", false, MAX_TEXT_CHARS);
    let active = fields.bool("active").unwrap_or(true);
    fields.finish()?;
    let Some(url) = url else {
        return Err(ApiError::validation(Vec::new()));
    };
    let generated = given_secret.is_none().then(generate_secret);
    let secret = given_secret
        .or(generated.as_ref().map(|s| s.as_str()))
        .unwrap_or_default();
    let id = mock
        .tenant(tenant_id)
        .lock()
        .webhooks
        .create(url, secret, description, active)?;
    let mut answer = json!({
        "success": true,
        "webhook_endpoint_id": id,
        "message": "Webhook endpoint created successfully",
    });
    if let Some(generated) = &generated {
        answer["signing_secret"] = json!(generated.as_str());
    }
    Ok(answer)
}

/// `webhooks/list` → `webhook_endpoints`, oldest first, never secrets.
pub fn list(mock: &Mock, tenant_id: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    Fields::new(input, true).finish()?;
    let tenant = mock.tenant(tenant_id);
    let tenant = tenant.lock();
    let endpoints: Vec<Value> = tenant.webhooks.list().map(Endpoint::to_json).collect();
    Ok(json!({ "webhook_endpoints": endpoints }))
}

/// `webhooks/update`: `id` and optional `url`, `signing_secret`, `description` (`null`
/// clears it), `active` → `success`, `message`.
pub fn update(mock: &Mock, tenant_id: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let id = fields.uuid("id", true);
    let description_is_null = input
        .and_then(|input| input.get("description"))
        .is_some_and(Value::is_null);
    let description = fields.bounded_string("description", false, MAX_TEXT_CHARS);
    let change = EndpointChange {
        url: url_field(&mut fields, "url", false),
        secret: fields.bounded_string("signing_secret", false, MAX_TEXT_CHARS),
        description: if description_is_null {
            Some(None)
        } else {
            description.map(Some)
        },
        active: fields.bool("active"),
    };
    fields.finish()?;
    let Some(id) = id else {
        return Err(ApiError::validation(Vec::new()));
    };
    mock.tenant(tenant_id).lock().webhooks.update(id, &change)?;
    Ok(json!({ "success": true, "message": "Webhook endpoint updated successfully" }))
}

/// `webhooks/delete`: `id` → `success`, `message`.
pub fn delete(mock: &Mock, tenant_id: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let id = fields.uuid("id", true);
    fields.finish()?;
    let Some(id) = id else {
        return Err(ApiError::validation(Vec::new()));
    };
    mock.tenant(tenant_id).lock().webhooks.delete(id)?;
    Ok(json!({ "success": true, "message": "Webhook endpoint deleted successfully" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> WebhookStore {
        WebhookStore::new(TenantId::from_api_key(b"k"), Sealer::random())
    }

    #[test]
    fn urls_must_be_web_urls() {
        assert!(http_url("http://127.0.0.1:9/hook").is_some());
        assert!(http_url("https://hooks.example/in?x=1").is_some());
        assert!(http_url("http://127.0.0.1:65535/x").is_some());
        assert!(http_url("http://user:pw@hooks.example:8080/x").is_some());
        assert!(http_url("http://[::1]:8080/x").is_some());
        assert!(http_url("http://[::1]/x").is_some());
        for bad in [
            "ftp://x/y",
            "/relative",
            "not a url",
            "http://",
            "mailto:a@b",
            "http://127.0.0.1:99999/x",
            "http://127.0.0.1:65536/x",
            "http://127.0.0.1:0/x",
            "http://127.0.0.1:/x",
            "http://:80/x",
            "http://user@:80/x",
            "http://[::1]:70000/x",
            "http://[]:80/x",
        ] {
            assert!(http_url(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn generated_secrets_are_fresh() {
        let a = generate_secret();
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64);
        assert_ne!(*a, *generate_secret());
    }

    #[test]
    fn secrets_are_sealed_and_bound_to_their_owner() {
        let store = store();
        let id = Uuid::new_v4();
        let sealed = store.seal(SecretOwner::Job, id, "s3cret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
        assert!(store
            .open(SecretOwner::Job, id, &sealed)
            .unwrap()
            .ct_eq(b"s3cret"));
        assert!(store.open(SecretOwner::Schedule, id, &sealed).is_err());
        assert!(store
            .open(SecretOwner::Job, Uuid::new_v4(), &sealed)
            .is_err());
    }

    #[test]
    fn only_active_endpoints_are_targets() {
        let mut store = store();
        let on = store
            .create("http://127.0.0.1:1/a", "one", None, true)
            .unwrap();
        let off = store
            .create("http://127.0.0.1:1/b", "two", Some("d"), false)
            .unwrap();
        let targets = store.active_targets();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].0.path(), "/a");
        assert!(targets[0].1.ct_eq(b"one"));
        store
            .update(
                off,
                &EndpointChange {
                    active: Some(true),
                    secret: Some("new"),
                    ..Default::default()
                },
            )
            .unwrap();
        store.delete(on).unwrap();
        let targets = store.active_targets();
        assert_eq!(targets.len(), 1);
        assert!(targets[0].1.ct_eq(b"new"));
        assert_eq!(store.delete(on), Err(WebhookError::NotFound));
        store
            .update(
                off,
                &EndpointChange {
                    description: Some(None),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(store.list().next().unwrap().description, None);
        assert_eq!(
            store.update(on, &EndpointChange::default()),
            Err(WebhookError::NotFound)
        );
    }

    #[test]
    fn a_tenant_keeps_a_bounded_number_of_endpoints() {
        let mut store = store();
        for n in 0..MAX_ENDPOINTS {
            store
                .create(&format!("http://127.0.0.1:1/{n}"), "s", None, true)
                .unwrap();
        }
        assert_eq!(
            store.create("http://127.0.0.1:1/x", "s", None, true),
            Err(WebhookError::TooMany)
        );
        let first = store.list().next().unwrap().id;
        store.delete(first).unwrap();
        assert!(store
            .create("http://127.0.0.1:1/x", "s", None, true)
            .is_ok());
    }
}

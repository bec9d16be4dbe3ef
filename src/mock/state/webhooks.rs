//! The webhook store: one tenant's endpoints, and the sealing of every signing secret.
//!
//! A tenant registers endpoints that receive its jobs' results (see `engine/callbacks.rs` for
//! who gets what). An endpoint's signing secret is sealed with AES-SIV like a credential value,
//! bound to its tenant and endpoint id, and never listed. The store also seals the per-job and
//! per-schedule callback secrets ([`SecretOwner`] says whose a ciphertext is), so every signing
//! secret at rest is ciphertext. A tenant keeps at most [`MAX_ENDPOINTS`] endpoints, so memory
//! stays bounded.

use http::Uri;
use serde_json::{json, Value};
use tracing::error;
use uuid::Uuid;

use super::budget::overhead;
use super::tenant_id::TenantId;
use crate::http::envelope::ApiError;
use crate::mock::input::url::http_url;
use crate::runtime::clock;
use crate::secret::seal::Sealer;
use crate::secret::Secret;

/// Most endpoints one tenant keeps.
pub(crate) const MAX_ENDPOINTS: usize = 100;

/// Why a webhook operation was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum WebhookError {
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

/// One registered endpoint; the secret only as ciphertext.
pub(crate) struct Endpoint {
    pub(crate) id: Uuid,
    pub(crate) url: String,
    sealed_secret: Vec<u8>,
    pub(crate) description: Option<String>,
    pub(crate) active: bool,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

impl Endpoint {
    pub(crate) fn to_json(&self) -> Value {
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
pub(crate) struct EndpointChange<'a> {
    pub(crate) url: Option<&'a str>,
    pub(crate) secret: Option<&'a str>,
    pub(crate) description: Option<Option<&'a str>>,
    pub(crate) active: Option<bool>,
}

/// Whose secret a sealed value is, so a ciphertext cannot move between kinds of record.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SecretOwner {
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
pub(crate) struct WebhookStore {
    tenant: TenantId,
    sealer: Sealer,
    endpoints: Vec<Endpoint>,
}

impl WebhookStore {
    pub(crate) fn new(tenant: TenantId, sealer: Sealer) -> Self {
        Self {
            tenant,
            sealer,
            endpoints: Vec::new(),
        }
    }

    /// Seals a signing secret owned by record `id`.
    pub(crate) fn seal(
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
    pub(crate) fn open(
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

    pub(crate) fn create(
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

    /// Bytes its endpoints take (at most [`MAX_ENDPOINTS`], so counted when asked).
    pub(crate) fn bytes(&self) -> usize {
        self.endpoints
            .iter()
            .map(|endpoint| {
                overhead::ENDPOINT
                    + endpoint.url.len()
                    + endpoint.sealed_secret.len()
                    + endpoint.description.as_ref().map_or(0, String::len)
            })
            .sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    pub(crate) fn list(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter()
    }

    pub(crate) fn update(
        &mut self,
        id: Uuid,
        change: &EndpointChange<'_>,
    ) -> Result<(), WebhookError> {
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

    pub(crate) fn delete(&mut self, id: Uuid) -> Result<(), WebhookError> {
        let before = self.endpoints.len();
        self.endpoints.retain(|endpoint| endpoint.id != id);
        if self.endpoints.len() == before {
            return Err(WebhookError::NotFound);
        }
        Ok(())
    }

    /// Every active endpoint's URL and opened secret; an unusable one is logged and skipped.
    pub(crate) fn active_targets(&self) -> Vec<(Uri, Secret)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> WebhookStore {
        WebhookStore::new(TenantId::from_api_key(b"k"), Sealer::random())
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

//! Credentials as the sidecar sees them: one [`Credentials`] handle over the sealed,
//! single-flight cache, the upstream lookup behind it and the known secrets every fetched
//! value is taught to, and the resolution of a scanned body's credentials through it.

pub mod cache;
pub(crate) mod resolve;

use std::collections::HashMap;

use futures_util::future::join_all;
use http::HeaderValue;
use serde_json::Value;

use crate::secret::WipeOnDrop;
use crate::sidecar::answer::known_secrets::KnownSecrets;
use crate::sidecar::error::SidecarError;
use crate::sidecar::upstream::credential_answer::FetchedCredential;
use crate::sidecar::upstream::{Upstream, UpstreamError};
use cache::{CacheError, CachedCredential, CredentialCache, Lookup};

/// The cache, the upstream it fills from, and the known secrets it teaches. Cheap to clone.
#[derive(Clone)]
pub struct Credentials {
    cache: CredentialCache,
    upstream: Upstream,
    known: KnownSecrets,
}

/// The credentials found (names the upstream does not know are absent) and how many lookups
/// the cache answered itself.
pub struct Fetched {
    pub found: HashMap<String, CachedCredential>,
    pub hits: usize,
    pub misses: usize,
}

impl Credentials {
    pub fn new(cache: CredentialCache, upstream: Upstream, known: KnownSecrets) -> Self {
        Self {
            cache,
            upstream,
            known,
        }
    }

    pub fn cache(&self) -> &CredentialCache {
        &self.cache
    }

    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    pub fn known(&self) -> &KnownSecrets {
        &self.known
    }

    /// One credential through the cache (`None`: no such credential), with whether the cache
    /// answered it.
    pub async fn get(
        &self,
        name: &str,
        request_id: Option<&HeaderValue>,
    ) -> Result<(Option<CachedCredential>, Lookup), CacheError> {
        self.cache
            .lookup(name, || self.fetch_and_learn(name, request_id))
            .await
    }

    /// Fetches every named credential at once through the cache. Any failure other than "no
    /// such credential" fails the whole request.
    pub async fn fetch_all(
        &self,
        names: &[String],
        request_id: &HeaderValue,
    ) -> Result<Fetched, SidecarError> {
        let lookups = names.iter().map(|name| async move {
            let (found, lookup) = self
                .get(name, Some(request_id))
                .await
                .map_err(|err| SidecarError::lookup(name, err))?;
            Ok::<_, SidecarError>((name, found, lookup))
        });
        let mut fetched = Fetched {
            found: HashMap::with_capacity(names.len()),
            hits: 0,
            misses: 0,
        };
        for result in join_all(lookups).await {
            let (name, credential, lookup) = result?;
            match lookup {
                Lookup::Hit => fetched.hits += 1,
                Lookup::Miss => fetched.misses += 1,
            }
            if let Some(credential) = credential {
                fetched.found.insert(name.clone(), credential);
            }
        }
        Ok(fetched)
    }

    /// Fetches one credential from upstream and teaches its value to the known secrets: every
    /// cache fill goes through here, so a value is scrubbed from answers whether a job or a
    /// prefetch brought it in.
    async fn fetch_and_learn(
        &self,
        name: &str,
        request_id: Option<&HeaderValue>,
    ) -> Result<Option<FetchedCredential>, UpstreamError> {
        let fetched = self.upstream.get_credential(name, request_id).await?;
        if let Some(credential) = &fetched {
            if let Ok(value) = serde_json::from_slice::<Value>(credential.value.expose()) {
                // A value that cannot be learned is refused when a job uses it (see
                // `resolve`); the refusal is logged there and by the known secrets.
                let _ = self.known.learn(name, &WipeOnDrop::new(value));
            }
        }
        Ok(fetched)
    }
}

//! The credential store: one tenant's credentials, their values sealed.
//!
//! A credential's value is any JSON (an object in the seed's API, a string in production's
//! newer shape). It is serialized and sealed with AES-SIV, bound to its tenant and credential
//! id, and opened only inside the request that reads or merges it, so plaintext never rests
//! in memory. Updates merge with JSON Merge Patch (RFC 7396): nested objects merge and `null`
//! removes a key. Deleting is the tenant's decision together with its jobs, so the store only
//! removes; the `credentials/delete` route checks live references under the same lock.

use std::collections::HashMap;

use serde_json::{json, Value};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::budget::overhead;
use super::tenant_id::TenantId;
use crate::http::envelope::ApiError;
use crate::runtime::clock;
use crate::secret::seal::Sealer;

/// Why a credential operation was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum CredentialError {
    #[error("A credential named \"{0}\" already exists")]
    NameTaken(String),
    #[error("Credential not found")]
    NotFound,
    #[error("Credential is referenced by queued or running jobs")]
    InUse(Vec<Uuid>),
    #[error("The stored credential could not be read")]
    Unreadable,
}

impl From<CredentialError> for ApiError {
    fn from(err: CredentialError) -> Self {
        let message = err.to_string();
        match err {
            CredentialError::NameTaken(_) => ApiError::conflict(message),
            CredentialError::NotFound => ApiError::not_found(message),
            CredentialError::InUse(job_ids) => {
                ApiError::conflict(message).with_data(json!({ "job_ids": job_ids }))
            }
            CredentialError::Unreadable => ApiError::internal(message),
        }
    }
}

/// One stored credential; the value only as ciphertext.
pub(crate) struct Credential {
    pub(crate) id: Uuid,
    seq: u64,
    pub(crate) name: String,
    sealed: Vec<u8>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

impl Credential {
    /// Bytes it takes: its name (kept twice, here and in the name index) and ciphertext.
    fn bytes(&self) -> usize {
        overhead::CREDENTIAL + 2 * self.name.len() + self.sealed.len()
    }
}

/// What AES-SIV adds to a plaintext: its 16-byte synthetic IV.
const SIV_TAG: usize = 16;

/// Bytes a credential called `name` with a value of `value_len` bytes of JSON would take.
pub(crate) fn credential_cost(name: &str, value_len: usize) -> usize {
    overhead::CREDENTIAL + 2 * name.len() + value_len + SIV_TAG
}

/// How `update` changes a stored value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change<'a> {
    /// Merge a patch (RFC 7396) into the stored value.
    Merge(&'a Value),
    /// Merge when both the stored value and this one are objects, else replace.
    MergeOrReplace(&'a Value),
}

/// Applies a change to a stored value.
fn apply_change(stored: &mut Value, change: Change<'_>) {
    match change {
        Change::Merge(patch) => json_patch::merge(stored, patch),
        Change::MergeOrReplace(value) if stored.is_object() && value.is_object() => {
            json_patch::merge(stored, value);
        }
        Change::MergeOrReplace(value) => *stored = value.clone(),
    }
}

/// One tenant's credentials.
pub(crate) struct CredentialStore {
    tenant: TenantId,
    sealer: Sealer,
    by_id: HashMap<Uuid, Credential>,
    by_name: HashMap<String, Uuid>,
    /// Bytes its credentials take (see `budget.rs`).
    bytes: usize,
}

impl CredentialStore {
    pub(crate) fn new(tenant: TenantId, sealer: Sealer) -> Self {
        Self {
            tenant,
            sealer,
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            bytes: 0,
        }
    }

    fn seal(&self, id: Uuid, value: &Value) -> Result<Vec<u8>, CredentialError> {
        let plaintext =
            Zeroizing::new(serde_json::to_vec(value).map_err(|_| CredentialError::Unreadable)?);
        let id = id.to_string();
        self.sealer
            .seal(
                &[self.tenant.as_str().as_bytes(), id.as_bytes()],
                &plaintext,
            )
            .map_err(|_| CredentialError::Unreadable)
    }

    fn open(&self, credential: &Credential) -> Result<Value, CredentialError> {
        let id = credential.id.to_string();
        let plaintext = self
            .sealer
            .open(
                &[self.tenant.as_str().as_bytes(), id.as_bytes()],
                &credential.sealed,
            )
            .map_err(|_| CredentialError::Unreadable)?;
        serde_json::from_slice(plaintext.expose()).map_err(|_| CredentialError::Unreadable)
    }

    /// Bytes its credentials take.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub(crate) fn exists(&self, id: Uuid) -> bool {
        self.by_id.contains_key(&id)
    }

    /// Stores a new credential under an unused name.
    pub(crate) fn create(
        &mut self,
        seq: u64,
        name: &str,
        value: &Value,
    ) -> Result<Uuid, CredentialError> {
        if self.by_name.contains_key(name) {
            return Err(CredentialError::NameTaken(name.to_string()));
        }
        let id = Uuid::new_v4();
        let sealed = self.seal(id, value)?;
        let now = clock::now_string();
        self.by_name.insert(name.to_string(), id);
        let credential = Credential {
            id,
            seq,
            name: name.to_string(),
            sealed,
            created_at: now.clone(),
            updated_at: now,
        };
        self.bytes += credential.bytes();
        self.by_id.insert(id, credential);
        Ok(id)
    }

    /// Stores `value` under `name`, replacing any value stored there; tells whether it did.
    pub(crate) fn upsert(
        &mut self,
        seq: u64,
        name: &str,
        value: &Value,
    ) -> Result<(Uuid, bool), CredentialError> {
        let Some(&id) = self.by_name.get(name) else {
            return self.create(seq, name, value).map(|id| (id, false));
        };
        let sealed = self.seal(id, value)?;
        let credential = self.by_id.get_mut(&id).ok_or(CredentialError::NotFound)?;
        self.bytes -= credential.bytes();
        credential.sealed = sealed;
        credential.updated_at = clock::now_string();
        self.bytes += credential.bytes();
        Ok((id, true))
    }

    /// Every credential, oldest first.
    pub(crate) fn list(&self) -> Vec<&Credential> {
        let mut all: Vec<&Credential> = self.by_id.values().collect();
        all.sort_by_key(|credential| credential.seq);
        all
    }

    /// The id and opened value of the credential called `name`.
    pub(crate) fn get(&self, name: &str) -> Result<(Uuid, Value), CredentialError> {
        let id = self.by_name.get(name).ok_or(CredentialError::NotFound)?;
        let credential = self.by_id.get(id).ok_or(CredentialError::NotFound)?;
        Ok((credential.id, self.open(credential)?))
    }

    /// Renames and/or changes a credential; `updated_at` moves either way.
    pub(crate) fn update(
        &mut self,
        id: Uuid,
        name: Option<&str>,
        change: Option<Change<'_>>,
    ) -> Result<(), CredentialError> {
        let credential = self.by_id.get(&id).ok_or(CredentialError::NotFound)?;
        if let Some(name) = name {
            if self.by_name.get(name).is_some_and(|owner| *owner != id) {
                return Err(CredentialError::NameTaken(name.to_string()));
            }
        }
        let sealed = match change {
            Some(change) => {
                let mut value = self.open(credential)?;
                apply_change(&mut value, change);
                Some(self.seal(id, &value)?)
            }
            None => None,
        };
        let credential = self.by_id.get_mut(&id).ok_or(CredentialError::NotFound)?;
        self.bytes -= credential.bytes();
        if let Some(sealed) = sealed {
            credential.sealed = sealed;
        }
        if let Some(name) = name {
            if credential.name != name {
                self.by_name.remove(&credential.name);
                self.by_name.insert(name.to_string(), id);
                credential.name = name.to_string();
            }
        }
        credential.updated_at = clock::now_string();
        self.bytes += credential.bytes();
        Ok(())
    }

    /// Removes a credential. The caller has checked that no live job references it.
    pub(crate) fn remove(&mut self, id: Uuid) -> Result<(), CredentialError> {
        let credential = self.by_id.remove(&id).ok_or(CredentialError::NotFound)?;
        self.bytes -= credential.bytes();
        self.by_name.remove(&credential.name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> CredentialStore {
        CredentialStore::new(TenantId::from_api_key(b"k"), Sealer::random())
    }

    #[test]
    fn values_round_trip_sealed() {
        let mut store = store();
        let value = json!({"password": "pa$$ \"q\" ü", "port": 8443});
        let id = store.create(1, "a", &value).unwrap();
        let sealed = &store.by_id[&id].sealed;
        assert!(!sealed.windows(8).any(|w| w == b"password"));
        assert_eq!(store.get("a").unwrap(), (id, value));
    }

    #[test]
    fn names_are_unique() {
        let mut store = store();
        let a = store.create(1, "a", &json!("x")).unwrap();
        store.create(2, "b", &json!("y")).unwrap();
        assert_eq!(
            store.create(3, "a", &json!({})),
            Err(CredentialError::NameTaken("a".into()))
        );
        assert_eq!(
            store.update(a, Some("b"), None),
            Err(CredentialError::NameTaken("b".into()))
        );
        store.update(a, Some("a"), None).unwrap();
        store.update(a, Some("c"), None).unwrap();
        assert!(store.get("a").is_err());
        assert_eq!(store.get("c").unwrap().0, a);
    }

    #[test]
    fn merge_patch_semantics() {
        let mut stored = json!({"a": 1, "nested": {"x": 1, "y": 2}, "gone": true});
        apply_change(
            &mut stored,
            Change::Merge(&json!({"nested": {"y": null, "z": 3}, "gone": null, "b": 2})),
        );
        assert_eq!(stored, json!({"a": 1, "nested": {"x": 1, "z": 3}, "b": 2}));
    }

    #[test]
    fn non_object_values_replace() {
        let mut stored = json!({"a": 1});
        apply_change(&mut stored, Change::MergeOrReplace(&json!("secret")));
        assert_eq!(stored, json!("secret"));
        apply_change(&mut stored, Change::MergeOrReplace(&json!({"b": 1})));
        assert_eq!(stored, json!({"b": 1}));
        apply_change(&mut stored, Change::MergeOrReplace(&json!({"c": 1})));
        assert_eq!(stored, json!({"b": 1, "c": 1}));
    }

    #[test]
    fn upsert_overwrites_in_place() {
        let mut store = store();
        let (id, overwritten) = store.upsert(1, "a", &json!("one")).unwrap();
        assert!(!overwritten);
        assert_eq!(store.upsert(2, "a", &json!("two")).unwrap(), (id, true));
        assert_eq!(store.get("a").unwrap().1, json!("two"));
    }

    #[test]
    fn remove_frees_the_name() {
        let mut store = store();
        let id = store.create(1, "a", &json!({})).unwrap();
        store.remove(id).unwrap();
        assert_eq!(store.remove(id), Err(CredentialError::NotFound));
        store.create(2, "a", &json!({})).unwrap();
    }
}

//! The credentials routes (`credentials/create|list|get|update|delete|upsert`) and the store
//! behind them.
//!
//! A credential's value is any JSON (an object in the seed's API, a string in production's
//! newer shape). It is serialized and sealed with AES-SIV, bound to its tenant and credential
//! id, and opened only inside the request that reads or merges it, so plaintext never rests
//! in memory. Updates merge with JSON Merge Patch (RFC 7396): nested objects merge and `null`
//! removes a key. Deleting is the tenant's decision together with its jobs (see `jobs.rs`), so
//! the store only removes; the route checks live references under the same lock.

use std::collections::HashMap;

use serde_json::{json, Value};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::input::Fields;
use super::tenant::TenantId;
use super::Mock;
use crate::clock;
use crate::envelope::{ApiError, Issue};
use crate::seal::Sealer;

/// The issue of a `credentials/update` that names no change.
pub const NOTHING_TO_UPDATE: &str = "Nothing to update: send name, credentials or value";

/// Why a credential operation was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CredentialError {
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
pub struct Credential {
    pub id: Uuid,
    seq: u64,
    pub name: String,
    sealed: Vec<u8>,
    pub created_at: String,
    pub updated_at: String,
}

/// How `update` changes a stored value.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// Merge a patch (RFC 7396) into the stored value.
    Merge(&'a Value),
    /// Merge when both the stored value and this one are objects, else replace.
    MergeOrReplace(&'a Value),
}

/// Applies a change to a stored value.
pub fn apply_change(stored: &mut Value, change: Change<'_>) {
    match change {
        Change::Merge(patch) => json_patch::merge(stored, patch),
        Change::MergeOrReplace(value) if stored.is_object() && value.is_object() => {
            json_patch::merge(stored, value);
        }
        Change::MergeOrReplace(value) => *stored = value.clone(),
    }
}

/// One tenant's credentials.
pub struct CredentialStore {
    tenant: TenantId,
    sealer: Sealer,
    by_id: HashMap<Uuid, Credential>,
    by_name: HashMap<String, Uuid>,
}

impl CredentialStore {
    pub fn new(tenant: TenantId, sealer: Sealer) -> Self {
        Self {
            tenant,
            sealer,
            by_id: HashMap::new(),
            by_name: HashMap::new(),
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

    pub fn exists(&self, id: Uuid) -> bool {
        self.by_id.contains_key(&id)
    }

    /// Stores a new credential under an unused name.
    pub fn create(&mut self, seq: u64, name: &str, value: &Value) -> Result<Uuid, CredentialError> {
        if self.by_name.contains_key(name) {
            return Err(CredentialError::NameTaken(name.to_string()));
        }
        let id = Uuid::new_v4();
        let sealed = self.seal(id, value)?;
        let now = clock::now_string();
        self.by_name.insert(name.to_string(), id);
        self.by_id.insert(
            id,
            Credential {
                id,
                seq,
                name: name.to_string(),
                sealed,
                created_at: now.clone(),
                updated_at: now,
            },
        );
        Ok(id)
    }

    /// Stores `value` under `name`, replacing any value stored there; tells whether it did.
    pub fn upsert(
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
        credential.sealed = sealed;
        credential.updated_at = clock::now_string();
        Ok((id, true))
    }

    /// Every credential, oldest first.
    pub fn list(&self) -> Vec<&Credential> {
        let mut all: Vec<&Credential> = self.by_id.values().collect();
        all.sort_by_key(|credential| credential.seq);
        all
    }

    /// The id and opened value of the credential called `name`.
    pub fn get(&self, name: &str) -> Result<(Uuid, Value), CredentialError> {
        let id = self.by_name.get(name).ok_or(CredentialError::NotFound)?;
        let credential = self.by_id.get(id).ok_or(CredentialError::NotFound)?;
        Ok((credential.id, self.open(credential)?))
    }

    /// Renames and/or changes a credential; `updated_at` moves either way.
    pub fn update(
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
        Ok(())
    }

    /// Removes a credential. The caller has checked that no live job references it.
    pub fn remove(&mut self, id: Uuid) -> Result<(), CredentialError> {
        let credential = self.by_id.remove(&id).ok_or(CredentialError::NotFound)?;
        self.by_name.remove(&credential.name);
        Ok(())
    }
}

/// The value a create carries: `credentials` (an object, the seed's shape) or `value` (any
/// JSON, production's newer shape). `credentials` wins when both are sent.
fn read_value<'a>(fields: &mut Fields<'a>) -> Option<&'a Value> {
    if fields.value("credentials").is_some() || fields.value("value").is_none() {
        return fields
            .object("credentials", true)
            .and_then(|_| fields.value("credentials"));
    }
    fields.value("value")
}

/// `credentials/create`: `name`, `credentials` | `value` → `success`, `credential_id`, `message`.
pub fn create(mock: &Mock, tenant: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let name = fields.name("name", true);
    let value = read_value(&mut fields);
    fields.finish()?;
    let (Some(name), Some(value)) = (name, value) else {
        return Err(ApiError::validation(Vec::new()));
    };
    let tenant = mock.tenant(tenant);
    let mut tenant = tenant.lock();
    let seq = tenant.next_seq();
    let id = tenant.credentials.create(seq, name, value)?;
    Ok(json!({
        "success": true,
        "credential_id": id,
        "message": "Credential created successfully",
    }))
}

/// `credentials/upsert`: `name`, `value` → `success`, `credential_id`, `overwritten`, `message`.
pub fn upsert(mock: &Mock, tenant: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let name = fields.name("name", true);
    let value = fields.required_value("value");
    fields.finish()?;
    let (Some(name), Some(value)) = (name, value) else {
        return Err(ApiError::validation(Vec::new()));
    };
    let tenant = mock.tenant(tenant);
    let mut tenant = tenant.lock();
    let seq = tenant.next_seq();
    let (id, overwritten) = tenant.credentials.upsert(seq, name, value)?;
    let message = if overwritten {
        "Credential updated successfully"
    } else {
        "Credential created successfully"
    };
    Ok(json!({
        "success": true,
        "credential_id": id,
        "overwritten": overwritten,
        "message": message,
    }))
}

/// `credentials/list` → `credentials: [{credential_id, name, created_at, updated_at}]`.
pub fn list(mock: &Mock, tenant: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    Fields::new(input, true).finish()?;
    let tenant = mock.tenant_or_empty(tenant);
    let tenant = tenant.lock();
    let credentials: Vec<Value> = tenant
        .credentials
        .list()
        .into_iter()
        .map(|credential| {
            json!({
                "credential_id": credential.id,
                "name": credential.name,
                "created_at": credential.created_at,
                "updated_at": credential.updated_at,
            })
        })
        .collect();
    Ok(json!({ "credentials": credentials }))
}

/// `credentials/get`: `name` → `id`, `value`.
pub fn get(mock: &Mock, tenant: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let name = fields.name("name", true);
    fields.finish()?;
    let Some(name) = name else {
        return Err(ApiError::validation(Vec::new()));
    };
    let tenant = mock.tenant_or_empty(tenant);
    let tenant = tenant.lock();
    let (id, value) = tenant.credentials.get(name)?;
    Ok(json!({ "id": id, "value": value }))
}

/// `credentials/update`: `id`, optional `name`, optional `credentials` | `value` → `success`,
/// `message`.
pub fn update(mock: &Mock, tenant: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let id = fields.uuid("id", true);
    let name = fields.name("name", false);
    if ["name", "credentials", "value"]
        .iter()
        .all(|key| fields.value(key).is_none())
    {
        fields.push(Issue::new("custom", NOTHING_TO_UPDATE, vec![]));
    }
    let change = if fields.value("credentials").is_some() {
        fields
            .object("credentials", false)
            .and_then(|_| fields.value("credentials"))
            .map(Change::Merge)
    } else {
        fields.value("value").map(Change::MergeOrReplace)
    };
    fields.finish()?;
    let Some(id) = id else {
        return Err(ApiError::validation(Vec::new()));
    };
    let tenant = mock.tenant_or_empty(tenant);
    let mut tenant = tenant.lock();
    tenant.credentials.update(id, name, change)?;
    Ok(json!({ "success": true, "message": "Credential updated successfully" }))
}

/// `credentials/delete`: `id` → `success`, `message`; refused while live jobs reference it.
pub fn delete(mock: &Mock, tenant: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let id = fields.uuid("id", true);
    fields.finish()?;
    let Some(id) = id else {
        return Err(ApiError::validation(Vec::new()));
    };
    let tenant = mock.tenant_or_empty(tenant);
    let mut tenant = tenant.lock();
    if !tenant.credentials.exists(id) {
        return Err(CredentialError::NotFound.into());
    }
    // Checked and removed under the tenant's lock, which `jobs/create` also holds while it
    // checks references and inserts its job: no job can slip in between.
    let live = tenant.jobs.live_referencing(id);
    if !live.is_empty() {
        return Err(CredentialError::InUse(live).into());
    }
    tenant.credentials.remove(id)?;
    Ok(json!({ "success": true, "message": "Credential deleted successfully" }))
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

//! The credentials routes: `credentials/create|list|get|update|delete|upsert`.
//!
//! Each reads and checks its input, then acts on the tenant's credential store
//! (`state/credentials.rs`) under the tenant's lock. `update` merges with JSON Merge Patch
//! (`credentials`) or merges-or-replaces (`value`). `delete` is refused (409, `data.job_ids`)
//! while a queued or running job references the credential, checked under the same lock that
//! `jobs/create` holds while it checks references and inserts its job.

use serde_json::{json, Value};

use crate::http::envelope::{ApiError, Issue};
use crate::mock::engine::core::Core;
use crate::mock::input::{read_id, Fields};
use crate::mock::state::credentials::{credential_cost, Change, CredentialError};
use crate::mock::state::tenant_id::TenantId;

/// The issue of a `credentials/update` that names no change.
const NOTHING_TO_UPDATE: &str = "Nothing to update: send name, credentials or value";

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
pub(crate) fn create(
    core: &Core,
    tenant: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let name = fields.name("name", true);
    let value = read_value(&mut fields);
    fields.finish()?;
    let (Some(name), Some(value)) = (name, value) else {
        return Err(ApiError::validation(Vec::new()));
    };
    let tenant_id = tenant;
    let tenant = core.tenant(tenant_id)?;
    let mut tenant = tenant.lock();
    let cost = credential_cost(name, value.to_string().len());
    core.make_room(&mut tenant, tenant_id, cost)?;
    let seq = tenant.next_seq();
    let id = tenant.credentials.create(seq, name, value)?;
    Ok(json!({
        "success": true,
        "credential_id": id,
        "message": "Credential created successfully",
    }))
}

/// `credentials/upsert`: `name`, `value` → `success`, `credential_id`, `overwritten`, `message`.
pub(crate) fn upsert(
    core: &Core,
    tenant: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let name = fields.name("name", true);
    let value = fields.required_value("value");
    fields.finish()?;
    let (Some(name), Some(value)) = (name, value) else {
        return Err(ApiError::validation(Vec::new()));
    };
    let tenant_id = tenant;
    let tenant = core.tenant(tenant_id)?;
    let mut tenant = tenant.lock();
    let cost = credential_cost(name, value.to_string().len());
    core.make_room(&mut tenant, tenant_id, cost)?;
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
pub(crate) fn list(
    core: &Core,
    tenant: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    Fields::new(input, true).finish()?;
    let tenant = core.tenant_or_empty(tenant);
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
pub(crate) fn get(
    core: &Core,
    tenant: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let name = fields.name("name", true);
    fields.finish()?;
    let Some(name) = name else {
        return Err(ApiError::validation(Vec::new()));
    };
    let tenant = core.tenant_or_empty(tenant);
    let tenant = tenant.lock();
    let (id, value) = tenant.credentials.get(name)?;
    Ok(json!({ "id": id, "value": value }))
}

/// `credentials/update`: `id`, optional `name`, optional `credentials` | `value` → `success`,
/// `message`.
pub(crate) fn update(
    core: &Core,
    tenant: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
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
    let tenant_id = tenant;
    let tenant = core.tenant_or_empty(tenant_id);
    let mut tenant = tenant.lock();
    if tenant.credentials.exists(id) {
        // At most what the change adds: a merge grows the value by no more than the patch.
        let patch = match change {
            Some(Change::Merge(value) | Change::MergeOrReplace(value)) => value.to_string().len(),
            None => 0,
        };
        let cost = credential_cost(name.unwrap_or_default(), patch);
        core.make_room(&mut tenant, tenant_id, cost)?;
    }
    tenant.credentials.update(id, name, change)?;
    Ok(json!({ "success": true, "message": "Credential updated successfully" }))
}

/// `credentials/delete`: `id` → `success`, `message`; refused while live jobs reference it.
pub(crate) fn delete(
    core: &Core,
    tenant: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let id = read_id(input)?;
    let tenant = core.tenant_or_empty(tenant);
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

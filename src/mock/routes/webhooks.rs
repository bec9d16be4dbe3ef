//! The webhooks routes: `webhooks/create|list|update|delete`.
//!
//! An endpoint's URL must be a web URL (`input/url.rs`). When `create` is given no
//! `signing_secret` the mock makes one (`whsec_` and 64 hex characters) and returns it once,
//! as `signing_secret` in the create answer, the only time it is shown; the store keeps it
//! sealed and never lists it (`state/webhooks.rs`). A `description` is at most
//! [`MAX_TEXT_CHARS`] long, and `null` on `update` clears it.

use rand::RngCore;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::http::envelope::ApiError;
use crate::mock::engine::core::Core;
use crate::mock::input::url::url_field;
use crate::mock::input::{read_id, Fields, MAX_TEXT_CHARS};
use crate::mock::state::budget::overhead;
use crate::mock::state::tenant_id::TenantId;
use crate::mock::state::webhooks::{Endpoint, EndpointChange};

/// A fresh signing secret: `whsec_` and 32 random bytes in hex.
fn generate_secret() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    Zeroizing::new(format!("whsec_{}", hex::encode(bytes.as_ref())))
}

/// `webhooks/create`: `url`, optional `signing_secret`, `description`, `active` →
/// `success`, `webhook_endpoint_id`, `message`, and `signing_secret` when the mock made it.
pub(crate) fn create(
    core: &Core,
    tenant_id: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
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
    let id = {
        let tenant = core.tenant(tenant_id)?;
        let mut tenant = tenant.lock();
        let cost =
            overhead::ENDPOINT + url.len() + secret.len() + 16 + description.map_or(0, str::len);
        core.make_room(&mut tenant, tenant_id, cost)?;
        tenant.webhooks.create(url, secret, description, active)?
    };
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
pub(crate) fn list(
    core: &Core,
    tenant_id: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    Fields::new(input, true).finish()?;
    let tenant = core.tenant_or_empty(tenant_id);
    let tenant = tenant.lock();
    let endpoints: Vec<Value> = tenant.webhooks.list().map(Endpoint::to_json).collect();
    Ok(json!({ "webhook_endpoints": endpoints }))
}

/// `webhooks/update`: `id` and optional `url`, `signing_secret`, `description` (`null`
/// clears it), `active` → `success`, `message`.
pub(crate) fn update(
    core: &Core,
    tenant_id: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
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
    let tenant = core.tenant_or_empty(tenant_id);
    let mut tenant = tenant.lock();
    if tenant.webhooks.list().any(|endpoint| endpoint.id == id) {
        let cost = change.url.map_or(0, str::len)
            + change.secret.map_or(0, |secret| secret.len() + 16)
            + change.description.flatten().map_or(0, str::len);
        core.make_room(&mut tenant, tenant_id, cost)?;
    }
    tenant.webhooks.update(id, &change)?;
    Ok(json!({ "success": true, "message": "Webhook endpoint updated successfully" }))
}

/// `webhooks/delete`: `id` → `success`, `message`.
pub(crate) fn delete(
    core: &Core,
    tenant_id: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let id = read_id(input)?;
    core.tenant_or_empty(tenant_id).lock().webhooks.delete(id)?;
    Ok(json!({ "success": true, "message": "Webhook endpoint deleted successfully" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_fresh() {
        let a = generate_secret();
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64);
        assert_ne!(*a, *generate_secret());
    }
}

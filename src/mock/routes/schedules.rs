//! The schedules routes: `schedules/create|list|get|update|delete`.
//!
//! A schedule takes a workflow, its `params` and launch options, and a `cron_expr` evaluated
//! in an IANA `timezone` (see `cron.rs`; 6 fields with seconds first is this project's
//! extension); the answer is upstream's schedule object (`state/schedules.rs`). The callback
//! secret is sealed and never shown; on `update`, a `null` `callback_url` clears the callback
//! and a `callback_secret` alone rotates the secret of the callback the schedule has. Launch
//! options and `credential_id` are checked exactly as `jobs/create` checks them
//! (`input/launch.rs`; a credential that does not exist is 409) and kept for the jobs the
//! schedule launches. Every change wakes the scheduler (`engine/scheduler.rs`), which
//! launches the jobs through the same engine as `jobs/create`. Lists are newest first.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::http::envelope::{ApiError, Issue};
use crate::mock::cron::{CronSpec, DEFAULT_TIMEZONE};
use crate::mock::engine::core::Core;
use crate::mock::input::launch::check_options;
use crate::mock::input::{read_id, validation_error, Fields};
use crate::mock::state::budget::overhead;
use crate::mock::state::credentials::CredentialStore;
use crate::mock::state::job_store::JobError;
use crate::mock::state::launch::LaunchOptions;
use crate::mock::state::schedules::{Schedule, ScheduleCallback, ScheduleError, MAX_SCHEDULES};
use crate::mock::state::stored_json::StoredJson;
use crate::mock::state::tenant_id::TenantId;
use crate::mock::state::webhooks::SecretOwner;
use crate::runtime::clock;

/// Schedules listed when `limit` is not given, and the most one list returns.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// A change to a schedule's callback.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CallbackChange<'a> {
    Keep,
    Clear,
    Set {
        url: &'a str,
        secret: &'a str,
    },
    /// A new secret for the callback the schedule has.
    Rotate(&'a str),
}

/// A change to a schedule's credential.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CredentialChange {
    Keep,
    Clear,
    Set(Uuid),
}

/// The fields of a create or update input; `None` is "not given".
struct ScheduleInput<'a> {
    workflow: Option<&'a str>,
    params: Option<&'a Map<String, Value>>,
    cron_expr: Option<&'a str>,
    timezone: Option<&'a str>,
    launch: LaunchOptions,
    credential: CredentialChange,
    callback: CallbackChange<'a>,
    skip_callbacks: Option<bool>,
    enabled: Option<bool>,
}

impl ScheduleInput<'_> {
    /// At most the bytes storing this input adds to a schedule (see `state/budget.rs`).
    fn bytes(&self) -> usize {
        let callback = match &self.callback {
            CallbackChange::Set { url, secret } => url.len() + secret.len() + 16,
            _ => 0,
        };
        overhead::SCHEDULE
            + self.params.map_or(0, |params| {
                serde_json::to_string(params).map_or(0, |text| text.len())
            })
            + self.workflow.map_or(0, str::len)
            + self.cron_expr.map_or(0, str::len)
            + self.timezone.map_or(0, str::len)
            + self.launch.start_url.as_ref().map_or(0, String::len)
            + callback
    }
}

/// The issue for a `callback_secret` given without a `callback_url` to go with it.
fn secret_without_url() -> Issue {
    Issue::new(
        "custom",
        "callback_url is required with callback_secret",
        vec![json!("callback_secret")],
    )
}

fn read_input<'a>(
    fields: &mut Fields<'a>,
    input: Option<&'a Value>,
    creating: bool,
) -> ScheduleInput<'a> {
    let workflow = fields.bounded_string("workflow", creating, 200);
    let params = fields.object("params", false);
    let cron_expr = fields.bounded_string("cron_expr", creating, 200);
    let timezone = fields.bounded_string("timezone", false, 100);
    let enabled = fields.bool("enabled");
    let credential_id = fields.uuid("credential_id", false);
    // The launch options, `skip_callbacks` and the callback pair are checked as jobs/create
    // checks them; the values below are read only once they passed.
    check_options(fields);
    let is_null = |key: &str| {
        input
            .and_then(|input| input.get(key))
            .is_some_and(Value::is_null)
    };
    let text = |key: &str| fields.value(key).and_then(Value::as_str);
    let (url, secret) = (text("callback_url"), text("callback_secret"));
    let callback = match (url, secret) {
        (Some(url), Some(secret)) => CallbackChange::Set { url, secret },
        // check_options has already refused a URL without its secret.
        (Some(_), None) => CallbackChange::Keep,
        (None, Some(_)) if creating || is_null("callback_url") => {
            fields.push(secret_without_url());
            CallbackChange::Keep
        }
        (None, Some(secret)) => CallbackChange::Rotate(secret),
        (None, None) if is_null("callback_url") && !creating => CallbackChange::Clear,
        (None, None) => CallbackChange::Keep,
    };
    let credential = match credential_id {
        Some(id) => CredentialChange::Set(id),
        None if is_null("credential_id") && !creating => CredentialChange::Clear,
        None => CredentialChange::Keep,
    };
    ScheduleInput {
        workflow,
        params,
        cron_expr,
        timezone,
        launch: LaunchOptions::read(input),
        credential,
        callback,
        skip_callbacks: fields.value("skip_callbacks").and_then(Value::as_bool),
        enabled,
    }
}

/// Refuses a credential the tenant does not have, as jobs/create does (409).
fn check_credential(
    credentials: &CredentialStore,
    change: CredentialChange,
) -> Result<(), ScheduleError> {
    match change {
        CredentialChange::Set(id) if !credentials.exists(id) => {
            Err(JobError::UnknownCredentials(vec![id]).into())
        }
        _ => Ok(()),
    }
}

/// Parses the timing, answering 400 with an issue on the field at fault.
fn timing(
    expr: &str,
    zone: &str,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<(CronSpec, Option<DateTime<Utc>>), ApiError> {
    let spec = CronSpec::check(expr, zone).map_err(|issues| validation_error(&issues))?;
    let next = if enabled {
        Some(
            spec.next_after(now)
                .map_err(|err| validation_error(&[err.issue()]))?,
        )
    } else {
        None
    };
    Ok((spec, next))
}

/// `schedules/create` → `success`, `schedule`.
pub(crate) fn create(
    core: &Core,
    tenant_id: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let given = read_input(&mut fields, input, true);
    fields.finish()?;
    let (Some(workflow), Some(cron_expr)) = (given.workflow, given.cron_expr) else {
        return Err(ApiError::validation(Vec::new()));
    };
    let timezone = given.timezone.unwrap_or(DEFAULT_TIMEZONE);
    let enabled = given.enabled.unwrap_or(true);
    let now = clock::now();
    let (spec, next_fire_at) = timing(cron_expr, timezone, enabled, now)?;
    let id = Uuid::new_v4();
    let answer = {
        let tenant = core.tenant(tenant_id)?;
        let mut tenant = tenant.lock();
        if tenant.schedules.len() >= MAX_SCHEDULES {
            return Err(ScheduleError::TooMany.into());
        }
        core.make_room(&mut tenant, tenant_id, given.bytes())?;
        check_credential(&tenant.credentials, given.credential)?;
        let callback = match given.callback {
            CallbackChange::Set { url, secret } => Some(ScheduleCallback {
                url: url.to_string(),
                sealed_secret: tenant.webhooks.seal(SecretOwner::Schedule, id, secret)?,
            }),
            _ => None,
        };
        let stamp = clock::format(now);
        let schedule = Schedule {
            id,
            seq: tenant.next_seq(),
            workflow: workflow.to_string(),
            params: StoredJson::new(
                &given
                    .params
                    .cloned()
                    .map_or_else(|| json!({}), Value::Object),
            ),
            cron_expr: cron_expr.to_string(),
            timezone: timezone.to_string(),
            spec,
            launch: given.launch,
            credential_id: match given.credential {
                CredentialChange::Set(id) => Some(id),
                _ => None,
            },
            callback,
            skip_callbacks: given.skip_callbacks.unwrap_or(false),
            enabled,
            next_fire_at,
            last_fire_at: None,
            last_job_id: None,
            last_error: None,
            consecutive_failures: 0,
            created_at: stamp.clone(),
            updated_at: stamp,
        };
        let answer = json!({ "success": true, "schedule": schedule.to_json() });
        tenant.schedules.insert(schedule)?;
        answer
    };
    core.schedules_changed();
    Ok(answer)
}

/// `schedules/get`: `id` → `schedule`.
pub(crate) fn get(
    core: &Core,
    tenant_id: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let id = read_id(input)?;
    let tenant = core.tenant_or_empty(tenant_id);
    let tenant = tenant.lock();
    let schedule = tenant.schedules.get(id).ok_or(ScheduleError::NotFound)?;
    Ok(json!({ "schedule": schedule.to_json() }))
}

/// `schedules/list`: optional `enabled`, `workflow`, `limit` → `schedules`, newest first.
pub(crate) fn list(
    core: &Core,
    tenant_id: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, true);
    let enabled = fields.bool("enabled");
    let workflow = fields.string("workflow", false);
    let limit = fields
        .integer("limit", 1, MAX_LIMIT)
        .unwrap_or(DEFAULT_LIMIT);
    fields.finish()?;
    let tenant = core.tenant_or_empty(tenant_id);
    let tenant = tenant.lock();
    let limit = usize::try_from(limit).unwrap_or(50);
    let schedules: Vec<Value> = tenant
        .schedules
        .list(enabled, workflow, limit)
        .into_iter()
        .map(Schedule::to_json)
        .collect();
    Ok(json!({ "schedules": schedules }))
}

/// `schedules/update`: `id` and any field → `schedule`. A `null` `callback_url` clears the
/// callback (and a `null` `credential_id` the credential); a new `callback_url` needs its
/// `callback_secret`, and a `callback_secret` alone rotates the current callback's secret.
/// Timing changes re-plan `next_fire_at` from now.
pub(crate) fn update(
    core: &Core,
    tenant_id: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let id = fields.uuid("id", true);
    let given = read_input(&mut fields, input, false);
    fields.finish()?;
    let Some(id) = id else {
        return Err(ApiError::validation(Vec::new()));
    };
    let now = clock::now();
    let answer = {
        let tenant = core.tenant_or_empty(tenant_id);
        let mut tenant = tenant.lock();
        if tenant.schedules.get(id).is_some() {
            core.make_room(&mut tenant, tenant_id, given.bytes())?;
        }
        let current = tenant.schedules.get(id).ok_or(ScheduleError::NotFound)?;
        let cron_expr = given.cron_expr.unwrap_or(&current.cron_expr).to_string();
        let timezone = given.timezone.unwrap_or(&current.timezone).to_string();
        let enabled = given.enabled.unwrap_or(current.enabled);
        let (spec, next_fire_at) = timing(&cron_expr, &timezone, enabled, now)?;
        check_credential(&tenant.credentials, given.credential)?;
        let callback = match given.callback {
            CallbackChange::Keep => current.callback.clone(),
            CallbackChange::Clear => None,
            CallbackChange::Set { url, secret } => Some(ScheduleCallback {
                url: url.to_string(),
                sealed_secret: tenant.webhooks.seal(SecretOwner::Schedule, id, secret)?,
            }),
            CallbackChange::Rotate(secret) => match &current.callback {
                Some(existing) => Some(ScheduleCallback {
                    url: existing.url.clone(),
                    sealed_secret: tenant.webhooks.seal(SecretOwner::Schedule, id, secret)?,
                }),
                None => {
                    return Err(validation_error(&[Issue::new(
                        "custom",
                        "The schedule has no callback; give callback_url with callback_secret",
                        vec![json!("callback_secret")],
                    )]))
                }
            },
        };
        let Some(schedule) = tenant.schedules.get_mut(id) else {
            return Err(ScheduleError::NotFound.into());
        };
        if let Some(workflow) = given.workflow {
            schedule.workflow = workflow.to_string();
        }
        if let Some(params) = given.params {
            schedule.params = StoredJson::new(&Value::Object(params.clone()));
        }
        schedule.cron_expr = cron_expr;
        schedule.timezone = timezone;
        schedule.spec = spec;
        schedule.enabled = enabled;
        schedule.next_fire_at = next_fire_at;
        schedule.callback = callback;
        schedule.launch.apply(&given.launch);
        match given.credential {
            CredentialChange::Keep => {}
            CredentialChange::Clear => schedule.credential_id = None,
            CredentialChange::Set(id) => schedule.credential_id = Some(id),
        }
        if let Some(flag) = given.skip_callbacks {
            schedule.skip_callbacks = flag;
        }
        schedule.updated_at = clock::format(now);
        json!({ "schedule": schedule.to_json() })
    };
    core.schedules_changed();
    Ok(answer)
}

/// `schedules/delete`: `id` → `success`, `id`.
pub(crate) fn delete(
    core: &Core,
    tenant_id: &TenantId,
    input: Option<&Value>,
) -> Result<Value, ApiError> {
    let id = read_id(input)?;
    if !core.tenant_or_empty(tenant_id).lock().schedules.remove(id) {
        return Err(ScheduleError::NotFound.into());
    }
    core.schedules_changed();
    Ok(json!({ "success": true, "id": id }))
}

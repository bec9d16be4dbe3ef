//! The schedules routes (`schedules/create|list|get|update|delete`) and the schedule store.
//!
//! A schedule keeps a workflow, its `params` and launch options, and a `cron_expr` evaluated
//! in an IANA `timezone` (see `cron.rs`; 6 fields with seconds first is this project's
//! extension). The scheduler (`scheduler.rs`) launches its jobs through the same engine as
//! `jobs/create`. The schedule object is upstream's, with `next_fire_at` in UTC (`null` while
//! disabled) and the fire fields the scheduler keeps: `last_fire_at`, `last_job_id`,
//! `last_error` and `consecutive_failures` (a launched job that fails counts; one that
//! completes resets the count). The callback secret is sealed and never shown; on `update`, a
//! `null` `callback_url` clears the callback and a `callback_secret` alone rotates the secret
//! of the callback the schedule has. Launch options and `credential_id` are checked exactly as
//! `jobs/create` checks them (a credential that does not exist is 409) and kept for the jobs
//! the schedule launches. A tenant keeps at most [`MAX_SCHEDULES`] schedules. Lists are newest
//! first.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::cron::{CronSpec, CronSpecError, DEFAULT_TIMEZONE};
use super::input::{validation_error, Fields};
use super::job_store::{Job, JobError, JobStatus};
use super::jobs::check_options;
use super::launch::LaunchOptions;
use super::tenant::TenantId;
use super::webhooks::{SecretOwner, WebhookError};
use super::Mock;
use crate::clock;
use crate::envelope::{ApiError, Issue};

/// `timeout_seconds` when a schedule names none.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 900;
/// Schedules listed when `limit` is not given, and the most one list returns.
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;
/// Most schedules one tenant keeps.
pub const MAX_SCHEDULES: usize = 1000;

/// Why a schedule operation was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScheduleError {
    #[error("Schedule not found")]
    NotFound,
    #[error("A tenant keeps at most {MAX_SCHEDULES} schedules; delete one first")]
    TooMany,
    #[error(transparent)]
    Secret(#[from] WebhookError),
    #[error(transparent)]
    Job(#[from] JobError),
}

impl From<ScheduleError> for ApiError {
    fn from(err: ScheduleError) -> Self {
        match err {
            ScheduleError::NotFound => ApiError::not_found(err.to_string()),
            ScheduleError::TooMany => ApiError::conflict(err.to_string()),
            ScheduleError::Secret(inner) => inner.into(),
            ScheduleError::Job(inner) => inner.into(),
        }
    }
}

/// A schedule's callback; the secret sealed.
#[derive(Clone)]
pub struct ScheduleCallback {
    pub url: String,
    pub sealed_secret: Vec<u8>,
}

/// One schedule.
pub struct Schedule {
    pub id: Uuid,
    seq: u64,
    pub workflow: String,
    pub params: Value,
    pub cron_expr: String,
    pub timezone: String,
    spec: CronSpec,
    /// The options of the jobs it launches, as given.
    pub launch: LaunchOptions,
    /// The credential its jobs use (held against deletion while one runs).
    pub credential_id: Option<Uuid>,
    pub callback: Option<ScheduleCallback>,
    pub skip_callbacks: bool,
    pub enabled: bool,
    pub next_fire_at: Option<DateTime<Utc>>,
    pub last_fire_at: Option<String>,
    pub last_job_id: Option<Uuid>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub created_at: String,
    pub updated_at: String,
}

impl Schedule {
    /// The `timeout_seconds` its jobs get.
    pub fn timeout_seconds(&self) -> i64 {
        self.launch
            .timeout_seconds
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
    }

    /// The launch options of its next job: as given, with the schedule's default timeout.
    pub fn job_options(&self) -> LaunchOptions {
        LaunchOptions {
            timeout_seconds: Some(self.timeout_seconds()),
            ..self.launch.clone()
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "workflow": self.workflow,
            "params": self.params,
            "cron_expr": self.cron_expr,
            "timezone": self.timezone,
            "timeout_seconds": self.timeout_seconds(),
            "residential_proxy": self.launch.residential_proxy.unwrap_or(false),
            "callback_url": self.callback.as_ref().map(|callback| &callback.url),
            "skip_callbacks": self.skip_callbacks,
            "enabled": self.enabled,
            "next_fire_at": self.next_fire_at.map(clock::format),
            "last_fire_at": self.last_fire_at,
            "last_job_id": self.last_job_id,
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// Recomputes `next_fire_at` from `now`: the next instant while enabled, else none.
    fn plan(&mut self, now: DateTime<Utc>) -> Result<(), CronSpecError> {
        self.next_fire_at = if self.enabled {
            Some(self.spec.next_after(now)?)
        } else {
            None
        };
        Ok(())
    }
}

#[cfg(test)]
impl Schedule {
    /// An enabled schedule with no fire planned, for tests.
    pub(super) fn for_test(seq: u64, workflow: &str, expr: &str) -> Self {
        Self {
            id: Uuid::new_v4(),
            seq,
            workflow: workflow.into(),
            params: json!({}),
            cron_expr: expr.into(),
            timezone: "UTC".into(),
            spec: CronSpec::parse(expr, "UTC").unwrap(),
            launch: LaunchOptions::default(),
            credential_id: None,
            callback: None,
            skip_callbacks: false,
            enabled: true,
            next_fire_at: None,
            last_fire_at: None,
            last_job_id: None,
            last_error: None,
            consecutive_failures: 0,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }
}

/// One tenant's schedules.
#[derive(Default)]
pub struct ScheduleStore {
    by_id: BTreeMap<Uuid, Schedule>,
}

impl ScheduleStore {
    pub fn get(&self, id: Uuid) -> Option<&Schedule> {
        self.by_id.get(&id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Adds a schedule unless the tenant already keeps [`MAX_SCHEDULES`].
    pub fn insert(&mut self, schedule: Schedule) -> Result<(), ScheduleError> {
        if self.by_id.len() >= MAX_SCHEDULES {
            return Err(ScheduleError::TooMany);
        }
        self.by_id.insert(schedule.id, schedule);
        Ok(())
    }

    pub fn remove(&mut self, id: Uuid) -> bool {
        self.by_id.remove(&id).is_some()
    }

    /// Up to `limit` schedules, newest first.
    pub fn list(
        &self,
        enabled: Option<bool>,
        workflow: Option<&str>,
        limit: usize,
    ) -> Vec<&Schedule> {
        let mut matching: Vec<&Schedule> = self
            .by_id
            .values()
            .filter(|s| enabled.is_none_or(|e| e == s.enabled))
            .filter(|s| workflow.is_none_or(|w| w == s.workflow))
            .collect();
        matching.sort_by_key(|s| std::cmp::Reverse(s.seq));
        matching.truncate(limit);
        matching
    }

    /// The earliest `next_fire_at` of the enabled schedules.
    pub fn earliest(&self) -> Option<DateTime<Utc>> {
        self.by_id.values().filter_map(|s| s.next_fire_at).min()
    }

    /// Marks every schedule due at `now` as fired and plans its next fire from `now`, so a
    /// fire missed while the process was busy or suspended happens once, not once per miss.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Uuid> {
        let mut due = Vec::new();
        for schedule in self.by_id.values_mut() {
            if schedule.next_fire_at.is_some_and(|at| at <= now) {
                schedule.last_fire_at = Some(clock::format(now));
                if schedule.plan(now).is_err() {
                    schedule.next_fire_at = None;
                }
                due.push(schedule.id);
            }
        }
        due
    }

    /// Records what a fire launched, or why it launched nothing.
    pub fn record_fire(&mut self, id: Uuid, launched: Result<Uuid, String>) {
        let Some(schedule) = self.by_id.get_mut(&id) else {
            return;
        };
        match launched {
            Ok(job_id) => schedule.last_job_id = Some(job_id),
            Err(error) => {
                schedule.last_error = Some(error);
                schedule.consecutive_failures = schedule.consecutive_failures.saturating_add(1);
            }
        }
    }

    /// Records how a job this schedule launched ended.
    pub fn record_outcome(&mut self, id: Uuid, job: &Job) {
        let Some(schedule) = self.by_id.get_mut(&id) else {
            return;
        };
        match job.status {
            JobStatus::Completed => {
                schedule.consecutive_failures = 0;
                schedule.last_error = None;
            }
            JobStatus::Failed => {
                schedule.consecutive_failures = schedule.consecutive_failures.saturating_add(1);
                schedule.last_error = job.error.clone();
            }
            _ => {}
        }
    }
}

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
    credentials: &super::credentials::CredentialStore,
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
pub fn create(mock: &Mock, tenant_id: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
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
        let tenant = mock.tenant(tenant_id);
        let mut tenant = tenant.lock();
        if tenant.schedules.len() >= MAX_SCHEDULES {
            return Err(ScheduleError::TooMany.into());
        }
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
            params: given
                .params
                .cloned()
                .map_or_else(|| json!({}), Value::Object),
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
    mock.schedules_changed();
    Ok(answer)
}

fn read_id(input: Option<&Value>) -> Result<Uuid, ApiError> {
    let mut fields = Fields::new(input, false);
    let id = fields.uuid("id", true);
    fields.finish()?;
    id.ok_or_else(|| ApiError::validation(Vec::new()))
}

/// `schedules/get`: `id` → `schedule`.
pub fn get(mock: &Mock, tenant_id: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    let id = read_id(input)?;
    let tenant = mock.tenant(tenant_id);
    let tenant = tenant.lock();
    let schedule = tenant.schedules.get(id).ok_or(ScheduleError::NotFound)?;
    Ok(json!({ "schedule": schedule.to_json() }))
}

/// `schedules/list`: optional `enabled`, `workflow`, `limit` → `schedules`, newest first.
pub fn list(mock: &Mock, tenant_id: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, true);
    let enabled = fields.bool("enabled");
    let workflow = fields.string("workflow", false);
    let limit = fields
        .integer("limit", 1, MAX_LIMIT)
        .unwrap_or(DEFAULT_LIMIT);
    fields.finish()?;
    let tenant = mock.tenant(tenant_id);
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
pub fn update(mock: &Mock, tenant_id: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    let mut fields = Fields::new(input, false);
    let id = fields.uuid("id", true);
    let given = read_input(&mut fields, input, false);
    fields.finish()?;
    let Some(id) = id else {
        return Err(ApiError::validation(Vec::new()));
    };
    let now = clock::now();
    let answer = {
        let tenant = mock.tenant(tenant_id);
        let mut tenant = tenant.lock();
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
        let Some(schedule) = tenant.schedules.by_id.get_mut(&id) else {
            return Err(ScheduleError::NotFound.into());
        };
        if let Some(workflow) = given.workflow {
            schedule.workflow = workflow.to_string();
        }
        if let Some(params) = given.params {
            schedule.params = Value::Object(params.clone());
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
    mock.schedules_changed();
    Ok(answer)
}

/// `schedules/delete`: `id` → `success`, `id`.
pub fn delete(mock: &Mock, tenant_id: &TenantId, input: Option<&Value>) -> Result<Value, ApiError> {
    let id = read_id(input)?;
    if !mock.tenant(tenant_id).lock().schedules.remove(id) {
        return Err(ScheduleError::NotFound.into());
    }
    mock.schedules_changed();
    Ok(json!({ "success": true, "id": id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn schedule(
        store: &mut ScheduleStore,
        seq: u64,
        expr: &str,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Uuid {
        let mut schedule = Schedule::for_test(seq, &format!("w{seq}"), expr);
        schedule.enabled = enabled;
        schedule.plan(now).unwrap();
        let id = schedule.id;
        store.insert(schedule).unwrap();
        id
    }

    #[test]
    fn a_tenant_keeps_a_bounded_number_of_schedules() {
        let mut store = ScheduleStore::default();
        for seq in 0..MAX_SCHEDULES as u64 {
            store
                .insert(Schedule::for_test(seq, "w", "* * * * *"))
                .unwrap();
        }
        assert!(matches!(
            store.insert(Schedule::for_test(0, "w", "* * * * *")),
            Err(ScheduleError::TooMany)
        ));
        assert_eq!(store.len(), MAX_SCHEDULES);
    }

    #[test]
    fn jobs_get_the_schedule_timeout_by_default() {
        let mut schedule = Schedule::for_test(1, "w", "* * * * *");
        assert_eq!(schedule.job_options().timeout_seconds, Some(900));
        schedule.launch.timeout_seconds = Some(30);
        schedule.launch.gpu = Some(true);
        assert_eq!(schedule.job_options().timeout_seconds, Some(30));
        assert_eq!(schedule.job_options().gpu, Some(true));
        assert_eq!(schedule.to_json()["timeout_seconds"], 30);
    }

    #[test]
    fn a_long_miss_fires_once_and_plans_from_now() {
        let mut store = ScheduleStore::default();
        let start = utc("2026-05-17T09:00:00Z");
        let id = schedule(&mut store, 1, "* * * * *", true, start);
        assert_eq!(store.earliest(), Some(utc("2026-05-17T09:01:00Z")));
        // Suspended for an hour: one fire, then the next minute after now.
        let now = utc("2026-05-17T10:00:30Z");
        assert_eq!(store.take_due(now), vec![id]);
        assert!(store.take_due(now).is_empty());
        assert_eq!(
            store.get(id).unwrap().next_fire_at,
            Some(utc("2026-05-17T10:01:00Z"))
        );
        assert_eq!(
            store.get(id).unwrap().last_fire_at.as_deref(),
            Some("2026-05-17T10:00:30.000Z")
        );
    }

    #[test]
    fn disabled_schedules_never_come_due() {
        let mut store = ScheduleStore::default();
        let start = utc("2026-05-17T09:00:00Z");
        schedule(&mut store, 1, "* * * * *", false, start);
        assert_eq!(store.earliest(), None);
        assert!(store.take_due(utc("2026-05-18T09:00:00Z")).is_empty());
    }

    #[test]
    fn lists_filter_and_go_newest_first() {
        let mut store = ScheduleStore::default();
        let now = utc("2026-05-17T09:00:00Z");
        let a = schedule(&mut store, 1, "* * * * *", true, now);
        let b = schedule(&mut store, 2, "* * * * *", false, now);
        let c = schedule(&mut store, 3, "* * * * *", true, now);
        let ids = |list: Vec<&Schedule>| list.iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(ids(store.list(None, None, 50)), vec![c, b, a]);
        assert_eq!(ids(store.list(Some(true), None, 50)), vec![c, a]);
        assert_eq!(ids(store.list(None, Some("w2"), 50)), vec![b]);
        assert_eq!(ids(store.list(None, None, 1)), vec![c]);
    }

    #[test]
    fn fires_and_outcomes_keep_the_counters() {
        let mut store = ScheduleStore::default();
        let id = schedule(&mut store, 1, "* * * * *", true, Utc::now());
        store.record_fire(id, Err("boom".into()));
        assert_eq!(store.get(id).unwrap().consecutive_failures, 1);
        let job_id = Uuid::new_v4();
        store.record_fire(id, Ok(job_id));
        assert_eq!(store.get(id).unwrap().last_job_id, Some(job_id));
        let schedule_json = store.get(id).unwrap().to_json();
        assert_eq!(schedule_json["last_error"], "boom");
        assert!(schedule_json.get("callback_secret").is_none());
    }
}

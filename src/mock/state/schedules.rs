//! The schedule store: one tenant's schedules, and when each fires next.
//!
//! A schedule keeps a workflow, its `params` and launch options, the credential its jobs use,
//! an optional callback (its secret sealed, never shown), and a `cron_expr` evaluated in an
//! IANA `timezone` (see `cron.rs`). Besides the fields it was given, it keeps the fire fields
//! the scheduler (`engine/scheduler.rs`) records: `next_fire_at` in UTC (`null` while
//! disabled), `last_fire_at`, `last_job_id`, `last_error` and `consecutive_failures` (a
//! launched job that fails counts; one that completes resets the count). A tenant keeps at
//! most [`MAX_SCHEDULES`] schedules. Lists are newest first.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::budget::overhead;
use super::job_store::{Job, JobError, JobStatus};
use super::launch::LaunchOptions;
use super::stored_json::StoredJson;
use super::webhooks::WebhookError;
use crate::http::envelope::ApiError;
use crate::mock::cron::{CronSpec, CronSpecError};
use crate::runtime::clock;

/// `timeout_seconds` when a schedule names none.
const DEFAULT_TIMEOUT_SECONDS: i64 = 900;
/// Most schedules one tenant keeps.
pub(crate) const MAX_SCHEDULES: usize = 1000;

/// Why a schedule operation was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum ScheduleError {
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
pub(crate) struct ScheduleCallback {
    pub(crate) url: String,
    pub(crate) sealed_secret: Vec<u8>,
}

/// One schedule.
pub(crate) struct Schedule {
    pub(crate) id: Uuid,
    pub(crate) seq: u64,
    pub(crate) workflow: String,
    /// As given, kept as compact text.
    pub(crate) params: StoredJson,
    pub(crate) cron_expr: String,
    pub(crate) timezone: String,
    /// The parsed `cron_expr` in `timezone`; set together with them.
    pub(crate) spec: CronSpec,
    /// The options of the jobs it launches, as given.
    pub(crate) launch: LaunchOptions,
    /// The credential its jobs use (held against deletion while one runs).
    pub(crate) credential_id: Option<Uuid>,
    pub(crate) callback: Option<ScheduleCallback>,
    pub(crate) skip_callbacks: bool,
    pub(crate) enabled: bool,
    pub(crate) next_fire_at: Option<DateTime<Utc>>,
    pub(crate) last_fire_at: Option<String>,
    pub(crate) last_job_id: Option<Uuid>,
    pub(crate) last_error: Option<String>,
    pub(crate) consecutive_failures: u32,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

impl Schedule {
    /// Bytes it takes: its params and strings.
    pub(crate) fn bytes(&self) -> usize {
        let callback = self.callback.as_ref().map_or(0, |callback| {
            callback.url.len() + callback.sealed_secret.len()
        });
        overhead::SCHEDULE
            + self.params.len()
            + self.workflow.len()
            + self.cron_expr.len()
            + self.timezone.len()
            + self.launch.start_url.as_ref().map_or(0, String::len)
            + self.last_error.as_ref().map_or(0, String::len)
            + callback
    }

    /// The `timeout_seconds` its jobs get.
    pub(crate) fn timeout_seconds(&self) -> i64 {
        self.launch
            .timeout_seconds
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
    }

    /// The launch options of its next job: as given, with the schedule's default timeout.
    pub(crate) fn job_options(&self) -> LaunchOptions {
        LaunchOptions {
            timeout_seconds: Some(self.timeout_seconds()),
            ..self.launch.clone()
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "workflow": self.workflow,
            "params": self.params.to_value(),
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
    pub(crate) fn for_test(seq: u64, workflow: &str, expr: &str) -> Self {
        Self {
            id: Uuid::new_v4(),
            seq,
            workflow: workflow.into(),
            params: StoredJson::new(&json!({})),
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
pub(crate) struct ScheduleStore {
    by_id: BTreeMap<Uuid, Schedule>,
}

impl ScheduleStore {
    pub(crate) fn get(&self, id: Uuid) -> Option<&Schedule> {
        self.by_id.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: Uuid) -> Option<&mut Schedule> {
        self.by_id.get_mut(&id)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Bytes its schedules take (at most [`MAX_SCHEDULES`], so counted when asked).
    pub(crate) fn bytes(&self) -> usize {
        self.by_id.values().map(Schedule::bytes).sum()
    }

    /// Adds a schedule unless the tenant already keeps [`MAX_SCHEDULES`].
    pub(crate) fn insert(&mut self, schedule: Schedule) -> Result<(), ScheduleError> {
        if self.by_id.len() >= MAX_SCHEDULES {
            return Err(ScheduleError::TooMany);
        }
        self.by_id.insert(schedule.id, schedule);
        Ok(())
    }

    pub(crate) fn remove(&mut self, id: Uuid) -> bool {
        self.by_id.remove(&id).is_some()
    }

    /// Up to `limit` schedules, newest first.
    pub(crate) fn list(
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
    pub(crate) fn earliest(&self) -> Option<DateTime<Utc>> {
        self.by_id.values().filter_map(|s| s.next_fire_at).min()
    }

    /// Marks every schedule due at `now` as fired and plans its next fire from `now`, so a
    /// fire missed while the process was busy or suspended happens once, not once per miss.
    pub(crate) fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Uuid> {
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
    pub(crate) fn record_fire(&mut self, id: Uuid, launched: Result<Uuid, String>) {
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
    pub(crate) fn record_outcome(&mut self, id: Uuid, job: &Job) {
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

//! Cron expressions and time zones for schedules: parsing, and the next fire time.
//!
//! A schedule's `cron_expr` is standard 5-field cron (minute, hour, day of month, month, day
//! of week). As a documented extension for fast local testing, a 6-field form with a leading
//! seconds field is accepted too (`*/5 * * * * *` fires every five seconds). The expression is
//! evaluated in the schedule's IANA `timezone`, so `0 9 * * *` in `America/New_York` fires at
//! 09:00 local time all year: 14:00Z in winter, 13:00Z in summer. The daylight-saving rules
//! are croner's (the Open Cron Pattern Specification): a fixed time that falls in the spring
//! gap fires at the first instant after it, and one that repeats in the autumn fires once.
//!
//! Everything here is pure, so it sits below the state: a schedule keeps its parsed
//! [`CronSpec`], the schedules routes check an expression with it, and the scheduler asks
//! [`CronSpec::next_after`] for the next instant. [`next_fire_after`] is public for tests.

use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde_json::json;

use crate::http::envelope::Issue;

/// The zone a schedule uses when it names none.
pub(crate) const DEFAULT_TIMEZONE: &str = "UTC";

/// Why a schedule's timing could not be used. Each maps to a 400 issue on its input path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronSpecError {
    #[error("Invalid cron expression: {0}")]
    Expr(String),
    #[error("Unknown time zone \"{0}\"; use an IANA name such as UTC or Europe/Paris")]
    Zone(String),
    #[error("The cron expression never fires again")]
    NeverFires,
}

impl CronSpecError {
    /// The input field the problem is about.
    pub(crate) fn path(&self) -> &'static str {
        match self {
            Self::Expr(_) | Self::NeverFires => "cron_expr",
            Self::Zone(_) => "timezone",
        }
    }

    /// The validation issue to answer with.
    pub(crate) fn issue(&self) -> Issue {
        Issue::new("custom", self.to_string(), vec![json!(self.path())])
    }
}

/// A parsed cron expression and the zone it runs in.
#[derive(Debug, Clone)]
pub(crate) struct CronSpec {
    cron: Cron,
    zone: Tz,
}

/// Parses a cron expression: 5 fields, or 6 with seconds first.
fn parse_expr(expr: &str) -> Result<Cron, CronSpecError> {
    let fields = expr.split_whitespace().count();
    if fields != 5 && fields != 6 {
        return Err(CronSpecError::Expr(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds \
             first; got {fields}"
        )));
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|err| CronSpecError::Expr(err.to_string()))
}

/// Parses an IANA time zone name.
fn parse_zone(name: &str) -> Result<Tz, CronSpecError> {
    Tz::from_str(name).map_err(|_| CronSpecError::Zone(name.to_string()))
}

impl CronSpec {
    /// Parses both parts; the expression's problem is reported first.
    pub(crate) fn parse(expr: &str, zone: &str) -> Result<Self, CronSpecError> {
        let cron = parse_expr(expr)?;
        let zone = parse_zone(zone)?;
        Ok(Self { cron, zone })
    }

    /// Both problems at once, as issues, for a validation answer.
    pub(crate) fn check(expr: &str, zone: &str) -> Result<Self, Vec<Issue>> {
        match (parse_expr(expr), parse_zone(zone)) {
            (Ok(cron), Ok(zone)) => Ok(Self { cron, zone }),
            (cron, zone) => Err([cron.err(), zone.err()]
                .into_iter()
                .flatten()
                .map(|err| err.issue())
                .collect()),
        }
    }

    /// The first fire time strictly after `after`, computed in the zone, as UTC.
    pub(crate) fn next_after(&self, after: DateTime<Utc>) -> Result<DateTime<Utc>, CronSpecError> {
        // Cron has whole seconds; croner would carry the fraction into the answer.
        let whole = after.trunc_subsecs(0);
        let local = whole.with_timezone(&self.zone);
        self.cron
            .find_next_occurrence(&local, false)
            .map(|next| next.with_timezone(&Utc))
            .map_err(|_| CronSpecError::NeverFires)
    }
}

/// The first fire time of `expr` in zone `tz` strictly after `after`.
pub fn next_fire_after(
    expr: &str,
    tz: &str,
    after: DateTime<Utc>,
) -> Result<DateTime<Utc>, CronSpecError> {
    CronSpec::parse(expr, tz)?.next_after(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn next(expr: &str, tz: &str, after: &str) -> String {
        crate::runtime::clock::format(next_fire_after(expr, tz, utc(after)).unwrap())
    }

    #[test]
    fn five_fields_in_utc() {
        assert_eq!(
            next("0 9 * * *", "UTC", "2026-05-17T01:15:26.670Z"),
            "2026-05-17T09:00:00.000Z"
        );
        assert_eq!(
            next("*/15 * * * *", "UTC", "2026-05-17T09:00:00Z"),
            "2026-05-17T09:15:00.000Z",
            "strictly after"
        );
    }

    #[test]
    fn six_fields_have_seconds_first() {
        assert_eq!(
            next("*/1 * * * * *", "UTC", "2026-05-17T09:00:00.200Z"),
            "2026-05-17T09:00:01.000Z"
        );
        assert_eq!(
            next("30 0 9 * * *", "UTC", "2026-05-17T01:00:00Z"),
            "2026-05-17T09:00:30.000Z"
        );
    }

    #[test]
    fn new_york_morning_across_the_march_change() {
        // EST (UTC-5) until 2026-03-08 02:00 local, EDT (UTC-4) after.
        let tz = "America/New_York";
        assert_eq!(
            next("0 9 * * *", tz, "2026-03-07T12:00:00Z"),
            "2026-03-07T14:00:00.000Z"
        );
        assert_eq!(
            next("0 9 * * *", tz, "2026-03-07T15:00:00Z"),
            "2026-03-08T13:00:00.000Z"
        );
    }

    #[test]
    fn new_york_morning_across_the_november_change() {
        // EDT (UTC-4) until 2026-11-01 02:00 local, EST (UTC-5) after.
        let tz = "America/New_York";
        assert_eq!(
            next("0 9 * * *", tz, "2026-10-31T12:00:00Z"),
            "2026-10-31T13:00:00.000Z"
        );
        assert_eq!(
            next("0 9 * * *", tz, "2026-10-31T14:00:00Z"),
            "2026-11-01T14:00:00.000Z"
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_still_fires_that_day() {
        // 02:30 does not exist in New York on 2026-03-08.
        let fired = next_fire_after(
            "30 2 * * *",
            "America/New_York",
            utc("2026-03-08T05:00:00Z"),
        )
        .unwrap();
        assert!(fired < utc("2026-03-09T00:00:00Z"), "fired {fired}");
        assert!(fired >= utc("2026-03-08T07:00:00Z"), "fired {fired}");
    }

    #[test]
    fn a_repeated_hour_fires_once() {
        // 01:30 happens twice in New York on 2026-11-01 (05:30Z and 06:30Z).
        let first = next_fire_after(
            "30 1 * * *",
            "America/New_York",
            utc("2026-11-01T04:00:00Z"),
        )
        .unwrap();
        let second = next_fire_after("30 1 * * *", "America/New_York", first).unwrap();
        assert!(
            second >= utc("2026-11-02T00:00:00Z"),
            "fired again {second}"
        );
    }

    #[test]
    fn bad_expressions_point_at_cron_expr() {
        for expr in [
            "",
            "* * *",
            "61 * * * *",
            "* * * * * * *",
            "nope nope nope nope nope",
        ] {
            let err = next_fire_after(expr, "UTC", Utc::now()).unwrap_err();
            assert_eq!(err.path(), "cron_expr", "{expr:?}");
        }
    }

    #[test]
    fn bad_zones_point_at_timezone() {
        let err = next_fire_after("0 9 * * *", "Mars/Olympus", Utc::now()).unwrap_err();
        assert_eq!(err, CronSpecError::Zone("Mars/Olympus".into()));
        assert_eq!(err.issue().path, vec![json!("timezone")]);
    }

    #[test]
    fn check_reports_both_problems() {
        let issues = CronSpec::check("x", "Nowhere").unwrap_err();
        let paths: Vec<_> = issues.iter().map(|issue| issue.path.clone()).collect();
        assert_eq!(
            paths,
            vec![vec![json!("cron_expr")], vec![json!("timezone")]]
        );
        assert!(CronSpec::check("0 9 * * 1-5", DEFAULT_TIMEZONE).is_ok());
    }
}

//! A job's launch options: what `jobs/create` and schedules accept besides the workflow, its
//! `params` and the result delivery.
//!
//! Upstream takes `timeout_seconds`, `headless`, `gpu`, `viewport {width, height}`,
//! `start_url`, `residential_proxy` and `disable_default_proxy` for a job, and a schedule
//! takes the same for the jobs it launches. The mock validates them in one place
//! (`input/launch.rs`, used by both routes), reads the validated values here, keeps them
//! with the job and the schedule, and hands a schedule's to every job it launches, so a
//! scheduled job is launched exactly as `jobs/create` would launch it. A field not given is
//! `None`: upstream's default applies.

use serde_json::{Map, Value};

use crate::mock::input::{whole_number, Whole};

/// The launch options of a job or a schedule, as given.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LaunchOptions {
    pub(crate) timeout_seconds: Option<i64>,
    pub(crate) headless: Option<bool>,
    pub(crate) gpu: Option<bool>,
    pub(crate) residential_proxy: Option<bool>,
    pub(crate) disable_default_proxy: Option<bool>,
    pub(crate) start_url: Option<String>,
    /// `{"width": ..., "height": ...}`, both positive integers.
    pub(crate) viewport: Option<Map<String, Value>>,
}

impl LaunchOptions {
    /// Reads the options from an input already checked by `input::launch::check_options`; a
    /// field that is missing or `null` is `None`.
    pub(crate) fn read(input: Option<&Value>) -> Self {
        let field = |key: &str| {
            input
                .and_then(|input| input.get(key))
                .filter(|value| !value.is_null())
        };
        let flag = |key: &str| field(key).and_then(Value::as_bool);
        Self {
            timeout_seconds: match field("timeout_seconds")
                .and_then(Value::as_number)
                .map(whole_number)
            {
                Some(Whole::Int(seconds)) => Some(seconds),
                _ => None,
            },
            headless: flag("headless"),
            gpu: flag("gpu"),
            residential_proxy: flag("residential_proxy"),
            disable_default_proxy: flag("disable_default_proxy"),
            start_url: field("start_url")
                .and_then(Value::as_str)
                .map(str::to_string),
            viewport: field("viewport").and_then(Value::as_object).cloned(),
        }
    }

    /// Takes every option `change` gives, keeping the others (a schedule's update).
    pub(crate) fn apply(&mut self, change: &LaunchOptions) {
        fn take<T: Clone>(into: &mut Option<T>, from: &Option<T>) {
            if from.is_some() {
                into.clone_from(from);
            }
        }
        take(&mut self.timeout_seconds, &change.timeout_seconds);
        take(&mut self.headless, &change.headless);
        take(&mut self.gpu, &change.gpu);
        take(&mut self.residential_proxy, &change.residential_proxy);
        take(
            &mut self.disable_default_proxy,
            &change.disable_default_proxy,
        );
        take(&mut self.start_url, &change.start_url);
        take(&mut self.viewport, &change.viewport);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_given_options_and_skips_nulls() {
        let input = json!({
            "timeout_seconds": 60, "headless": false, "gpu": true, "residential_proxy": null,
            "start_url": "https://portal.example/login", "viewport": {"width": 800, "height": 600},
        });
        let options = LaunchOptions::read(Some(&input));
        assert_eq!(options.timeout_seconds, Some(60));
        assert_eq!(options.headless, Some(false));
        assert_eq!(options.gpu, Some(true));
        assert_eq!(options.residential_proxy, None);
        assert_eq!(options.disable_default_proxy, None);
        assert_eq!(
            options.start_url.as_deref(),
            Some("https://portal.example/login")
        );
        assert_eq!(options.viewport.unwrap()["width"], 800);
        assert_eq!(LaunchOptions::read(None), LaunchOptions::default());
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name() {
        let mut options = LaunchOptions::read(Some(&json!({"timeout_seconds": 60, "gpu": true})));
        options.apply(&LaunchOptions::read(Some(
            &json!({"gpu": false, "headless": true}),
        )));
        assert_eq!(options.timeout_seconds, Some(60));
        assert_eq!(options.gpu, Some(false));
        assert_eq!(options.headless, Some(true));
    }
}

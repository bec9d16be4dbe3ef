//! The launch options `jobs/create` and schedules both accept besides the workflow and its
//! `params`: `timeout_seconds`, the browser flags, `start_url`, `viewport` and the result
//! callback pair. One check for both routes, so a scheduled job is refused or accepted exactly
//! as `jobs/create` would; the checked values are read into `state::launch::LaunchOptions`.

use serde_json::json;

use super::url::url_field;
use super::{whole_number, Fields, Whole, MAX_TEXT_CHARS};
use crate::http::envelope::Issue;

/// Checks the launch options that `jobs/create` accepts besides workflow and params.
pub(crate) fn check_options(fields: &mut Fields<'_>) {
    fields.integer("timeout_seconds", 1, 3600);
    for flag in [
        "skip_callbacks",
        "headless",
        "gpu",
        "residential_proxy",
        "disable_default_proxy",
    ] {
        fields.bool(flag);
    }
    fields.string("start_url", false);
    // The same URL rule as webhook endpoints: a callback is one more delivery target.
    url_field(fields, "callback_url", false);
    fields.bounded_string("callback_secret", false, MAX_TEXT_CHARS);
    if fields.value("callback_url").is_some() && fields.value("callback_secret").is_none() {
        fields.push(Issue::new(
            "custom",
            "callback_secret is required when callback_url is set",
            vec![json!("callback_secret")],
        ));
    }
    if let Some(viewport) = fields.object("viewport", false) {
        for side in ["width", "height"] {
            match viewport.get(side) {
                None => fields.push(Issue::new(
                    "invalid_type",
                    "Required",
                    vec![json!("viewport"), json!(side)],
                )),
                Some(value) if value.as_number().is_some_and(positive_whole) => {}
                Some(_) => fields.push(Issue::new(
                    "invalid_type",
                    "Expected a positive integer",
                    vec![json!("viewport"), json!(side)],
                )),
            }
        }
    }
}

/// A positive whole number in any spelling (`1280`, `1280.0`, `1.28e3`), as a JavaScript
/// client reads it, up to `u64::MAX`.
fn positive_whole(number: &serde_json::Number) -> bool {
    matches!(whole_number(number), Whole::Int(int) if int > 0)
        || number.as_u64().is_some_and(|n| n > 0)
}

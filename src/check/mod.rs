//! `libretto-sidecar check`: an offline lint of a `jobs/create` body, for app repositories' CI.
//!
//! It runs the same scan as the sidecar, without credentials and without a network, so a
//! misplaced or malformed placeholder fails the app's build instead of its first request. The
//! body is what the sidecar receives: enveloped, `{"json": {...}}` (other members such as
//! `meta` may stand beside `json`), or bare (`{...}`): the job's input as an app keeps it, which
//! its oRPC client wraps when sending. A bare body is checked as if it were wrapped; a `json`
//! member that is not an object is `INVALID_BODY`. Every path is reported from the enveloped root (`/json/params/...`), the
//! same paths the sidecar puts in its errors. [`report`] is the pure part; [`run`] reads the
//! inputs and prints.
//!
//! Output is one line per item, stable for scripts:
//!
//! ```text
//! placeholder /json/params/username credential=portal-production field=username
//! escape /json/params/note
//! error /json/workflow PLACEHOLDER_NOT_ALLOWED <message>
//! 2 placeholders, 1 credential, 1 error
//! ```
//!
//! A path, name or field holding whitespace, a quote or a control character is printed as a
//! JSON string, so a line always splits on spaces. Exit status: 0 clean, 1 on any error,
//! 2 when an input cannot be read.
//!
//! [`run`] takes several inputs (files, globs, stdin: [`inputs`]) and reports in text, JSON or
//! GitHub annotations, placing each finding at a line and column ([`locate`]).

mod inputs;
mod locate;
mod run;

pub use locate::{locate, Position};
pub use run::run;

use std::fmt::Write as _;

use serde_json::Value;

use crate::placeholders::{is_enveloped, scan_with, Collect, Scope};

/// Exit status when the body is clean.
pub const EXIT_CLEAN: u8 = 0;
/// Exit status when the body has at least one error.
pub const EXIT_ERRORS: u8 = 1;
/// Exit status when the input cannot be read.
pub const EXIT_UNREADABLE: u8 = 2;

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Placeholder {
        path: String,
        credential: String,
        field: Option<String>,
    },
    /// A string whose `{{!credential:` escapes will be forwarded as literal text.
    Escape { path: String },
    Error {
        path: String,
        code: String,
        message: String,
    },
}

/// What the lint found, in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// False when the body was bare and checked as if wrapped.
    pub enveloped: bool,
    pub items: Vec<Item>,
    /// Distinct credential names, sorted.
    pub credentials: Vec<String>,
}

impl Report {
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|item| matches!(item, Item::Error { .. }))
            .count()
    }

    pub fn placeholder_count(&self) -> usize {
        self.items
            .iter()
            .filter(|item| matches!(item, Item::Placeholder { .. }))
            .count()
    }

    pub fn exit_code(&self) -> u8 {
        if self.error_count() == 0 {
            EXIT_CLEAN
        } else {
            EXIT_ERRORS
        }
    }

    /// The report as printed: one line per item, then a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for item in &self.items {
            // Writing into a String cannot fail.
            let _ = match item {
                Item::Placeholder {
                    path,
                    credential,
                    field: Some(field),
                } => writeln!(
                    out,
                    "placeholder {} credential={} field={}",
                    token(path),
                    token(credential),
                    token(field)
                ),
                Item::Placeholder {
                    path,
                    credential,
                    field: None,
                } => writeln!(
                    out,
                    "placeholder {} credential={}",
                    token(path),
                    token(credential)
                ),
                Item::Escape { path } => writeln!(out, "escape {}", token(path)),
                Item::Error {
                    path,
                    code,
                    message,
                } => writeln!(out, "error {} {code} {}", token(path), one_line(message)),
            };
        }
        let _ = writeln!(
            out,
            "{}, {}, {}",
            plural(self.placeholder_count(), "placeholder"),
            plural(self.credentials.len(), "credential"),
            plural(self.error_count(), "error")
        );
        out
    }
}

/// Lints a body given as text.
pub fn report(input: &str) -> Report {
    let parsed: Value = match serde_json::from_str(input) {
        Ok(value) => value,
        Err(err) => {
            return Report {
                enveloped: false,
                items: vec![Item::Error {
                    path: String::new(),
                    code: "INVALID_JSON".into(),
                    message: format!("The body is not valid JSON: {err}"),
                }],
                credentials: Vec::new(),
            }
        }
    };
    let (body, enveloped) = match parsed {
        Value::Object(_) if is_enveloped(&parsed) => (parsed, true),
        Value::Object(ref members) if members.contains_key("json") => {
            return Report {
                enveloped: false,
                items: vec![Item::Error {
                    path: "/json".into(),
                    code: "INVALID_BODY".into(),
                    message: format!(
                    "The `json` member of a jobs/create body is the job's input, an object, not {}",
                    crate::http::envelope::json_type_name(&parsed["json"])
                ),
                }],
                credentials: Vec::new(),
            }
        }
        Value::Object(_) => (serde_json::json!({ "json": parsed }), false),
        other => {
            return Report {
                enveloped: false,
                items: vec![Item::Error {
                    path: String::new(),
                    code: "INVALID_BODY".into(),
                    message: format!(
                        "A jobs/create body is a JSON object, not {}",
                        crate::http::envelope::json_type_name(&other)
                    ),
                }],
                credentials: Vec::new(),
            }
        }
    };
    let (scan, errors) = scan_with(&body, Scope::JobParams, Collect::All);
    let mut items: Vec<Item> = scan
        .sites()
        .map(|(path, placeholder)| Item::Placeholder {
            path: path.to_owned(),
            credential: placeholder.name.clone(),
            field: placeholder.pointer.clone(),
        })
        .collect();
    items.extend(scan.escape_only_paths().map(|path| Item::Escape {
        path: path.to_owned(),
    }));
    items.extend(errors.iter().map(|error| Item::Error {
        path: error.path().to_owned(),
        code: error.code().to_owned(),
        message: error.to_string(),
    }));
    Report {
        enveloped,
        items,
        credentials: scan.credential_names(),
    }
}

/// A word for a line: as is when it splits cleanly on spaces, else a JSON string.
pub(crate) fn token(text: &str) -> String {
    let plain = !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"');
    if plain {
        text.to_owned()
    } else {
        Value::String(text.to_owned()).to_string()
    }
}

/// Messages are one line by construction; this keeps the report line-based even if one is not.
fn one_line(message: &str) -> String {
    message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub(crate) fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_placeholders_of_an_enveloped_body() {
        let report = report(
            r#"{"json": {"workflow": "w", "params": {"username": "{{credential:portal/username}}", "all": "{{credential:api}}"}}}"#,
        );
        assert!(report.enveloped);
        assert_eq!(
            report.render(),
            "placeholder /json/params/username credential=portal field=username\n\
             placeholder /json/params/all credential=api\n\
             2 placeholders, 2 credentials, 0 errors\n"
        );
        assert_eq!(report.exit_code(), EXIT_CLEAN);
    }

    #[test]
    fn a_bare_body_is_checked_as_if_wrapped() {
        let report = report(r#"{"workflow": "w", "params": {"a": "{{credential:x}}"}}"#);
        assert!(!report.enveloped);
        assert_eq!(
            report.items,
            vec![Item::Placeholder {
                path: "/json/params/a".into(),
                credential: "x".into(),
                field: None
            }]
        );
        assert_eq!(report.exit_code(), EXIT_CLEAN);
        let misplaced = report_of(r#"{"workflow": "{{credential:x}}"}"#);
        assert_eq!(misplaced.exit_code(), EXIT_ERRORS);
    }

    fn report_of(input: &str) -> Report {
        report(input)
    }

    #[test]
    fn an_envelope_may_carry_meta_and_json_must_be_an_object() {
        let with_meta = report(
            r#"{"json": {"workflow": "w", "params": {"a": "{{credential:x}}"}}, "meta": []}"#,
        );
        assert!(with_meta.enveloped);
        assert_eq!(with_meta.error_count(), 0);
        assert_eq!(with_meta.placeholder_count(), 1);
        for bad in [
            r#"{"json": "x"}"#,
            r#"{"json": [1], "meta": []}"#,
            r#"{"json": null}"#,
        ] {
            let report = report(bad);
            assert_eq!(report.exit_code(), EXIT_ERRORS, "{bad}");
            assert!(
                report.render().starts_with("error /json INVALID_BODY"),
                "{bad}"
            );
        }
    }

    #[test]
    fn reports_every_error() {
        let report = report(
            r#"{"json": {"workflow": "{{credential:a}}", "params": {"x": "{{credential:", "y": ["{{credential:b/~}}"], "{{credential:c}}": 1}}}"#,
        );
        let codes: Vec<(&str, &str)> = report
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Error { path, code, .. } => Some((path.as_str(), code.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            codes,
            vec![
                ("/json/workflow", "PLACEHOLDER_NOT_ALLOWED"),
                ("/json/params/x", "PLACEHOLDER_INVALID"),
                ("/json/params/y/0", "PLACEHOLDER_INVALID"),
                ("/json/params/{{credential:c}}", "PLACEHOLDER_NOT_ALLOWED"),
            ]
        );
        assert_eq!(report.exit_code(), EXIT_ERRORS);
    }

    #[test]
    fn invalid_json_and_non_objects_are_errors() {
        assert_eq!(report("{").exit_code(), EXIT_ERRORS);
        assert_eq!(report("[1]").exit_code(), EXIT_ERRORS);
        assert!(report("\"x\"")
            .render()
            .starts_with("error \"\" INVALID_BODY"));
    }

    #[test]
    fn odd_paths_are_quoted() {
        let report = report(
            r#"{"json": {"params": {"two words": "{{credential:x}}", "e": "{{!credential:"}}}"#,
        );
        assert_eq!(
            report.render(),
            "placeholder \"/json/params/two words\" credential=x\n\
             escape /json/params/e\n\
             1 placeholder, 1 credential, 0 errors\n"
        );
    }
}

//! The credential policy: which workflows may use which credentials.
//!
//! Without a policy any workflow may use any credential the sidecar's key can read. With one
//! (`--policy FILE`, TOML or JSON), a job may use a credential only if some rule matches both
//! its workflow and the credential's name. This stops an app from exfiltrating a credential
//! through a workflow it was never meant for (say, one that posts its params to a URL).
//!
//! ```toml
//! # Each rule: glob patterns for workflow names and for credential names.
//! [[rules]]
//! workflows = ["portal-*"]
//! credentials = ["portal-production", "portal-staging"]
//!
//! [[rules]]
//! workflows = ["report-export"]
//! credentials = ["api"]
//! ```
//!
//! The same in JSON: `{"rules": [{"workflows": ["portal-*"], "credentials": ["portal-*"]}]}`.
//! Globs: `*` any run of characters, `?` one character, `[abc]` a class; matching is whole-name
//! and case-sensitive. Unknown keys are rejected so a typo cannot silently widen the policy.
//!
//! A policy checks names, so while one is loaded nothing may move a value to another name or
//! name a credential in a way the policy cannot check ([`Refusal`]): renames through
//! `credentials/update` are refused, so are a job's `credential_id` field, and (with
//! `--resolve-schedules`) a schedule update that changes the workflow of params resolved
//! earlier without supplying new params.

use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::http::envelope::ApiError;

/// Why a policy file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("policy file {path} is not valid {format}: {message}")]
    Parse {
        path: String,
        format: &'static str,
        message: String,
    },
    #[error("policy rule {rule}: `{pattern}` is not a valid glob: {message}")]
    Glob {
        rule: usize,
        pattern: String,
        message: String,
    },
    #[error("policy rule {rule} must list at least one workflow and one credential pattern")]
    EmptyRule { rule: usize },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    rules: Vec<RuleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    workflows: Vec<String>,
    credentials: Vec<String>,
}

#[derive(Debug)]
struct Rule {
    workflows: GlobSet,
    credentials: GlobSet,
}

/// A loaded policy. An empty rule list allows nothing.
#[derive(Debug)]
pub struct Policy {
    rules: Vec<Rule>,
}

/// A job that reaches outside the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("workflow `{workflow}` may not use credential `{credential}`")]
pub struct NotAllowed {
    pub workflow: String,
    pub credential: String,
    /// JSON Pointer of the placeholder in the request body.
    pub path: String,
}

impl NotAllowed {
    pub fn to_api_error(&self) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "CREDENTIAL_NOT_ALLOWED",
            format!(
                "The policy does not allow workflow `{}` to use credential `{}`; the job was not sent",
                self.workflow, self.credential
            ),
        )
        .defined()
        .with_data(json!({ "path": self.path, "credential": self.credential, "workflow": self.workflow }))
    }
}

/// A request a loaded policy cannot check, refused whatever the rules say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `credentials/update` with a `name`: a rename would carry one credential's value under
    /// a name the policy allows elsewhere.
    #[error("credential renames are refused while a policy is loaded")]
    Rename,
    /// `jobs/create` with `credential_id`: an id cannot be checked against the rules' names.
    #[error("a job's credential_id is refused while a policy is loaded")]
    CredentialId,
    /// `schedules/update` that changes `workflow` without new `params`: the stored params may
    /// hold values resolved for the old workflow.
    #[error("a schedule's workflow may not change without new params while a policy is loaded")]
    ScheduleWorkflow,
}

impl Refusal {
    pub fn to_api_error(&self) -> ApiError {
        let (field, message) = match self {
            Self::Rename => (
                "name",
                "Renaming a credential through the sidecar is refused while a credential policy \
                 is loaded (it would move a value to a name the policy allows elsewhere); rename \
                 it with the upstream directly",
            ),
            Self::CredentialId => (
                "credential_id",
                "A job's `credential_id` is refused while a credential policy is loaded: the \
                 policy checks names; use {{credential:NAME/FIELD}} placeholders instead",
            ),
            Self::ScheduleWorkflow => (
                "workflow",
                "Changing a schedule's workflow without sending its params again is refused \
                 while a credential policy is loaded: the stored params may hold values resolved \
                 for the old workflow; send `params` with placeholders in the same update",
            ),
        };
        ApiError::new(StatusCode::FORBIDDEN, "POLICY_REFUSED", message)
            .defined()
            .with_data(json!({ "field": field }))
    }

    /// Whether a `credentials/update` input (the envelope's `json`) renames.
    pub fn check_update(input: &serde_json::Value) -> Result<(), Self> {
        match input.get("name") {
            Some(name) if !name.is_null() => Err(Self::Rename),
            _ => Ok(()),
        }
    }

    /// Checks a `jobs/create` (`schedule: false`) or `schedules/*` body under a policy.
    pub fn check_body(body: &serde_json::Value, schedule: bool) -> Result<(), Self> {
        let field = |name: &str| {
            body.pointer(&format!("/json/{name}"))
                .filter(|value| !value.is_null())
        };
        if !schedule && field("credential_id").is_some() {
            return Err(Self::CredentialId);
        }
        if schedule
            && field("id").is_some()
            && field("workflow").is_some()
            && field("params").is_none()
        {
            return Err(Self::ScheduleWorkflow);
        }
        Ok(())
    }
}

impl Policy {
    /// Reads a policy file; `.json` files are JSON, everything else TOML.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: shown.clone(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        Self::parse(&text, is_json).map_err(|err| match err {
            PolicyError::Parse {
                format, message, ..
            } => PolicyError::Parse {
                path: shown,
                format,
                message,
            },
            other => other,
        })
    }

    /// Parses policy text (JSON when `is_json`, else TOML).
    pub fn parse(text: &str, is_json: bool) -> Result<Self, PolicyError> {
        let file: PolicyFile = if is_json {
            serde_json::from_str(text).map_err(|err| PolicyError::Parse {
                path: String::new(),
                format: "JSON",
                message: err.to_string(),
            })?
        } else {
            toml::from_str(text).map_err(|err| PolicyError::Parse {
                path: String::new(),
                format: "TOML",
                message: err.to_string(),
            })?
        };
        let rules = file
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                let number = index + 1;
                if rule.workflows.is_empty() || rule.credentials.is_empty() {
                    return Err(PolicyError::EmptyRule { rule: number });
                }
                Ok(Rule {
                    workflows: glob_set(number, &rule.workflows)?,
                    credentials: glob_set(number, &rule.credentials)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { rules })
    }

    /// Whether `workflow` may use the credential `name`.
    pub fn allows(&self, workflow: &str, name: &str) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.workflows.is_match(workflow) && rule.credentials.is_match(name))
    }

    /// Checks every (path, credential) a job uses; the first one outside the policy is the error.
    pub fn check<'a>(
        &self,
        workflow: &str,
        uses: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), NotAllowed> {
        for (path, name) in uses {
            if !self.allows(workflow, name) {
                return Err(NotAllowed {
                    workflow: workflow.to_owned(),
                    credential: name.to_owned(),
                    path: path.to_owned(),
                });
            }
        }
        Ok(())
    }
}

fn glob_set(rule: usize, patterns: &[String]) -> Result<GlobSet, PolicyError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|err| PolicyError::Glob {
            rule,
            pattern: pattern.clone(),
            message: err.kind().to_string(),
        })?;
        builder.add(glob);
    }
    builder.build().map_err(|err| PolicyError::Glob {
        rule,
        pattern: patterns.join(", "),
        message: err.kind().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
[[rules]]
workflows = ["portal-*"]
credentials = ["portal-production", "portal-staging"]

[[rules]]
workflows = ["report-export"]
credentials = ["api*"]
"#;

    #[test]
    fn toml_rules_allow_and_deny() {
        let policy = Policy::parse(TOML, false).unwrap();
        assert!(policy.allows("portal-login", "portal-production"));
        assert!(!policy.allows("portal-login", "api"));
        assert!(policy.allows("report-export", "api-v2"));
        assert!(!policy.allows("report-export-2", "api"));
        assert!(!policy.allows("exfiltrate", "portal-production"));
    }

    #[test]
    fn json_is_accepted_and_check_names_the_path() {
        let policy = Policy::parse(
            r#"{"rules": [{"workflows": ["a"], "credentials": ["x"]}]}"#,
            true,
        )
        .unwrap();
        let denied = policy
            .check("a", [("/json/params/u", "x"), ("/json/params/p", "y")])
            .unwrap_err();
        assert_eq!(denied.credential, "y");
        assert_eq!(denied.path, "/json/params/p");
        let api = denied.to_api_error();
        assert_eq!(api.status, StatusCode::FORBIDDEN);
        assert_eq!(api.code, "CREDENTIAL_NOT_ALLOWED");
        assert!(api.defined);
    }

    #[test]
    fn what_a_policy_cannot_check_is_refused() {
        use serde_json::json;
        assert_eq!(
            Refusal::check_update(&json!({"id": "c1", "name": "api"})),
            Err(Refusal::Rename)
        );
        assert!(Refusal::check_update(&json!({"id": "c1", "credentials": {"p": "x"}})).is_ok());
        let job = json!({"json": {"workflow": "w", "credential_id": "c1"}});
        assert_eq!(Refusal::check_body(&job, false), Err(Refusal::CredentialId));
        let update = json!({"json": {"id": "s1", "workflow": "exfil"}});
        assert_eq!(
            Refusal::check_body(&update, true),
            Err(Refusal::ScheduleWorkflow)
        );
        let with_params = json!({"json": {"id": "s1", "workflow": "w", "params": {}}});
        assert!(Refusal::check_body(&with_params, true).is_ok());
        let api = Refusal::Rename.to_api_error();
        assert_eq!(api.status, StatusCode::FORBIDDEN);
        assert_eq!(api.code, "POLICY_REFUSED");
        assert!(api.defined);
    }

    #[test]
    fn empty_policy_allows_nothing() {
        let policy = Policy::parse("", false).unwrap();
        assert!(!policy.allows("any", "thing"));
    }

    #[test]
    fn typos_and_bad_globs_are_rejected() {
        assert!(matches!(
            Policy::parse(
                "[[rules]]\nworkflow = [\"a\"]\ncredentials = [\"b\"]",
                false
            ),
            Err(PolicyError::Parse { .. })
        ));
        assert!(matches!(
            Policy::parse(
                r#"{"rules": [{"workflows": ["[a"], "credentials": ["b"]}]}"#,
                true
            ),
            Err(PolicyError::Glob { rule: 1, .. })
        ));
        assert!(matches!(
            Policy::parse(
                r#"{"rules": [{"workflows": [], "credentials": ["b"]}]}"#,
                true
            ),
            Err(PolicyError::EmptyRule { rule: 1 })
        ));
    }
}

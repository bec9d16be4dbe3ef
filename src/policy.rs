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

use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::envelope::ApiError;

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

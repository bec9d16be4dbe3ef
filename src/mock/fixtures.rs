//! Fixtures: tenants and credentials preloaded into the mock at start-up.
//!
//! The format is
//! `{"tenants": [{"api_key": "...", "credentials": [{"name": "...", "value": <any JSON>}]}]}`.
//! Unknown keys are rejected so a typo fails loudly at start-up rather than quietly loading
//! nothing; names follow the same rules as `credentials/create` (1 to 200 characters, not
//! blank, unique per tenant), and each `api_key` appears once, so two entries never quietly
//! merge or overwrite each other. The keys are hashed on load like any request's key; only
//! the hash is kept. [`DEMO_FIXTURES`], embedded, holds the tenant `demo-api-key`.

use serde::Deserialize;
use serde_json::Value;

use super::input::MAX_NAME_CHARS;

/// The demo fixtures, embedded so `serve --mock` works without files.
pub const DEMO_FIXTURES: &str = include_str!("../../fixtures/demo.json");

/// A whole fixtures file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fixtures {
    pub(crate) tenants: Vec<FixtureTenant>,
}

/// One tenant: its API key and the credentials it starts with.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FixtureTenant {
    pub(crate) api_key: String,
    #[serde(default)]
    pub(crate) credentials: Vec<FixtureCredential>,
}

impl std::fmt::Debug for FixtureTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixtureTenant")
            .field("api_key", &"[redacted]")
            .field("credentials", &self.credentials.len())
            .finish()
    }
}

/// One credential.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FixtureCredential {
    pub(crate) name: String,
    pub(crate) value: Value,
}

/// Why a fixtures text was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FixtureError {
    #[error("fixtures are not valid: {0}")]
    Parse(String),
    #[error("fixtures tenant #{0} has an empty api_key")]
    EmptyKey(usize),
    #[error("fixtures tenant #{tenant}: credential name `{name}` must be 1 to 200 characters, not all blank")]
    BadName { tenant: usize, name: String },
    #[error("fixtures tenant #{tenant}: credential name `{name}` appears twice")]
    DuplicateName { tenant: usize, name: String },
    #[error(
        "fixtures tenant #{tenant} has the same api_key as tenant #{first}; list each key once"
    )]
    DuplicateKey { tenant: usize, first: usize },
}

/// Parses and checks fixtures text.
pub(crate) fn parse(text: &str) -> Result<Fixtures, FixtureError> {
    let fixtures: Fixtures =
        serde_json::from_str(text).map_err(|err| FixtureError::Parse(err.to_string()))?;
    let mut keys = std::collections::HashMap::new();
    for (index, tenant) in fixtures.tenants.iter().enumerate() {
        if tenant.api_key.is_empty() {
            return Err(FixtureError::EmptyKey(index));
        }
        if let Some(&first) = keys.get(tenant.api_key.as_str()) {
            return Err(FixtureError::DuplicateKey {
                tenant: index,
                first,
            });
        }
        keys.insert(tenant.api_key.as_str(), index);
        let mut seen = std::collections::HashSet::new();
        for credential in &tenant.credentials {
            let chars = credential.name.chars().count();
            if chars == 0 || chars > MAX_NAME_CHARS || credential.name.trim().is_empty() {
                return Err(FixtureError::BadName {
                    tenant: index,
                    name: credential.name.clone(),
                });
            }
            if !seen.insert(credential.name.as_str()) {
                return Err(FixtureError::DuplicateName {
                    tenant: index,
                    name: credential.name.clone(),
                });
            }
        }
    }
    Ok(fixtures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_fixtures_parse() {
        let fixtures = parse(DEMO_FIXTURES).unwrap();
        assert_eq!(fixtures.tenants.len(), 1);
        assert_eq!(fixtures.tenants[0].api_key.as_str(), "demo-api-key");
        let names: Vec<&str> = fixtures.tenants[0]
            .credentials
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["portal-production", "api", "plain"]);
    }

    #[test]
    fn mistakes_are_refused() {
        assert!(matches!(parse("{}"), Err(FixtureError::Parse(_))));
        assert!(matches!(
            parse(r#"{"tenants": [], "extra": 1}"#),
            Err(FixtureError::Parse(_))
        ));
        assert_eq!(
            parse(r#"{"tenants": [{"api_key": ""}]}"#).unwrap_err(),
            FixtureError::EmptyKey(0)
        );
        let twice = r#"{"tenants": [{"api_key": "k", "credentials": [
            {"name": "a", "value": 1}, {"name": "a", "value": 2}]}]}"#;
        assert!(matches!(
            parse(twice),
            Err(FixtureError::DuplicateName { .. })
        ));
        let empty = r#"{"tenants": [{"api_key": "k", "credentials": [{"name": "", "value": 1}]}]}"#;
        assert!(matches!(parse(empty), Err(FixtureError::BadName { .. })));
        let blank =
            r#"{"tenants": [{"api_key": "k", "credentials": [{"name": "  ", "value": 1}]}]}"#;
        assert!(matches!(parse(blank), Err(FixtureError::BadName { .. })));
    }

    #[test]
    fn a_key_listed_twice_is_refused() {
        let twice = r#"{"tenants": [
            {"api_key": "k", "credentials": [{"name": "a", "value": 1}]},
            {"api_key": "other"},
            {"api_key": "k", "credentials": [{"name": "a", "value": 2}]}]}"#;
        let err = parse(twice).unwrap_err();
        assert_eq!(
            err,
            FixtureError::DuplicateKey {
                tenant: 2,
                first: 0
            }
        );
        assert!(
            !err.to_string().contains("\"k\""),
            "the key itself is not shown"
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let fixtures = parse(r#"{"tenants": [{"api_key": "sekrit"}]}"#).unwrap();
        assert!(!format!("{fixtures:?}").contains("sekrit"));
    }
}

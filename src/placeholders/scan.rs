//! The scan: every placeholder and escape in a body, where it stands and whether it may stand
//! there, in document order, without any credential.

use std::collections::BTreeSet;

use json_patch::jsonptr::{PointerBuf, Token};
use serde_json::Value;

use crate::placeholders::grammar::{Placeholder, Template};

use super::error::{Location, RewriteError};
pub use super::scope::Scope;

/// How many errors a scan gathers before it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collect {
    /// Stop at the first error in document order (the proxy answers one error).
    First,
    /// Walk the whole body and report every error (the `check` lint).
    All,
}

/// One string value that the rewrite changes.
#[derive(Debug, Clone)]
pub(super) struct Site {
    pub(super) path: PointerBuf,
    pub(super) template: Template,
}

/// The strings of a body that hold placeholders or escapes, in document order.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub(super) sites: Vec<Site>,
}

impl Scan {
    /// True when nothing needs rewriting: no placeholder and no escape.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// The credentials the placeholders name, distinct and sorted.
    pub fn credential_names(&self) -> Vec<String> {
        let names: BTreeSet<&str> = self
            .sites
            .iter()
            .flat_map(|site| site.template.placeholders())
            .map(|placeholder| placeholder.name.as_str())
            .collect();
        names.into_iter().map(str::to_owned).collect()
    }

    pub fn placeholder_count(&self) -> usize {
        self.sites
            .iter()
            .map(|site| site.template.placeholder_count())
            .sum()
    }

    /// Every placeholder with the JSON Pointer (from the body root) of the string holding it.
    pub fn sites(&self) -> impl Iterator<Item = (&str, &Placeholder)> {
        self.sites.iter().flat_map(|site| {
            site.template
                .placeholders()
                .map(move |placeholder| (site.path.as_str(), placeholder))
        })
    }

    /// The JSON Pointers of strings that hold escapes and no placeholder.
    pub fn escape_only_paths(&self) -> impl Iterator<Item = &str> {
        self.sites
            .iter()
            .filter(|site| site.template.placeholder_count() == 0)
            .map(|site| site.path.as_str())
    }
}

/// Finds every placeholder and escape, and fails on the first misplaced or malformed one.
pub fn scan(body: &Value, scope: Scope) -> Result<Scan, RewriteError> {
    let (scan, errors) = scan_with(body, scope, Collect::First);
    match errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(scan),
    }
}

/// Finds every placeholder and escape, and gathers errors as `collect` says, in document order.
pub fn scan_with(body: &Value, scope: Scope, collect: Collect) -> (Scan, Vec<RewriteError>) {
    let mut walker = Walker {
        scope,
        collect,
        path: Vec::new(),
        scan: Scan::default(),
        errors: Vec::new(),
    };
    walker.value(body, Zone::Root);
    (walker.scan, walker.errors)
}

/// Where the walker stands relative to `/json/params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    /// The body itself.
    Root,
    /// The object at `/json`.
    Envelope,
    /// The value at `/json/params` itself.
    ParamsRoot,
    /// Strictly inside `/json/params`.
    Params,
    /// Anywhere else.
    Outside,
}

/// One step from a value to a member of it.
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The walk over a body. The path to where it stands is kept as borrowed steps and made into
/// a JSON Pointer only for a string that is recorded (a site or an error).
struct Walker<'a> {
    scope: Scope,
    collect: Collect,
    path: Vec<Step<'a>>,
    scan: Scan,
    errors: Vec<RewriteError>,
}

impl<'a> Walker<'a> {
    fn pointer(&self) -> PointerBuf {
        PointerBuf::from_tokens(self.path.iter().map(|step| match *step {
            Step::Key(key) => Token::new(key),
            Step::Index(index) => Token::from(index),
        }))
    }

    fn done(&self) -> bool {
        self.collect == Collect::First && !self.errors.is_empty()
    }

    fn value(&mut self, value: &'a Value, zone: Zone) {
        if self.done() {
            return;
        }
        match value {
            Value::String(text) => self.string(text, zone),
            Value::Array(items) => {
                let inner = Self::child_zone(zone, None);
                for (index, item) in items.iter().enumerate() {
                    self.path.push(Step::Index(index));
                    self.value(item, inner);
                    self.path.pop();
                }
            }
            Value::Object(members) => {
                for (key, item) in members {
                    self.path.push(Step::Key(key));
                    self.key(key);
                    self.value(item, Self::child_zone(zone, Some(key)));
                    self.path.pop();
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn child_zone(zone: Zone, key: Option<&str>) -> Zone {
        match (zone, key) {
            (Zone::Root, Some("json")) => Zone::Envelope,
            (Zone::Envelope, Some("params")) => Zone::ParamsRoot,
            (Zone::ParamsRoot | Zone::Params, _) => Zone::Params,
            _ => Zone::Outside,
        }
    }

    fn allowed(&self, zone: Zone) -> bool {
        self.scope == Scope::JobParams && zone == Zone::Params
    }

    fn key(&mut self, key: &str) {
        if self.done() || !key.contains("{{") {
            return;
        }
        // Keys are never rewritten, so an escape in a key is forwarded as written.
        match Template::parse(key) {
            Ok(template) => {
                if let Some(first) = template.placeholders().next().cloned() {
                    self.not_allowed(Some(first), Location::Key);
                }
            }
            Err(err) => {
                let placeholder = err.name.map(|name| Placeholder {
                    name,
                    pointer: None,
                });
                self.not_allowed(placeholder, Location::Key);
            }
        }
    }

    fn string(&mut self, text: &str, zone: Zone) {
        if !text.contains("{{") {
            return;
        }
        let location = match zone {
            Zone::ParamsRoot if self.scope == Scope::JobParams => Location::Params,
            _ => Location::Value,
        };
        match Template::parse(text) {
            Ok(template) => {
                if template.is_verbatim() {
                    return;
                }
                let first = template.placeholders().next().cloned();
                match first {
                    Some(first) if !self.allowed(zone) => self.not_allowed(Some(first), location),
                    _ => self.scan.sites.push(Site {
                        path: self.pointer(),
                        template,
                    }),
                }
            }
            Err(err) if self.allowed(zone) => self.errors.push(RewriteError::Invalid {
                path: self.pointer().to_string(),
                credential: err.name,
                offset: err.offset,
                kind: err.kind,
            }),
            Err(err) => {
                let placeholder = err.name.map(|name| Placeholder {
                    name,
                    pointer: None,
                });
                self.not_allowed(placeholder, location);
            }
        }
    }

    fn not_allowed(&mut self, placeholder: Option<Placeholder>, location: Location) {
        let (credential, field) = match placeholder {
            Some(placeholder) => (Some(placeholder.name), placeholder.pointer),
            None => (None, None),
        };
        self.errors.push(RewriteError::NotAllowed {
            path: self.pointer().to_string(),
            credential,
            field,
            location,
            scope: self.scope,
        });
    }
}

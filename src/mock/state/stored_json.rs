//! [`StoredJson`]: a JSON value kept as its compact text, so what it costs is what it weighs.
//!
//! Job and schedule `params` may be as large as a request body. Parsed, a JSON value takes
//! many times its text (every number and array element is a tree node), and how many depends
//! on its shape; as compact text it takes exactly its length. The text is shared (`Arc`), so a
//! job's clones and its `echo*` input log line cost nothing more. Parsing the text back gives
//! the value as received: keys keep their order and numbers their digits (`serde_json` is
//! built with `preserve_order` and `arbitrary_precision`).

use std::sync::Arc;

use serde_json::Value;

/// A JSON value as compact, shared text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredJson(Arc<str>);

impl StoredJson {
    pub(crate) fn new(value: &Value) -> Self {
        Self(Arc::from(value.to_string()))
    }

    /// The value, parsed back from its text (the text was written from a value, so it parses).
    pub(crate) fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Bytes the text takes.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_order_and_digits() {
        let value: Value =
            serde_json::from_str(r#"{"b":1,"a":[2.50,12345678901234567890123],"c":"ü"}"#).unwrap();
        let stored = StoredJson::new(&value);
        assert_eq!(stored.to_value(), value);
        assert_eq!(
            stored.as_str(),
            r#"{"b":1,"a":[2.50,12345678901234567890123],"c":"ü"}"#
        );
        assert_eq!(StoredJson::new(&json!({})).len(), 2);
    }
}

//! Refusing ambiguous JSON: a body in which an object names the same key twice.
//!
//! JSON parsers disagree on duplicate keys (serde_json keeps the last, many keep the first), so
//! a body with `"params"` twice could be scanned in one reading and run in the other, its
//! placeholder forwarded unread. The sidecar refuses such a body on every route it reads. The
//! check is one streaming pass of serde over the raw bytes that keeps, per open object, the
//! keys seen so far; it stops at the first repeat and reports its JSON Pointer. A body that is
//! not JSON at all is not this check's business (the parse that follows answers it).

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Where a repeated key stands: the JSON Pointer of the object's member named twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    pub path: String,
}

/// Checks that no object in `bytes` names a key twice. `Ok` also for a body that is not JSON.
pub fn check_unique_keys(bytes: &[u8]) -> Result<(), DuplicateKey> {
    let mut found = None;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let seed = Unique {
        path: String::new(),
        found: &mut found,
    };
    // A syntax error or a repeat both stop the pass; only a repeat leaves `found` set.
    let _ = seed.deserialize(&mut deserializer);
    match found {
        Some(path) => Err(DuplicateKey { path }),
        None => Ok(()),
    }
}

/// One JSON value at `path`, walked for repeated keys.
struct Unique<'a> {
    path: String,
    found: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Unique<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// Appends one reference token to a JSON Pointer (RFC 6901 escapes).
fn child(path: &str, token: &str) -> String {
    format!("{path}/{}", token.replace('~', "~0").replace('/', "~1"))
}

impl<'de> Visitor<'de> for Unique<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let seed = Unique {
                path: child(&self.path, &index.to_string()),
                found: &mut *self.found,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // With `arbitrary_precision`, a number arrives as a one-member map under a private key;
        // its value is a string and it cannot repeat, so the walk below handles it as is.
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = child(&self.path, &key);
            if !seen.insert(key) {
                *self.found = Some(path);
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value_seed(Unique {
                path,
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_found_at_any_depth_with_their_pointer() {
        for (body, path) in [
            (r#"{"json":{},"json":{}}"#, "/json"),
            (r#"{"json":{"params":{},"params":{"a":1}}}"#, "/json/params"),
            (
                r#"{"json":{"params":{"a":"x","a":"{{credential:c}}"}}}"#,
                "/json/params/a",
            ),
            (r#"{"json":{"l":[{"k":1},{"k":1,"k":2}]}}"#, "/json/l/1/k"),
            (r#"{"json":{"a/b~":1,"a/b~":2}}"#, "/json/a~1b~0"),
            // The same key after unescaping is the same key.
            (r#"{"json":{"p":1,"\u0070":2}}"#, "/json/p"),
        ] {
            assert_eq!(
                check_unique_keys(body.as_bytes()),
                Err(DuplicateKey { path: path.into() }),
                "{body}"
            );
        }
    }

    #[test]
    fn unique_keys_numbers_and_non_json_pass() {
        for body in [
            r#"{"json":{"params":{"a":1.50000000000000000001,"b":[1,2,{"a":-3e400}]},"a":{}}}"#,
            r#"[{"a":1},{"a":1}]"#,
            "not json",
            r#"{"a":1,"#,
            "",
        ] {
            assert_eq!(check_unique_keys(body.as_bytes()), Ok(()), "{body}");
        }
    }
}

//! Refusing ambiguous JSON: a body in which an object names the same key twice.
//!
//! JSON parsers disagree on duplicate keys (serde_json keeps the last, many keep the first), so
//! a body with `"params"` twice could be scanned in one reading and run in the other, its
//! placeholder forwarded unread. The sidecar refuses such a body on every route it reads. The
//! check is one streaming pass of serde over the raw bytes that keeps, per open object, the
//! keys seen so far; it stops at the first repeat and reports its JSON Pointer. A body that is
//! not JSON at all is not this check's business (the parse that follows answers it).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use json_patch::jsonptr;
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
        at: None,
        found: &mut found,
    };
    // A syntax error or a repeat both stop the pass; only a repeat leaves `found` set.
    let _ = seed.deserialize(&mut deserializer);
    match found {
        Some(path) => Err(DuplicateKey { path }),
        None => Ok(()),
    }
}

/// Objects with at most this many keys are checked by comparing each new key with the ones
/// before it (no hashing, no set); larger ones move their keys into a hash set.
const SMALL_OBJECT: usize = 16;

/// One reference token of the place being walked.
enum Token<'a> {
    Key(&'a str),
    Index(usize),
}

/// The place being walked, as a chain up to the root: the JSON Pointer is only written out
/// when a repeat is found, so a body without one costs no string per value.
struct Segment<'a> {
    parent: Option<&'a Segment<'a>>,
    token: Token<'a>,
}

/// The JSON Pointer of `at` (RFC 6901 escapes).
fn pointer(at: Option<&Segment<'_>>) -> String {
    let mut tokens = Vec::new();
    let mut next = at;
    while let Some(segment) = next {
        tokens.push(match segment.token {
            Token::Key(key) => jsonptr::Token::new(key),
            Token::Index(index) => jsonptr::Token::from(index),
        });
        next = segment.parent;
    }
    tokens.reverse();
    jsonptr::PointerBuf::from_tokens(tokens).to_string()
}

/// One JSON value at `at`, walked for repeated keys.
struct Unique<'a, 'p> {
    at: Option<&'p Segment<'p>>,
    found: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Unique<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// The keys an object has named so far, borrowed from the body where they hold no escape.
enum Seen<'de> {
    Few(Vec<Cow<'de, str>>),
    Many(HashSet<Cow<'de, str>>),
}

impl<'de> Seen<'de> {
    fn contains(&self, key: &str) -> bool {
        match self {
            Self::Few(keys) => keys.iter().any(|seen| seen == key),
            Self::Many(keys) => keys.contains(key),
        }
    }

    fn insert(&mut self, key: Cow<'de, str>) {
        match self {
            Self::Few(keys) if keys.len() < SMALL_OBJECT => keys.push(key),
            Self::Few(keys) => {
                let mut set: HashSet<Cow<'de, str>> = keys.drain(..).collect();
                set.insert(key);
                *self = Self::Many(set);
            }
            Self::Many(keys) => {
                keys.insert(key);
            }
        }
    }
}

impl<'de> Visitor<'de> for Unique<'_, '_> {
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
            let segment = Segment {
                parent: self.at,
                token: Token::Index(index),
            };
            let seed = Unique {
                at: Some(&segment),
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
        let mut seen = Seen::Few(Vec::new());
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let segment = Segment {
                parent: self.at,
                token: Token::Key(&key),
            };
            if seen.contains(&key) {
                *self.found = Some(pointer(Some(&segment)));
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value_seed(Unique {
                at: Some(&segment),
                found: &mut *self.found,
            })?;
            seen.insert(key);
        }
        Ok(())
    }
}

/// An object key as the body spells it: borrowed from the bytes, or unescaped into a string.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
            fn visit_string<E>(self, key: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
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
            // Past the small-object bound the keys are in a set: a repeat is still found.
            (
                r#"{"json":{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k3":3}}"#,
                "/json/k3",
            ),
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

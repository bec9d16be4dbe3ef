//! JSON Pointer (RFC 6901) lookups that allocate nothing for the usual pointer.
//!
//! `serde_json::Value::pointer` unescapes every reference token into a new `String`, escaped
//! or not; the rewrite looks up a handful of pointers per job (the workflow, the `params`,
//! every filled string, every patch operation). jsonptr (which json-patch brings, and whose
//! pointers the scan and the patch already use) unescapes a token only when it holds a `~`.
//! The rules are RFC 6901's: `""` is the whole value, any other pointer starts with `/`, an
//! array index is decimal without a sign or a leading zero; a pointer that is not valid
//! refers to nothing.

use json_patch::jsonptr::resolve::{Resolve, ResolveMut};
use json_patch::jsonptr::Pointer;
use serde_json::Value;

/// The value `pointer` refers to in `value`, if any.
pub fn get<'v>(value: &'v Value, pointer: &str) -> Option<&'v Value> {
    value.resolve(Pointer::parse(pointer).ok()?).ok()
}

/// [`get`], mutably.
pub fn get_mut<'v>(value: &'v mut Value, pointer: &str) -> Option<&'v mut Value> {
    value.resolve_mut(Pointer::parse(pointer).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookups_agree_with_serde_json() {
        let mut body = json!({
            "json": {"params": {"a/b": 1, "m~n": [10, {"": "empty"}], "list": [0, 1, 2]}},
            "": {"x": true}
        });
        for pointer in [
            "",
            "/",
            "/json",
            "/json/params/a~1b",
            "/json/params/m~0n",
            "/json/params/m~0n/1/",
            "/json/params/list/0",
            "/json/params/list/2",
            "/json/params/list/3",
            "/json/params/list/01",
            "/json/params/list/+1",
            "/json/params/list/-",
            "//x",
            "json",
            "/json/params/a~1b/deeper",
            "/missing",
        ] {
            assert_eq!(get(&body, pointer), body.pointer(pointer), "{pointer}");
            let expected = body.clone().pointer_mut(pointer).map(|found| found.clone());
            assert_eq!(
                get_mut(&mut body, pointer).map(|found| found.clone()),
                expected
            );
        }
        *get_mut(&mut body, "/json/params/m~0n/0").unwrap() = json!("changed");
        assert_eq!(body["json"]["params"]["m~n"][0], "changed");
    }
}

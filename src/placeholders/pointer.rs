//! JSON Pointer (RFC 6901) lookups that allocate nothing for the usual pointer.
//!
//! `serde_json::Value::pointer` unescapes every reference token into a new `String`, escaped
//! or not; the rewrite looks up a handful of pointers per job (the workflow, the `params`,
//! every filled string, every patch operation), so here a token is unescaped only when it
//! holds a `~`. The rules are serde_json's: `""` is the whole value, any other pointer starts
//! with `/`, an array index is decimal without a sign or a leading zero.

use std::borrow::Cow;

use serde_json::Value;

/// The value `pointer` refers to in `value`, if any.
pub fn get<'v>(value: &'v Value, pointer: &str) -> Option<&'v Value> {
    walk(value, tokens(pointer)?)
}

/// The value under `value` at `relative`, a pointer without its leading `/` (a placeholder's
/// field, such as `oauth/client_id`).
pub fn get_relative<'v>(value: &'v Value, relative: &str) -> Option<&'v Value> {
    walk(value, relative.split('/').map(unescape))
}

fn walk<'v, 't>(
    value: &'v Value,
    mut tokens: impl Iterator<Item = Cow<'t, str>>,
) -> Option<&'v Value> {
    tokens.try_fold(value, |target, token| match target {
        Value::Object(map) => map.get(token.as_ref()),
        Value::Array(list) => index(&token).and_then(|at| list.get(at)),
        _ => None,
    })
}

/// [`get`], mutably.
pub fn get_mut<'v>(value: &'v mut Value, pointer: &str) -> Option<&'v mut Value> {
    tokens(pointer)?.try_fold(value, |target, token| match target {
        Value::Object(map) => map.get_mut(token.as_ref()),
        Value::Array(list) => index(&token).and_then(move |at| list.get_mut(at)),
        _ => None,
    })
}

/// The unescaped reference tokens of a pointer; `None` when it is neither empty nor starts
/// with `/`.
fn tokens(pointer: &str) -> Option<impl Iterator<Item = Cow<'_, str>>> {
    let rest = match pointer {
        "" => None,
        _ => Some(pointer.strip_prefix('/')?),
    };
    Some(
        rest.into_iter()
            .flat_map(|rest| rest.split('/'))
            .map(unescape),
    )
}

/// A reference token unescaped (`~1` is `/`, `~0` is `~`), copied only when it holds a `~`.
fn unescape(token: &str) -> Cow<'_, str> {
    if token.contains('~') {
        Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(token)
    }
}

/// An array index as RFC 6901 spells it: `0`, or digits not starting with `0`.
fn index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
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
        for relative in [
            "json/params/a~1b",
            "json/params/m~0n/1/",
            "json",
            "json/nope",
        ] {
            assert_eq!(
                get_relative(&body, relative),
                body.pointer(&format!("/{relative}")),
                "{relative}"
            );
        }
        *get_mut(&mut body, "/json/params/m~0n/0").unwrap() = json!("changed");
        assert_eq!(body["json"]["params"]["m~n"][0], "changed");
    }
}

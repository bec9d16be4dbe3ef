//! A cheap pass over a body's bytes before it is parsed: how deep it nests and how many values
//! it holds, so that parsing cannot amplify memory unseen.
//!
//! A parsed `serde_json::Value` weighs far more than its text: `[[],[],...]` is three bytes per
//! value in the body and a few hundred bytes per value in memory, and a deep nest costs a
//! vector per level. So a body the sidecar parses is measured first: deeper than
//! [`MAX_DEPTH`] it is refused (400 `BODY_TOO_DEEP`) without being parsed, and its
//! [`Shape::parse_cost`] is reserved from the body memory budget before `serde_json` builds it.
//! The pass skips over strings (escapes included), so brackets inside strings do not count.
//! It does not validate JSON: the parser that runs after it does.

use serde_json::Value;

/// The deepest nesting of arrays and objects accepted in a body the sidecar parses.
pub const MAX_DEPTH: usize = 64;

/// What the pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// The deepest nesting of `[` and `{`.
    pub depth: usize,
    /// An upper bound on the number of values (containers, scalars, object members).
    pub values: usize,
    /// The body's length in bytes.
    pub len: usize,
}

/// The body nests deeper than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    pub limit: usize,
}

impl Shape {
    /// An estimate (from above) of the memory the parsed document takes: every value's slot
    /// with room for vector growth and an object member's key and index, plus the text of the
    /// strings and numbers (at most the body's length).
    pub fn parse_cost(&self) -> usize {
        const SLOT: usize = 3 * std::mem::size_of::<Value>() + 48;
        self.values.saturating_mul(SLOT).saturating_add(self.len)
    }
}

/// Measures `bytes`; stops as soon as the nesting goes past `max_depth`.
pub fn shape(bytes: &[u8], max_depth: usize) -> Result<Shape, TooDeep> {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    // One value at the top, one more per container opened and per separator.
    let mut values = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                values += 1;
                if depth > max_depth {
                    return Err(TooDeep { limit: max_depth });
                }
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' | b':' => values += 1,
            _ => {}
        }
    }
    Ok(Shape {
        depth: deepest,
        values,
        len: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_skips_strings_and_stops_at_the_limit() {
        let body = br#"{"json":{"params":{"a":["[[[[", "\"[[", {"b":[1,2]}]}}}"#;
        let measured = shape(body, 64).unwrap();
        assert_eq!(measured.depth, 6);
        assert!(measured.values >= 8);
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(shape(deep.as_bytes(), 64), Err(TooDeep { limit: 64 }));
        let fine = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert_eq!(shape(fine.as_bytes(), 64).unwrap().depth, 64);
    }

    #[test]
    fn the_parse_cost_covers_what_the_parser_builds() {
        // Many tiny values: the case where a parsed document outweighs its text most.
        let body = format!("[{}[]]", "[],".repeat(10_000));
        let measured = shape(body.as_bytes(), 64).unwrap();
        let cost = measured.parse_cost();
        assert!(cost > body.len() * 50, "{cost} for {} bytes", body.len());
        let parsed: Value = serde_json::from_str(&body).unwrap();
        let slots = parsed.as_array().unwrap().capacity() * std::mem::size_of::<Value>();
        assert!(cost >= slots + body.len());
    }
}

//! Where a JSON pointer's value stands in the source text, for annotations with a line and a
//! column.
//!
//! The lint works on parsed values, which have no positions; this scans the text once more,
//! following the pointer's segments, and returns the position of the member's name (for an
//! object member) or of the element (for an array item). The text has already parsed, so its
//! nesting is bounded by the parser's limit and every string is well formed; anything the
//! scanner does not expect gives `None`, never a panic.

/// A 1-based line and column (the column counts characters, as editors and CI annotations do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text`.
    pub fn at(text: &str, offset: usize) -> Self {
        let before = &text[..offset.min(text.len())];
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// The position of `pointer` (RFC 6901, `""` for the whole document) in `text`.
pub fn locate(text: &str, pointer: &str) -> Option<Position> {
    let segments: Vec<String> = if pointer.is_empty() {
        Vec::new()
    } else {
        pointer
            .strip_prefix('/')?
            .split('/')
            .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
            .collect()
    };
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        at: 0,
    };
    scanner.skip_ws();
    let offset = scanner.find(&segments)?;
    Some(Position::at(text, offset))
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// At a value: the offset of the place `segments` leads to from it.
    fn find(&mut self, segments: &[String]) -> Option<usize> {
        let Some((first, rest)) = segments.split_first() else {
            return Some(self.at);
        };
        match self.peek()? {
            b'{' => {
                self.at += 1;
                loop {
                    self.skip_ws();
                    if self.peek()? == b'}' {
                        return None;
                    }
                    let key_at = self.at;
                    let key = self.string()?;
                    self.skip_ws();
                    (self.peek()? == b':').then_some(())?;
                    self.at += 1;
                    self.skip_ws();
                    if &key == first {
                        return if rest.is_empty() {
                            Some(key_at)
                        } else {
                            self.find(rest)
                        };
                    }
                    self.skip_value()?;
                    self.next_member()?;
                }
            }
            b'[' => {
                let index: usize = first.parse().ok()?;
                self.at += 1;
                for _ in 0..index {
                    self.skip_ws();
                    self.skip_value()?;
                    self.next_member()?;
                }
                self.skip_ws();
                (self.peek()? != b']').then_some(())?;
                self.find(rest)
            }
            _ => None,
        }
    }

    /// After a member or element: past the `,` to the next one; `None` at the end.
    fn next_member(&mut self) -> Option<()> {
        self.skip_ws();
        (self.peek()? == b',').then_some(())?;
        self.at += 1;
        Some(())
    }

    /// A string at the cursor, decoded; the cursor moves past it.
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        self.skip_string()?;
        serde_json::from_slice(&self.bytes[start..self.at]).ok()
    }

    fn skip_string(&mut self) -> Option<()> {
        (self.peek()? == b'"').then_some(())?;
        self.at += 1;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                _ => self.at += 1,
            }
        }
    }

    /// Moves past the value at the cursor.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.at += 1;
                loop {
                    self.skip_ws();
                    match self.peek()? {
                        byte if byte == close => {
                            self.at += 1;
                            return Some(());
                        }
                        b',' | b':' => self.at += 1,
                        _ => self.skip_value()?,
                    }
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "{\"json\": {\n  \"workflow\": \"w\",\n  \"params\": {\"a\": [1, {\"b\": 2}],\n    \"x/y\": \"é\", \"k~\": 3,\n    \"ü\": {\"n\": null}}}}";

    fn at(pointer: &str) -> Option<(usize, usize)> {
        locate(TEXT, pointer).map(|p| (p.line, p.column))
    }

    #[test]
    fn members_and_elements_are_found() {
        assert_eq!(at(""), Some((1, 1)));
        assert_eq!(at("/json"), Some((1, 2)));
        assert_eq!(at("/json/workflow"), Some((2, 3)));
        assert_eq!(at("/json/params/a/0"), Some((3, 20)));
        assert_eq!(at("/json/params/a/1/b"), Some((3, 24)));
        assert_eq!(at("/json/params/x~1y"), Some((4, 5)));
        assert_eq!(at("/json/params/k~0"), Some((4, 17)));
        // Columns count characters, not bytes.
        assert_eq!(at("/json/params/ü/n"), Some((5, 11)));
    }

    #[test]
    fn missing_places_are_none() {
        for pointer in [
            "/nope",
            "/json/params/a/2",
            "/json/workflow/x",
            "json",
            "/json/params/a/x",
        ] {
            assert_eq!(at(pointer), None, "{pointer}");
        }
        assert_eq!(locate("[1, 2", "/5"), None);
        assert_eq!(locate("{\"a\": \"\\", "/b"), None);
    }
}

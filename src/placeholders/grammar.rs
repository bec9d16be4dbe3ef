//! The credential placeholder grammar: how `{{credential:NAME/FIELD}}` is read out of a string.
//!
//! The sidecar exists so that apps write placeholders instead of secrets; this module is the one
//! place that decides what counts as a placeholder, so the rewrite, the `check` lint and the
//! documentation cannot drift apart. It is pure: a string in, a [`Template`] of literal text and
//! placeholders out, or a [`ParseError`] saying where and why the text is malformed.
//!
//! The grammar, exactly:
//!
//! - A placeholder is `{{credential:NAME}}` or `{{credential:NAME/POINTER}}`. Whitespace is
//!   allowed just inside the braces: `{{ credential:NAME/x }}`.
//! - NAME is one or more characters other than `/`, `{`, `}` and whitespace.
//! - POINTER is an RFC 6901 JSON Pointer without its leading `/`: `username`, `oauth/client_id`,
//!   `keys/0`, `a~1b` (key `a/b`), `a~0b` (key `a~b`). It may not contain `{`, `}` or
//!   whitespace, no segment may be empty, and a `~` must be followed by `0` or `1`.
//! - Fail closed: once `{{` is followed (after optional whitespace) by the word `credential` in
//!   any letter case, the text must complete as a placeholder, or it is malformed. So
//!   `{{credential:}}`, `{{ Credential:x }}`, `{{credentials:x}}` and an unclosed
//!   `{{credential:x` are errors, never literal text passed along unnoticed. Other `{{...}}`
//!   text (`{{name}}`) is ordinary text.
//! - Escape: an exclamation mark right after the braces, `{{!credential:`, stands for the
//!   literal text `{{credential:`. One `!` is removed per occurrence, so `{{!!credential:` stands
//!   for `{{!credential:`, and so on: every literal text can be written.
//! - Text is scanned once: a value that is filled in is never read for placeholders again.

use std::fmt;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

/// The word that opens a placeholder after `{{`.
pub const KEYWORD: &str = "credential";

/// Byte patterns that may begin a placeholder in a raw JSON body: the braces themselves, and a
/// `\u007b`/`\u007B` escape, because JSON may spell `{` that way.
static MAY_OPEN: LazyLock<Option<AhoCorasick>> =
    LazyLock::new(|| AhoCorasick::new(["{{", "\\u007"]).ok());

/// A cheap pre-check on a raw body: `false` means the body holds no placeholder and no escape, so
/// it may be forwarded byte for byte without being parsed. `true` only means "parse and look".
pub fn may_contain_placeholder(bytes: &[u8]) -> bool {
    match MAY_OPEN.as_ref() {
        Some(searcher) => searcher.is_match(bytes),
        // The automaton is built from two constant patterns and cannot fail; should it ever,
        // the safe answer is "look closer".
        None => true,
    }
}

/// One reference to a stored credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Placeholder {
    /// The credential's name.
    pub name: String,
    /// The JSON Pointer into the credential's value, without its leading `/`, escapes intact
    /// (`oauth/client_id`, `a~1b`); `None` takes the whole value.
    pub pointer: Option<String>,
}

impl Placeholder {
    /// The pointer as an RFC 6901 pointer from the credential value's root (`/oauth/client_id`),
    /// or the empty pointer for the whole value.
    pub fn json_pointer(&self) -> String {
        match &self.pointer {
            Some(pointer) => format!("/{pointer}"),
            None => String::new(),
        }
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pointer {
            Some(pointer) => write!(f, "{{{{{KEYWORD}:{}/{pointer}}}}}", self.name),
            None => write!(f, "{{{{{KEYWORD}:{}}}}}", self.name),
        }
    }
}

/// A piece of a parsed string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text, escapes already removed.
    Text(String),
    Placeholder(Placeholder),
}

/// A string read as literal text and placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pieces: Vec<Piece>,
    escapes: usize,
}

impl Template {
    /// Reads a string; fails on the first malformed placeholder.
    pub fn parse(text: &str) -> Result<Template, ParseError> {
        Parser::new(text).run()
    }

    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    pub fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Placeholder(placeholder) => Some(placeholder),
            Piece::Text(_) => None,
        })
    }

    pub fn placeholder_count(&self) -> usize {
        self.placeholders().count()
    }

    /// How many `{{!` escapes the text held.
    pub fn escape_count(&self) -> usize {
        self.escapes
    }

    /// True when the string means exactly what it says: no placeholder and no escape.
    pub fn is_verbatim(&self) -> bool {
        self.escapes == 0 && self.placeholders().next().is_none()
    }

    /// The placeholder when the whole string is exactly one placeholder (whitespace inside the
    /// braces allowed, nothing outside them); such a string takes the JSON value it points to.
    pub fn whole(&self) -> Option<&Placeholder> {
        match self.pieces.as_slice() {
            [Piece::Placeholder(placeholder)] => Some(placeholder),
            _ => None,
        }
    }

    /// The literal text, escapes removed; placeholders are left out. For a verbatim or
    /// escape-only string this is the text to forward.
    pub fn literal_text(&self) -> String {
        self.pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Text(text) => Some(text.as_str()),
                Piece::Placeholder(_) => None,
            })
            .collect()
    }
}

/// Why a placeholder is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// `{{Credential` or another spelling than lower-case `credential`.
    KeywordCase,
    /// `{{credential` not followed by `:`.
    MissingColon,
    /// `{{credential:}}` or `{{credential:/x}}`.
    EmptyName,
    /// `{{credential:NAME/}}`.
    EmptyPointer,
    /// `{{credential:NAME/a//b}}`.
    EmptySegment,
    /// A `~` not followed by `0` or `1`.
    BadTilde,
    /// The text ends before the closing `}}`.
    Unclosed,
    /// A character that cannot stand where it stands (a brace, or whitespace inside the name).
    Unexpected(char),
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::KeywordCase => {
                write!(f, "the keyword must be written `credential`, in lower case")
            }
            ParseErrorKind::MissingColon => write!(
                f,
                "`credential` must be followed by `:` and the credential name"
            ),
            ParseErrorKind::EmptyName => write!(f, "the credential name is empty"),
            ParseErrorKind::EmptyPointer => write!(f, "the field after `/` is empty"),
            ParseErrorKind::EmptySegment => {
                write!(f, "the field pointer has an empty segment (`//`)")
            }
            ParseErrorKind::BadTilde => write!(
                f,
                "a `~` in the field must be followed by 0 (for `~`) or 1 (for `/`)"
            ),
            ParseErrorKind::Unclosed => write!(f, "the closing `}}}}` is missing"),
            ParseErrorKind::Unexpected(c) if c.is_whitespace() => {
                write!(f, "unexpected whitespace; expected the closing `}}}}`")
            }
            ParseErrorKind::Unexpected(c) => {
                write!(f, "unexpected {c:?}; expected the closing `}}}}`")
            }
        }
    }
}

/// A malformed placeholder: where it starts and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Character (not byte) offset of the `{{` that opens the malformed placeholder.
    pub offset: usize,
    pub kind: ParseErrorKind,
    /// The credential name, when it was read before the error.
    pub name: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed credential placeholder at character {}: {}",
            self.offset, self.kind
        )
    }
}

impl std::error::Error for ParseError {}

/// A single left-to-right pass over the text.
struct Parser<'a> {
    text: &'a str,
    /// Byte position of the next unread character.
    at: usize,
    /// Literal text gathered since the last placeholder.
    literal: String,
    template: Template,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            at: 0,
            literal: String::new(),
            template: Template::default(),
        }
    }

    fn run(mut self) -> Result<Template, ParseError> {
        while let Some(found) = self.text[self.at..].find("{{") {
            let open = self.at + found;
            let inner = open + 2;
            let bangs = self.text[inner..]
                .bytes()
                .take_while(|&b| b == b'!')
                .count();
            let keyword_at = skip_whitespace(self.text, inner + bangs);
            if !starts_with_keyword(&self.text[keyword_at..]) {
                // Not a placeholder: keep one brace and look again from the next one, so that
                // `{{{credential:x}}` still finds the placeholder after the first brace.
                self.literal.push_str(&self.text[self.at..=open]);
                self.at = open + 1;
                continue;
            }
            if bangs > 0 {
                // An escape: keep the text, minus one `!`.
                self.literal
                    .push_str(&self.text[self.at..inner + bangs - 1]);
                self.template.escapes += 1;
                self.at = inner + bangs;
                continue;
            }
            let (placeholder, end) = self.placeholder(open, keyword_at)?;
            self.literal.push_str(&self.text[self.at..open]);
            self.flush_literal();
            self.template.pieces.push(Piece::Placeholder(placeholder));
            self.at = end;
        }
        self.literal.push_str(&self.text[self.at..]);
        self.flush_literal();
        Ok(self.template)
    }

    fn flush_literal(&mut self) {
        if !self.literal.is_empty() {
            let text = std::mem::take(&mut self.literal);
            self.template.pieces.push(Piece::Text(text));
        }
    }

    /// Reads the placeholder whose `{{` is at byte `open` and whose keyword is at `keyword_at`;
    /// returns it with the byte position just after its `}}`.
    fn placeholder(
        &self,
        open: usize,
        keyword_at: usize,
    ) -> Result<(Placeholder, usize), ParseError> {
        let fail = |kind, name: Option<&str>| ParseError {
            offset: self.text[..open].chars().count(),
            kind,
            name: name.map(str::to_owned),
        };
        let text = self.text;
        if !text[keyword_at..].starts_with(KEYWORD) {
            return Err(fail(ParseErrorKind::KeywordCase, None));
        }
        let colon = keyword_at + KEYWORD.len();
        if !text[colon..].starts_with(':') {
            return Err(fail(ParseErrorKind::MissingColon, None));
        }
        let name_start = colon + 1;
        let name_end = name_start + field_len(&text[name_start..], true);
        let name = &text[name_start..name_end];
        if name.is_empty() {
            return Err(fail(ParseErrorKind::EmptyName, None));
        }
        let mut at = name_end;
        let mut pointer = None;
        if text[at..].starts_with('/') {
            let start = at + 1;
            let end = start + field_len(&text[start..], false);
            let written = &text[start..end];
            if let Err(kind) = check_pointer(written) {
                return Err(fail(kind, Some(name)));
            }
            pointer = Some(written.to_owned());
            at = end;
        }
        at = skip_whitespace(text, at);
        if !text[at..].starts_with("}}") {
            let kind = match text[at..].chars().next() {
                None => ParseErrorKind::Unclosed,
                Some(c) => ParseErrorKind::Unexpected(c),
            };
            return Err(fail(kind, Some(name)));
        }
        let placeholder = Placeholder {
            name: name.to_owned(),
            pointer,
        };
        Ok((placeholder, at + 2))
    }
}

/// True when `rest` opens with the keyword in any letter case (the fail-closed trigger).
fn starts_with_keyword(rest: &str) -> bool {
    rest.get(..KEYWORD.len())
        .is_some_and(|word| word.eq_ignore_ascii_case(KEYWORD))
}

fn skip_whitespace(text: &str, from: usize) -> usize {
    let rest = &text[from..];
    from + (rest.len() - rest.trim_start().len())
}

/// Byte length of a name (`stop_at_slash`) or pointer: up to a brace, whitespace or the end.
fn field_len(rest: &str, stop_at_slash: bool) -> usize {
    rest.find(|c: char| c == '{' || c == '}' || c.is_whitespace() || (stop_at_slash && c == '/'))
        .unwrap_or(rest.len())
}

/// Checks a written pointer (without its leading `/`).
fn check_pointer(written: &str) -> Result<(), ParseErrorKind> {
    if written.is_empty() {
        return Err(ParseErrorKind::EmptyPointer);
    }
    for segment in written.split('/') {
        if segment.is_empty() {
            return Err(ParseErrorKind::EmptySegment);
        }
        let mut chars = segment.chars();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err(ParseErrorKind::BadTilde);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

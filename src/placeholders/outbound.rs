//! The last line of defence: spotting placeholder text in bytes about to leave the sidecar.
//!
//! Whatever route a request takes, no body may reach the upstream with `{{credential:` in it
//! (the grammar's keyword, after `{{` and any whitespace, in any letter case), nor in any
//! spelling an upstream's JSON parser would decode to it: every character may be a `\uXXXX`
//! escape (hex in either case), whitespace may be `\t`, `\n`, `\r`, `\f`, `\b`-free escapes or
//! Unicode spaces, and an unknown escape (`\{`) is read as generously as possible. The
//! [`Sniffer`] decodes as it goes and keeps its state between chunks, so a placeholder split
//! across chunks (or inside an escape split across chunks) is seen as well; it never holds more
//! than a few bytes. It errs on the side of seeing a placeholder: a literal `\u007b` in a body
//! that is not JSON counts too.

use super::grammar::KEYWORD;

/// A streaming matcher of placeholder openings over raw bytes.
#[derive(Debug, Default, Clone)]
pub struct Sniffer {
    decode: Decode,
    /// UTF-8 code point being assembled: its value and the continuation bytes still due.
    utf8: (u32, u8),
    matched: Match,
    found: bool,
}

#[derive(Debug, Default, Clone, Copy)]
enum Decode {
    #[default]
    Normal,
    Backslash,
    /// `\u` and this many hex digits, with their value so far.
    Unicode(u8, u32),
}

#[derive(Debug, Default, Clone, Copy)]
enum Match {
    #[default]
    Nothing,
    OneBrace,
    /// `{{`, optional whitespace, then this many letters of the keyword.
    Keyword(usize),
}

/// A code point that matches nothing (an unfinished or invalid sequence).
const NONE: u32 = u32::MAX;

impl Sniffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes; `true` once a placeholder opening has been seen (and from then on).
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        for &byte in bytes {
            if self.found {
                break;
            }
            self.byte(byte);
        }
        self.found
    }

    pub fn found(&self) -> bool {
        self.found
    }

    fn byte(&mut self, byte: u8) {
        match self.decode {
            Decode::Normal => {
                if byte == b'\\' {
                    self.decode = Decode::Backslash;
                } else {
                    self.raw(byte);
                }
            }
            Decode::Backslash => {
                self.decode = Decode::Normal;
                let decoded = match byte {
                    b'u' | b'U' => {
                        self.decode = Decode::Unicode(0, 0);
                        return;
                    }
                    b'n' => '\n',
                    b't' => '\t',
                    b'r' => '\r',
                    b'f' => '\u{c}',
                    b'b' => '\u{8}',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'"' => '"',
                    _ => {
                        // Not a JSON escape: the backslash stands for itself.
                        self.char(u32::from(b'\\'));
                        self.raw(byte);
                        return;
                    }
                };
                self.char(u32::from(decoded));
            }
            Decode::Unicode(digits, value) => match char::from(byte).to_digit(16) {
                Some(digit) => {
                    let value = value * 16 + digit;
                    if digits == 3 {
                        self.decode = Decode::Normal;
                        self.char(value);
                    } else {
                        self.decode = Decode::Unicode(digits + 1, value);
                    }
                }
                None => {
                    self.decode = Decode::Normal;
                    self.char(NONE);
                    self.raw(byte);
                }
            },
        }
    }

    /// One byte outside an escape: ASCII, or part of a UTF-8 sequence.
    fn raw(&mut self, byte: u8) {
        let (value, due) = self.utf8;
        if due > 0 {
            if byte & 0xC0 == 0x80 {
                let value = (value << 6) | u32::from(byte & 0x3F);
                self.utf8 = (value, due - 1);
                if due == 1 {
                    self.char(value);
                }
                return;
            }
            self.utf8 = (0, 0);
            self.char(NONE);
        }
        match byte {
            0x00..=0x7F => self.char(u32::from(byte)),
            0xC0..=0xDF => self.utf8 = (u32::from(byte & 0x1F), 1),
            0xE0..=0xEF => self.utf8 = (u32::from(byte & 0x0F), 2),
            0xF0..=0xF7 => self.utf8 = (u32::from(byte & 0x07), 3),
            _ => self.char(NONE),
        }
    }

    /// One decoded code point.
    fn char(&mut self, code: u32) {
        let keyword = KEYWORD.as_bytes();
        let lower = char::from_u32(code).map(|c| c.to_ascii_lowercase());
        self.matched = match (self.matched, lower) {
            (Match::Nothing, Some('{')) => Match::OneBrace,
            (Match::OneBrace, Some('{')) => Match::Keyword(0),
            (Match::Keyword(0), Some(c)) if c == '{' || c.is_whitespace() => Match::Keyword(0),
            (Match::Keyword(done), Some(c)) if c == char::from(keyword[done]) => {
                if done + 1 == keyword.len() {
                    self.found = true;
                }
                Match::Keyword(done + 1)
            }
            (_, Some('{')) => Match::OneBrace,
            _ => Match::Nothing,
        };
    }
}

/// Whether `bytes` hold a placeholder opening in any spelling [`Sniffer`] sees.
pub fn holds_placeholder(bytes: &[u8]) -> bool {
    Sniffer::new().feed(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_an_upstream_would_decode_is_seen() {
        for text in [
            "{{credential:a}}",
            "x {{ credential:a}}",
            "{{CREDENTIAL:a}}",
            "{{{credential:a}}",
            r"\u007b\u007bcredential:a}}",
            r"{\u007Bcredential:a}}",
            r"\u007b{credential:a}}",
            r"{{\u0063redential:a}}",
            r"{{\u0063\u0072\u0065\u0064\u0065\u006e\u0074\u0069\u0061\u006c:a}}",
            r"{{\ncredential:a}}",
            r"{{\tcredential",
            "{{\u{a0}credential:a}}",
            r"{{\u00a0credential:a}}",
            r"\{{credential:a}}",
            r#"{"json":{"params":{"p":"{{credential:a}}"}}}"#,
        ] {
            assert!(holds_placeholder(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn split_across_chunks_is_seen() {
        let text = r"x\u007b\u007bcredential:a}}";
        for at in 0..text.len() {
            let mut sniffer = Sniffer::new();
            sniffer.feed(&text.as_bytes()[..at]);
            assert!(sniffer.feed(&text.as_bytes()[at..]), "split at {at}");
        }
        let mut sniffer = Sniffer::new();
        for byte in "{{\u{3000}credential".as_bytes() {
            sniffer.feed(&[*byte]);
        }
        assert!(sniffer.found());
    }

    #[test]
    fn other_text_passes() {
        for text in [
            "{{!credential:a}}",
            "{ {credential:a}}",
            r"\\u007b\\u007bcredential",
            "{{credentia",
            "{{cred ential",
            r#"{"json":{"a":"{{x}}","credential":"{"}}"#,
            "credential:{{",
        ] {
            assert!(!holds_placeholder(text.as_bytes()), "{text}");
        }
    }
}

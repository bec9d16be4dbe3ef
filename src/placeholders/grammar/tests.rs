//! Unit tests of `grammar`.

use super::*;

fn ph(name: &str, pointer: Option<&str>) -> Placeholder {
    Placeholder {
        name: name.into(),
        pointer: pointer.map(Into::into),
    }
}

fn kind(text: &str) -> ParseErrorKind {
    Template::parse(text).unwrap_err().kind
}

#[test]
fn whole_placeholder() {
    let t = Template::parse("{{credential:portal-production/username}}").unwrap();
    assert_eq!(t.whole(), Some(&ph("portal-production", Some("username"))));
    let t = Template::parse("{{credential:api}}").unwrap();
    assert_eq!(t.whole(), Some(&ph("api", None)));
}

#[test]
fn whitespace_inside_the_braces() {
    for text in [
        "{{ credential:db/x }}",
        "{{credential:db/x }}",
        "{{\tcredential:db/x\n}}",
        "{{\u{a0}credential:db/x}}",
    ] {
        let t = Template::parse(text).unwrap();
        assert_eq!(t.whole(), Some(&ph("db", Some("x"))), "{text:?}");
    }
}

#[test]
fn whitespace_outside_the_braces_is_interpolation() {
    let t = Template::parse(" {{credential:db/x}}").unwrap();
    assert_eq!(t.whole(), None);
    assert_eq!(
        t.pieces(),
        &[
            Piece::Text(" ".into()),
            Piece::Placeholder(ph("db", Some("x")))
        ]
    );
}

#[test]
fn pointers_keep_their_escapes() {
    for pointer in [
        "oauth/client_id",
        "keys/0",
        "~1",
        "~0",
        "a~1b~0c/d",
        "-",
        "é/ß",
    ] {
        let text = format!("{{{{credential:n/{pointer}}}}}");
        let t = Template::parse(&text).unwrap();
        assert_eq!(t.whole(), Some(&ph("n", Some(pointer))), "{text}");
        assert_eq!(t.whole().unwrap().to_string(), text);
    }
}

#[test]
fn names_may_hold_odd_characters() {
    for name in ["a:b", "prod.db", "ключ", "x!", "a~b", "100%"] {
        let text = format!("{{{{credential:{name}}}}}");
        let t = Template::parse(&text).unwrap();
        assert_eq!(t.whole(), Some(&ph(name, None)), "{text}");
    }
}

#[test]
fn interpolation() {
    let t = Template::parse("Bearer {{credential:api/token}} and {{credential:b}}!").unwrap();
    assert_eq!(
        t.pieces(),
        &[
            Piece::Text("Bearer ".into()),
            Piece::Placeholder(ph("api", Some("token"))),
            Piece::Text(" and ".into()),
            Piece::Placeholder(ph("b", None)),
            Piece::Text("!".into()),
        ]
    );
    assert_eq!(t.placeholder_count(), 2);
    let t = Template::parse("{{credential:a}}{{credential:b}}").unwrap();
    assert_eq!(t.whole(), None);
    assert_eq!(t.placeholder_count(), 2);
}

#[test]
fn malformed() {
    assert_eq!(kind("{{credential:}}"), ParseErrorKind::EmptyName);
    assert_eq!(kind("{{credential:/x}}"), ParseErrorKind::EmptyName);
    assert_eq!(kind("{{credential: x}}"), ParseErrorKind::EmptyName);
    assert_eq!(kind("{{credential:x/}}"), ParseErrorKind::EmptyPointer);
    assert_eq!(kind("{{credential:x/a//b}}"), ParseErrorKind::EmptySegment);
    assert_eq!(kind("{{credential:x/a/}}"), ParseErrorKind::EmptySegment);
    assert_eq!(kind("{{credential:x/~}}"), ParseErrorKind::BadTilde);
    assert_eq!(kind("{{credential:x/~2}}"), ParseErrorKind::BadTilde);
    assert_eq!(kind("{{credential:x/a~}}"), ParseErrorKind::BadTilde);
    assert_eq!(kind("{{credential:x"), ParseErrorKind::Unclosed);
    assert_eq!(kind("{{credential:x/y "), ParseErrorKind::Unclosed);
    assert_eq!(kind("{{credential:x}"), ParseErrorKind::Unexpected('}'));
    assert_eq!(kind("{{credential:x y}}"), ParseErrorKind::Unexpected('y'));
    assert_eq!(
        kind("{{credential:x/a b}}"),
        ParseErrorKind::Unexpected('b')
    );
    assert_eq!(kind("{{credential:a{b}}"), ParseErrorKind::Unexpected('{'));
    assert_eq!(
        kind("{{credential:{{credential:x}}}}"),
        ParseErrorKind::EmptyName
    );
    assert_eq!(kind("{{Credential:x}}"), ParseErrorKind::KeywordCase);
    assert_eq!(kind("{{ CREDENTIAL:x}}"), ParseErrorKind::KeywordCase);
    assert_eq!(kind("{{credentials:x}}"), ParseErrorKind::MissingColon);
    assert_eq!(kind("{{credential}}"), ParseErrorKind::MissingColon);
    assert_eq!(kind("{{credential :x}}"), ParseErrorKind::MissingColon);
}

#[test]
fn error_reports_character_offset_and_name() {
    let err = Template::parse("ünï {{credential:db/~x}}").unwrap_err();
    assert_eq!(err.offset, 4);
    assert_eq!(err.name.as_deref(), Some("db"));
    assert!(err.to_string().contains("character 4"));
}

#[test]
fn a_later_malformed_placeholder_fails_the_whole_string() {
    assert!(Template::parse("{{credential:a}} {{credential:").is_err());
}

#[test]
fn other_braces_are_text() {
    for text in [
        "{{name}}",
        "{{ credentia }}",
        "{",
        "{{",
        "}}",
        "{{!}}",
        "a{{b",
        "{{!name}}",
    ] {
        let t = Template::parse(text).unwrap();
        assert!(t.is_verbatim(), "{text}");
        assert_eq!(t.literal_text(), text);
    }
}

#[test]
fn extra_braces_around_a_placeholder() {
    let t = Template::parse("{{{credential:a}}}").unwrap();
    assert_eq!(
        t.pieces(),
        &[
            Piece::Text("{".into()),
            Piece::Placeholder(ph("a", None)),
            Piece::Text("}".into()),
        ]
    );
}

#[test]
fn escapes() {
    let t = Template::parse("use {{!credential:NAME/FIELD}} here").unwrap();
    assert_eq!(t.placeholder_count(), 0);
    assert_eq!(t.escape_count(), 1);
    assert!(!t.is_verbatim());
    assert_eq!(t.literal_text(), "use {{credential:NAME/FIELD}} here");

    let t = Template::parse("{{!!credential:x}}").unwrap();
    assert_eq!(t.literal_text(), "{{!credential:x}}");
    // The escape also covers the forms that would otherwise be malformed.
    let t = Template::parse("{{! Credential:").unwrap();
    assert_eq!(t.literal_text(), "{{ Credential:");
    // Escapes and placeholders mix.
    let t = Template::parse("{{!credential:a}}={{credential:a}}").unwrap();
    assert_eq!(
        t.pieces(),
        &[
            Piece::Text("{{credential:a}}=".into()),
            Piece::Placeholder(ph("a", None)),
        ]
    );
}

#[test]
fn pre_check() {
    assert!(may_contain_placeholder(b"{\"a\":\"{{credential:x}}\"}"));
    assert!(may_contain_placeholder(b"{\"a\":\"{{name}}\"}"));
    assert!(may_contain_placeholder(
        b"{\"a\":\"\\u007b\\u007Bcredential:x}}\"}"
    ));
    assert!(!may_contain_placeholder(b"{\"a\":{\"b\":{}}}"));
    assert!(!may_contain_placeholder(b""));
}

#[test]
fn display_round_trips() {
    let p = ph("a", Some("b~1c"));
    assert_eq!(p.to_string(), "{{credential:a/b~1c}}");
    assert_eq!(p.json_pointer(), "/b~1c");
    assert_eq!(ph("a", None).json_pointer(), "");
}

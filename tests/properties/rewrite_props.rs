//! Properties of the grammar and the rewrite over generated inputs: the parser never panics,
//! secrets survive the trip to the wire exactly, and resolved output holds no placeholder.

use libretto_sidecar::placeholders::grammar::{Piece, Template};
use libretto_sidecar::placeholders::{apply, parse_body, plan, scan, scan_with, Collect, Scope};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Text built from the pieces the grammar cares about, so the generator reaches its corners
/// far more often than uniform strings would.
fn grammar_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("credential".to_owned()),
        Just("Credential".to_owned()),
        Just(":".to_owned()),
        Just("/".to_owned()),
        Just("~".to_owned()),
        Just("~0".to_owned()),
        Just("~1".to_owned()),
        Just("!".to_owned()),
        Just(" ".to_owned()),
        Just("\u{a0}".to_owned()),
        "[a-z0-9é]{1,3}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// A JSON value of any type, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z~/ ]{0,4}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A piece of a string holding placeholders, with the grammar's sharp edges: lone and double
/// braces, `{{...}}` text that is not a placeholder, escapes, and secrets full of braces and
/// placeholder-like text.
#[derive(Debug, Clone)]
enum TemplatePiece {
    /// Surrounding text. It never holds the word `credential` (no `c` at all), so however the
    /// pieces meet, braces before it cannot open a malformed placeholder.
    Text(String),
    /// `{{!credential:` with this many `!`: stands for the text with one `!` fewer.
    Escape { bangs: usize },
    /// `{{credential:c/FIELD}}` (spaced inside the braces or not), filled with `secret`.
    Placeholder {
        field: String,
        secret: String,
        spaced: bool,
    },
}

impl TemplatePiece {
    /// The piece as the app writes it.
    fn source(&self) -> String {
        match self {
            TemplatePiece::Text(text) => text.clone(),
            TemplatePiece::Escape { bangs } => format!("{{{{{}credential:", "!".repeat(*bangs)),
            TemplatePiece::Placeholder { field, .. } => format!("{{{{credential:c/{field}}}}}"),
        }
    }
}

fn template_piece() -> impl Strategy<Value = TemplatePiece> {
    let text = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("{{name}}".to_owned()),
        Just("{{ !".to_owned()),
        "[a-bd-z0-9 :/!~é]{0,6}",
    ];
    prop_oneof![
        3 => text.prop_map(TemplatePiece::Text),
        1 => (1..3usize).prop_map(|bangs| TemplatePiece::Escape { bangs }),
        3 => ("[a-z]{1,4}", secret_text(), any::<bool>()).prop_map(|(field, secret, spaced)| {
            TemplatePiece::Placeholder { field, secret, spaced }
        }),
    ]
}

/// A secret value: any text, often with braces and text that reads like a placeholder, an
/// escape or a malformed one. All of it must reach the upstream as it is.
fn secret_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("{{credential:c/x}}".to_owned()),
        Just("{{credential:".to_owned()),
        Just("{{!credential:".to_owned()),
        Just("{{credentials:x}}".to_owned()),
        Just("{{ Credential:x }}".to_owned()),
        "[^{}]{0,6}",
    ];
    prop::collection::vec(piece, 0..5).prop_map(|pieces| pieces.concat())
}

/// Text that starts like a placeholder but is not one: refused wherever it stands.
fn near_miss() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "{{credentials:x}}",
        "{{ Credential:x }}",
        "{{CREDENTIAL:x}}",
        "{{credential x}}",
        "{{credential:}}",
        "{{ credential:/x }}",
        "{{credential:a/}}",
        "{{credential:a//b}}",
        "{{credential:a/~2}}",
    ])
}

/// Rewrites `body` against one credential `c` and returns what the upstream would parse.
fn rewrite_on_the_wire(body: Value, credential: Value) -> Value {
    let bytes = serde_json::to_vec(&body).unwrap();
    let mut parsed = parse_body(&bytes).unwrap();
    let scan = scan(&parsed, Scope::JobParams).unwrap();
    let patch = plan(&scan, &|name: &str| {
        (name == "c").then(|| credential.clone())
    })
    .unwrap();
    apply(&mut parsed, &patch).unwrap();
    let wire = serde_json::to_vec(&parsed).unwrap();
    serde_json::from_slice(&wire).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: crate::regressions(), ..ProptestConfig::default() })]

    #[test]
    fn the_parser_never_panics_on_any_string(text in any::<String>()) {
        let _ = Template::parse(&text);
    }

    #[test]
    fn the_parser_is_consistent_on_grammar_soup(text in grammar_soup()) {
        match Template::parse(&text) {
            Ok(template) => {
                // Text without any escape reads back exactly when placeholders are printed.
                if template.escape_count() == 0 {
                    let printed: String = template.pieces().iter().map(|piece| match piece {
                        Piece::Text(text) => text.clone(),
                        Piece::Placeholder(placeholder) => placeholder.to_string(),
                    }).collect();
                    let reparsed = Template::parse(&printed).unwrap();
                    prop_assert_eq!(reparsed.placeholders().collect::<Vec<_>>(),
                        template.placeholders().collect::<Vec<_>>());
                }
            }
            Err(err) => prop_assert!(err.offset < text.chars().count()),
        }
        // A scan of the same text inside params never panics either, in either mode.
        let body = json!({"json": {"params": {"a": text.clone()}, "workflow": text}});
        let _ = scan_with(&body, Scope::JobParams, Collect::All);
    }

    #[test]
    fn any_secret_string_survives_the_round_trip(secret in any::<String>()) {
        let body = json!({"json": {"workflow": "w", "params": {
            "whole": "{{credential:c/s}}",
            "inside": "<{{credential:c/s}}>",
            "string_credential": "{{ credential:c }}",
        }}});
        let upstream = rewrite_on_the_wire(body, json!({"s": secret.clone()}));
        prop_assert_eq!(&upstream["json"]["params"]["whole"], &json!(secret));
        prop_assert_eq!(&upstream["json"]["params"]["inside"], &json!(format!("<{secret}>")));
        prop_assert_eq!(&upstream["json"]["params"]["string_credential"], &json!({"s": secret}));

        let body = json!({"json": {"params": {"string_credential": "{{ credential:c }}"}}});
        let upstream = rewrite_on_the_wire(body, json!(secret.clone()));
        prop_assert_eq!(&upstream["json"]["params"]["string_credential"], &json!(secret));
    }

    #[test]
    fn any_json_value_keeps_its_type(value in json_value()) {
        let body = json!({"json": {"params": {"nested": ["{{credential:c/v}}"]}}});
        let upstream = rewrite_on_the_wire(body, json!({"v": value.clone()}));
        prop_assert_eq!(&upstream["json"]["params"]["nested"][0], &value);
    }

    #[test]
    fn resolved_output_holds_no_placeholder(pieces in prop::collection::vec(template_piece(), 1..8)) {
        let mut template = String::new();
        let mut expected = String::new();
        let mut credential = serde_json::Map::new();
        let mut escapes = 0;
        for piece in &pieces {
            match piece {
                TemplatePiece::Text(text) => {
                    template.push_str(text);
                    expected.push_str(text);
                }
                TemplatePiece::Escape { bangs } => {
                    template.push_str(&format!("{{{{{}credential:", "!".repeat(*bangs)));
                    expected.push_str(&format!("{{{{{}credential:", "!".repeat(bangs - 1)));
                    escapes += 1;
                }
                TemplatePiece::Placeholder { field, secret, spaced } => {
                    // One value per field, so repeated fields agree.
                    let secret = credential
                        .entry(field.clone())
                        .or_insert_with(|| json!(secret))
                        .as_str()
                        .unwrap()
                        .to_owned();
                    template.push_str(&if *spaced {
                        format!("{{{{ credential:c/{field} }}}}")
                    } else {
                        format!("{{{{credential:c/{field}}}}}")
                    });
                    expected.push_str(&secret);
                }
            }
        }
        let parsed = Template::parse(&template).unwrap();
        prop_assert_eq!(parsed.escape_count(), escapes);
        let body = json!({"json": {"params": {"t": template.clone()}}});
        let upstream = rewrite_on_the_wire(body, Value::Object(credential.clone()));
        // Surrounding text and escapes come out as written (one `!` fewer per escape), and each
        // secret exactly as stored, even where it reads like a placeholder: filled-in text is
        // never read for placeholders again. A whole-string placeholder takes the value as
        // JSON: a string here, so the same text.
        prop_assert_eq!(&upstream["json"]["params"]["t"], &json!(expected));
        // Without escapes and placeholder-like secrets, nothing in the output reads as one.
        let placeholder_like = |text: &str| text.to_lowercase().contains("credential");
        if escapes == 0 && !credential.values().any(|secret| placeholder_like(secret.as_str().unwrap())) {
            let (rescan, errors) = scan_with(&upstream, Scope::JobParams, Collect::All);
            prop_assert!(rescan.is_empty());
            prop_assert!(errors.is_empty());
        }
    }

    #[test]
    fn a_near_miss_among_valid_text_is_refused(
        before in prop::collection::vec(template_piece(), 0..4),
        near_miss in near_miss(),
        after in prop::collection::vec(template_piece(), 0..4),
    ) {
        let text = |pieces: &[TemplatePiece]| pieces.iter().map(TemplatePiece::source).collect::<String>();
        let template = format!("{}{near_miss}{}", text(&before), text(&after));
        let body = json!({"json": {"params": {"t": template}}});
        let err = scan(&body, Scope::JobParams).unwrap_err();
        prop_assert_eq!(err.code(), "PLACEHOLDER_INVALID");
        prop_assert_eq!(err.path(), "/json/params/t");
    }

    #[test]
    fn any_bytes_or_json_body_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        value in json_value(),
        credential in json_value(),
    ) {
        let _ = parse_body(&bytes);
        for body in [value.clone(), json!({"json": {"workflow": "w", "params": value}})] {
            for scope in [Scope::JobParams, Scope::Stored] {
                let _ = scan_with(&body, scope, Collect::All);
                if let Ok(scan) = scan(&body, scope) {
                    if let Ok(patch) = plan(&scan, &|_: &str| Some(credential.clone())) {
                        let mut body = body.clone();
                        let _ = apply(&mut body, &patch);
                    }
                }
            }
        }
    }
}

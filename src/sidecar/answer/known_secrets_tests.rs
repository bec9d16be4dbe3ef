//! Unit tests of the known secrets: retention, budgets, refusals and the rebuild cost.

use super::*;
use serde_json::json;

fn limits(total_bytes: usize, retention: Duration) -> KnownLimits {
    KnownLimits {
        total_bytes,
        value_bytes: VALUE_BUDGET,
        retention,
    }
}

#[test]
fn learns_values_and_keeps_every_rotation() {
    let known = KnownSecrets::new();
    assert_eq!(known.scrubber().pattern_count(), 0);
    let value = json!({"username": "alice-user", "password": "first-pass"});
    known.learn("portal", &value).unwrap();
    let before = known.scrubber();
    known.learn("portal", &value).unwrap();
    assert!(
        Arc::ptr_eq(&before, &known.scrubber()),
        "same value must not rebuild"
    );
    for round in 0..50 {
        let rotated = json!({"password": format!("rotation-{round}")});
        known.learn("portal", &rotated).unwrap();
    }
    let scrubber = known.scrubber();
    assert!(
        scrubber.scrub_str("first-pass").is_some(),
        "no count of rotations pushes a value out"
    );
    assert!(scrubber.scrub_str("rotation-49").is_some());
    assert!(scrubber.scrub_str("alice-user").is_some());
}

#[test]
fn values_are_forgotten_by_age_only() {
    let known = KnownSecrets::with_limits(limits(BYTE_BUDGET, Duration::from_secs(60)));
    let start = Instant::now();
    known.learn_at("a", &json!("old-secret"), start).unwrap();
    known.learn_at("b", &json!("kept-secret"), start).unwrap();
    // Seen again: its age starts over.
    let later = start + Duration::from_secs(50);
    known.learn_at("b", &json!("kept-secret"), later).unwrap();
    let after = start + Duration::from_secs(61);
    known.learn_at("c", &json!("new-secret"), after).unwrap();
    let scrubber = known.scrubber();
    assert!(scrubber.scrub_str("old-secret").is_none());
    assert!(scrubber.scrub_str("kept-secret").is_some());
    assert!(scrubber.scrub_str("new-secret").is_some());
}

#[test]
fn over_the_budget_a_new_value_is_refused_and_no_old_one_forgotten() {
    let one = Scrubber::pattern_bytes("secret-0000");
    let known = KnownSecrets::with_limits(limits(one * 3, RETENTION));
    let start = Instant::now();
    for index in 0..3u64 {
        let at = start + Duration::from_secs(index);
        known
            .learn_at("n", &json!(format!("secret-{index:04}")), at)
            .unwrap();
    }
    let refused = known.learn_at("n", &json!("secret-0003"), start + Duration::from_secs(3));
    assert_eq!(refused, Err(LearnError::BudgetFull { budget: one * 3 }));
    let scrubber = known.scrubber();
    for index in 0..3 {
        assert!(scrubber.scrub_str(&format!("secret-{index:04}")).is_some());
    }
    assert!(scrubber.scrub_str("secret-0003").is_none());
    // Once the old values are past their retention, they make room.
    let late = start + RETENTION + Duration::from_secs(10);
    known.learn_at("n", &json!("secret-0003"), late).unwrap();
    let scrubber = known.scrubber();
    assert!(scrubber.scrub_str("secret-0003").is_some());
    assert!(scrubber.scrub_str("secret-0000").is_none());
    assert_eq!(known.bytes(), one);
}

#[test]
fn a_value_over_the_per_value_limit_is_refused() {
    let known = KnownSecrets::with_limits(KnownLimits {
        value_bytes: 16,
        ..KnownLimits::default()
    });
    let refused = known.learn("big", &json!({"a": "0123456789", "b": 1234567}));
    assert_eq!(
        refused,
        Err(LearnError::TooLarge {
            bytes: 17,
            limit: 16
        })
    );
    assert_eq!(known.scrubber().pattern_count(), 0);
    known.learn("small", &json!({"pin": 12345678})).unwrap();
    assert!(known.scrubber().scrub_str("pin 12345678").is_some());
}

#[test]
fn many_distinct_values_cost_a_logarithmic_rebuild() {
    let known = KnownSecrets::new();
    let count = 4000usize;
    for index in 0..count {
        let value = json!({"password": format!("password-{index:08}")});
        known.learn("many", &value).unwrap();
    }
    let held = known.bytes() as u64;
    // A rebuild of everything per value would compile held * count / 2 bytes.
    assert!(
        known.compiled_bytes() <= held * 16,
        "{} bytes compiled for {held} held",
        known.compiled_bytes()
    );
    assert!(known.segments() <= 8, "{} segments", known.segments());
    let scrubber = known.scrubber();
    for index in [0, 1, count / 2, count - 1] {
        let text = format!("x password-{index:08} y");
        assert_eq!(scrubber.scrub_str(&text).as_deref(), Some("x [redacted] y"));
    }
}

#[test]
fn automaton_memory_per_learned_byte_is_bounded() {
    let known = KnownSecrets::new();
    // Escape-heavy text: control characters, quotes, slashes, HTML and non-ASCII characters
    // each have several escaped forms.
    let unit = "\u{1}\"/<ü😀a";
    let value = unit.repeat(VALUE_BUDGET / unit.len());
    known.learn("heavy", &json!(value)).unwrap();
    let scrubber = known.scrubber();
    let per_pattern_byte = scrubber.memory_usage() as f64 / known.bytes() as f64;
    let per_value_byte = scrubber.memory_usage() as f64 / value.len() as f64;
    eprintln!(
        "heavy: {} pattern bytes, {} heap bytes: {per_pattern_byte:.1}/pattern byte, \
         {per_value_byte:.1}/value byte",
        known.bytes(),
        scrubber.memory_usage()
    );
    assert!(per_pattern_byte < 24.0, "{per_pattern_byte}");
    let plain = KnownSecrets::new();
    let text = "p".repeat(VALUE_BUDGET);
    plain.learn("plain", &json!(text)).unwrap();
    let per_byte = plain.scrubber().memory_usage() as f64 / text.len() as f64;
    eprintln!("plain: {per_byte:.1} heap bytes per value byte");
    assert!(per_byte < 24.0, "{per_byte}");
}

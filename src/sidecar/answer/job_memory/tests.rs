//! Job memory: whole and partial restores, the first record kept, eviction by weight and
//! age, packed job ids and the size of a record.

use super::*;
use serde_json::json;

#[test]
fn restores_the_placeholders_of_a_known_job() {
    let memory = JobMemory::default();
    memory.remember(
        "job-1",
        &Launched::new(
            vec![
                Filled {
                    pointer: "/password".into(),
                    original: "{{credential:p/password}}".into(),
                },
                Filled {
                    pointer: "/list/0".into(),
                    original: "Bearer {{credential:api/token}}".into(),
                },
            ],
            None,
        ),
    );
    let mut params = json!({"password": "hunter22", "list": ["Bearer abc"], "other": 1});
    assert_eq!(memory.restore("job-1", &mut params), 2);
    assert_eq!(
        params,
        json!({"password": "{{credential:p/password}}", "list": ["Bearer {{credential:api/token}}"], "other": 1})
    );
    let mut unknown = json!({"password": "x"});
    assert_eq!(memory.restore("job-2", &mut unknown), 0);
}

#[test]
fn the_whole_params_come_back_when_kept() {
    let memory = JobMemory::default();
    let sent = json!({"guesses": "alice demo-user root", "p": "{{credential:p/password}}"});
    let filled = vec![Filled {
        pointer: "/p".into(),
        original: "{{credential:p/password}}".into(),
    }];
    memory.remember("job-1", &Launched::new(filled, Some(&sent)));
    let mut echo = json!({"guesses": "alice [redacted] root", "p": "hunter22", "extra": 1});
    assert_eq!(memory.restore("job-1", &mut echo), 1);
    assert_eq!(echo, sent);
    memory.remember(
        "job-2",
        &Launched::new(Vec::new(), Some(&json!({"a": "b"}))),
    );
    assert!(memory.knows("job-2"));
    let big = json!({"pad": "x".repeat(MAX_PARAMS_BYTES)});
    assert!(Launched::new(Vec::new(), Some(&big)).is_empty());
}

#[test]
fn a_repeated_job_id_keeps_its_first_record() {
    let memory = JobMemory::default();
    let sent = json!({"pin": "{{credential:p/pin}}"});
    let first = vec![Filled {
        pointer: "/pin".into(),
        original: "{{credential:p/pin}}".into(),
    }];
    memory.remember("job-1", &Launched::new(first, Some(&sent)));
    let big = json!({"pad": "x".repeat(MAX_PARAMS_BYTES), "other": "{{credential:p/pin}}"});
    let poorer = vec![Filled {
        pointer: "/other".into(),
        original: "{{credential:p/pin}}".into(),
    }];
    memory.remember("job-1", &Launched::new(poorer, Some(&big)));
    let mut echo = json!({"pin": 12345678});
    assert!(memory.restore_detail("job-1", &mut echo).whole);
    assert_eq!(echo, sent);
}

fn five_placeholders() -> (Vec<Filled>, Value) {
    let filled = (1..=5)
        .map(|i| Filled {
            pointer: format!("/p{i}"),
            original: "{{credential:portal-production/username}}".into(),
        })
        .collect();
    let params = json!({
        "memberId": "12345",
        "p1": "{{credential:portal-production/username}}",
        "p2": "{{credential:portal-production/password}}",
        "p3": "{{credential:portal-production/username}}",
        "p4": "{{credential:portal-production/password}}",
        "p5": "{{credential:portal-production/username}}",
    });
    (filled, params)
}

#[test]
fn a_record_is_one_small_compressed_block() {
    let (filled, params) = five_placeholders();
    let launched = Launched::new(filled.clone(), Some(&params));
    let text = launched.params.as_ref().unwrap().len();
    let dictionaries = Dictionaries::default();
    let record = Record::of(&launched, 0, &dictionaries).unwrap();
    assert!(record.whole());
    assert_eq!(record.places(), 5);
    assert_eq!(std::mem::size_of::<Record>(), 24);
    assert!(
        record.block.len() < text * 2 / 3,
        "{} bytes for {text} of params",
        record.block.len()
    );
    // The next job of the same shape is mostly the dictionary's text: its block is tiny.
    let mut other = params.clone();
    other["memberId"] = json!("98765");
    let next = Record::of(
        &Launched::new(filled.clone(), Some(&other)),
        0,
        &dictionaries,
    )
    .unwrap();
    assert!(
        next.block.len() < 40,
        "{} bytes for {text} of params",
        next.block.len()
    );
    let places = Record::of(&Launched::new(filled, None), 0, &dictionaries).unwrap();
    assert!(!places.whole());
    assert_eq!(places.places(), 5);
}

#[test]
fn a_new_shape_of_params_gets_a_dictionary_of_its_own() {
    let dictionaries = Dictionaries::default();
    let (filled, params) = five_placeholders();
    // Too short to be a dictionary: compressed alone.
    let tiny = Launched::new(Vec::new(), Some(&json!({"memberId": "1"})));
    Record::of(&tiny, 0, &dictionaries).unwrap();
    assert_eq!(dictionaries.len(), 0);
    let other = json!({"workflow_input": {"address": "1 Main St", "zip": "12345", "n": [1, 2, 3]}});
    Record::of(&Launched::new(Vec::new(), Some(&other)), 0, &dictionaries).unwrap();
    assert_eq!(dictionaries.len(), 1);
    // Unlike the first dictionary: becomes the next one, and the next job like it is tiny.
    Record::of(
        &Launched::new(filled.clone(), Some(&params)),
        0,
        &dictionaries,
    )
    .unwrap();
    assert_eq!(dictionaries.len(), 2);
    let mut again = params.clone();
    again["memberId"] = json!("55555");
    let record = Record::of(&Launched::new(filled, Some(&again)), 0, &dictionaries).unwrap();
    assert!(record.block.len() < 40, "{}", record.block.len());
    assert_eq!(dictionaries.len(), 2);
    // Their number is bounded.
    for i in 0..100 {
        let shape = json!({format!("k{i}"): format!("{i:x}{}", "v".repeat(40))});
        Record::of(&Launched::new(Vec::new(), Some(&shape)), 0, &dictionaries).unwrap();
    }
    assert_eq!(dictionaries.len(), dictionaries::MAX_DICTIONARIES);
}

#[test]
fn jobs_unlike_the_first_are_restored_exactly_too() {
    let memory = JobMemory::default();
    let (filled, params) = five_placeholders();
    memory.remember("first", &Launched::new(filled.clone(), Some(&params)));
    let unlike = json!({"other": ["shape", 1.5, {"deep": "{{credential:api/token}}"}], "n": null});
    memory.remember("unlike", &Launched::new(Vec::new(), Some(&unlike)));
    let long = json!({"pad": "y".repeat(5000), "p": "{{credential:portal-production/password}}"});
    memory.remember("long", &Launched::new(Vec::new(), Some(&long)));
    memory.remember("places", &Launched::new(filled, None));
    for (id, sent) in [("first", &params), ("unlike", &unlike), ("long", &long)] {
        let mut echo = json!({"echoed": "by upstream"});
        assert!(memory.restore_detail(id, &mut echo).whole, "{id}");
        assert_eq!(&echo, sent, "{id}");
    }
    let mut echo = json!({"p1": "x", "p2": "y", "p3": "z", "p4": "w", "p5": "v"});
    assert_eq!(memory.restore("places", &mut echo), 5);
    assert_eq!(echo["p2"], "{{credential:portal-production/username}}");
}

#[test]
fn the_oldest_jobs_make_room_past_the_capacity() {
    let memory = JobMemory::new(3, DEFAULT_TTL);
    let (filled, params) = five_placeholders();
    for id in ["a", "b", "c", "d"] {
        memory.remember(id, &Launched::new(filled.clone(), Some(&params)));
    }
    assert_eq!(memory.len(), 3);
    assert!(!memory.knows("a"));
    for id in ["b", "c", "d"] {
        let mut echo = json!({});
        assert!(memory.restore_detail(id, &mut echo).whole, "{id}");
        assert_eq!(echo, params);
    }
    let heavy = json!({"pad": "x".repeat(8 * 1024)});
    memory.remember("heavy", &Launched::new(Vec::new(), Some(&heavy)));
    assert!(!memory.knows("heavy"), "heavier than the whole capacity");
    assert_eq!(memory.len(), 3);
}

#[test]
fn job_ids_in_the_usual_spellings_are_packed_and_none_collide() {
    let hex = "0123456789abcdef0123456789abcdef";
    let uuid = "01234567-89ab-cdef-0123-456789abcdef";
    assert!(matches!(JobKey::of(hex), JobKey::Hex(_)));
    assert!(matches!(JobKey::of(uuid), JobKey::Uuid(_)));
    assert_eq!(
        JobKey::of(hex),
        JobKey::Hex([
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef
        ])
    );
    // The same digits in another spelling are another id.
    for other in [
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcde",
        "01234567-89ab-cdef-0123-456789abcdeg",
        "0123456789abcdef0123456789abcdef ",
        "job-1",
    ] {
        assert!(matches!(JobKey::of(other), JobKey::Text(_)), "{other}");
    }
    assert_ne!(JobKey::of(hex), JobKey::of(uuid));
    let memory = JobMemory::default();
    let (filled, params) = five_placeholders();
    for id in [hex, uuid, "0123456789ABCDEF0123456789ABCDEF"] {
        memory.remember(id, &Launched::new(filled.clone(), Some(&params)));
        assert!(memory.knows(id), "{id}");
    }
    assert_eq!(memory.len(), 3);
    assert!(!memory.knows("fedcba9876543210fedcba9876543210"));
}

#[test]
fn jobs_past_their_age_are_forgotten() {
    let memory = JobMemory::new(DEFAULT_CAPACITY, Duration::ZERO);
    let (filled, params) = five_placeholders();
    memory.remember("a", &Launched::new(filled, Some(&params)));
    assert!(!memory.knows("a"));
    let mut echo = json!({"p1": "hunter22"});
    assert_eq!(memory.restore("a", &mut echo), 0);
    assert!(memory.is_empty());
}

//! Unit tests of `answer`.

use super::*;
use serde_json::json;

fn filled() -> Launched {
    Launched::new(
        vec![crate::sidecar::answer::job_memory::Filled {
            pointer: "/password".into(),
            original: "{{credential:portal/password}}".into(),
        }],
        None,
    )
}

fn text(cleaned: &Cleaned) -> Value {
    serde_json::from_slice(cleaned.body.as_ref().unwrap()).unwrap()
}

#[test]
fn a_created_job_answer_is_read_the_long_way_when_it_must_be() {
    let jobs = JobMemory::default();
    let scrubber = Scrubber::new(["hunter22"]);
    // An escape, a known secret, a key twice: parsed into a value, checked, serialized again.
    for (answer, job_id) in [
        (&br#"{"json":{"job_id":"j\u0032","note":"x"}}"#[..], "j2"),
        (br#"{"json":{"job_id":"j3","note":"hunter22"}}"#, "j3"),
        (br#"{"json":{"job_id":"j4","job_id":"j5"}}"#, "j5"),
    ] {
        let cleaned = clean(answer, &Echo::JobCreated(filled()), true, &jobs, &scrubber).unwrap();
        assert_eq!(cleaned.job_id.as_deref(), Some(job_id));
        assert_eq!(text(&cleaned)["json"]["job_id"], job_id);
        assert!(jobs.knows(job_id), "{job_id}");
    }
    assert_eq!(
        text(
            &clean(
                br#"{"json":{"job_id":"j3","note":"hunter22"}}"#,
                &Echo::JobCreated(filled()),
                true,
                &jobs,
                &scrubber
            )
            .unwrap()
        )["json"]["note"],
        REDACTED
    );
    // A failed job creation teaches nothing and, with nothing to scrub, is sent as it came.
    let failed = clean(
        br#"{"json":{"job_id":"j6"}}"#,
        &Echo::JobCreated(filled()),
        false,
        &jobs,
        &scrubber,
    )
    .unwrap();
    assert_eq!((failed.job_id, failed.body), (None, None));
    assert!(!jobs.knows("j6"));
}

#[test]
fn a_created_job_is_remembered_and_its_echoes_restored() {
    let jobs = JobMemory::default();
    let scrubber = Scrubber::new(["hunter22"]);
    let created = br#"{"json":{"success":true,"job_id":"j1"}}"#;
    let cleaned = clean(created, &Echo::JobCreated(filled()), true, &jobs, &scrubber).unwrap();
    assert_eq!(cleaned.job_id.as_deref(), Some("j1"));
    // Nothing to scrub in it: the answer is sent as it came.
    assert_eq!(cleaned.body, None);
    let sent: Value = serde_json::from_slice(created).unwrap();
    assert_eq!(sent["json"]["job_id"], "j1");

    let got = json!({"json": {"job_id": "j1", "params": {"password": "hunter22", "n": 1.50}}});
    let cleaned = clean(
        &serde_json::to_vec(&got).unwrap(),
        &Echo::JobGet,
        true,
        &jobs,
        &scrubber,
    )
    .unwrap();
    assert_eq!(cleaned.restored, 1);
    assert_eq!(cleaned.redacted, 0);
    assert_eq!(
        text(&cleaned)["json"]["params"],
        json!({"password": "{{credential:portal/password}}", "n": 1.50})
    );

    let report = json!({"json": {"job_id": "j1", "job_params": {"password": "hunter22"},
        "logs": [{"message": "input {\"password\":\"hunter22\"}"}]}});
    let cleaned = clean(
        &serde_json::to_vec(&report).unwrap(),
        &Echo::DebugReport,
        true,
        &jobs,
        &scrubber,
    )
    .unwrap();
    let out = text(&cleaned);
    assert_eq!(
        out["json"]["job_params"]["password"],
        "{{credential:portal/password}}"
    );
    assert_eq!(
        out["json"]["logs"][0]["message"],
        "input {\"password\":\"[redacted]\"}"
    );
}

#[test]
fn unknown_jobs_and_errors_are_only_scrubbed() {
    let jobs = JobMemory::default();
    let scrubber = Scrubber::new(["hunter22"]);
    let other = br#"{"json":{"job_id":"j9","params":{"password":"hunter22"}}}"#;
    let cleaned = clean(other, &Echo::JobGet, true, &jobs, &scrubber).unwrap();
    assert_eq!(cleaned.restored, 0);
    assert_eq!(text(&cleaned)["json"]["params"]["password"], "[redacted]");
    let failed = br#"{"json":{"defined":false,"message":"bad hunter22"}}"#;
    let cleaned = clean(failed, &Echo::JobGet, false, &jobs, &scrubber).unwrap();
    assert_eq!(text(&cleaned)["json"]["message"], "bad [redacted]");
}

#[test]
fn a_duplicate_key_cannot_hide_a_secret() {
    let jobs = JobMemory::default();
    let scrubber = Scrubber::new(["hunter22"]);
    let answer = br#"{"json":{"a":"hunter22","a":"x"}}"#;
    let cleaned = clean(answer, &Echo::None, true, &jobs, &scrubber).unwrap();
    let body = cleaned.body.expect("the checked value is sent");
    assert!(!String::from_utf8_lossy(&body).contains("hunter22"));
}

#[test]
fn text_that_is_not_json_is_scrubbed_as_text() {
    let jobs = JobMemory::default();
    let scrubber = Scrubber::new(["hunter22"]);
    let cleaned = clean(b"{oops hunter22", &Echo::None, true, &jobs, &scrubber).unwrap();
    assert_eq!(cleaned.body.as_deref(), Some(&b"{oops [redacted]"[..]));
    assert!(matches!(
        clean(b"\xff\xfe", &Echo::None, true, &jobs, &scrubber),
        Err(SidecarError::AnswerUnchecked { .. })
    ));
}

#[test]
fn numbers_and_headers_holding_a_secret_are_redacted() {
    let jobs = JobMemory::default();
    let known = KnownSecrets::new();
    known
        .learn("p", &json!({"pin": 12345678, "on": true, "n": 42}))
        .unwrap();
    let scrubber = known.scrubber();
    let answer = br#"{"json":{"schedule":{"params":{"pin":12345678,"n":42,"f":1.5}},"count":7}}"#;
    let cleaned = clean(answer, &Echo::None, true, &jobs, &scrubber).unwrap();
    let out = text(&cleaned);
    assert_eq!(out["json"]["schedule"]["params"]["pin"], "[redacted]");
    assert_eq!(
        out["json"]["schedule"]["params"]["n"], 42,
        "too short to scrub"
    );
    assert_eq!(out["json"]["count"], 7);
    let mut headers = HeaderMap::new();
    headers.insert("x-echo", HeaderValue::from_static("pin=12345678"));
    headers.insert("x-other", HeaderValue::from_static("fine"));
    assert_eq!(scrub_headers(&mut headers, &scrubber), 1);
    assert_eq!(headers["x-echo"], "[redacted]");
    assert_eq!(headers["x-other"], "fine");
}

#[test]
fn an_answer_without_escapes_or_secrets_is_not_rewritten_and_one_with_them_is() {
    let jobs = JobMemory::default();
    let scrubber = Scrubber::new(["hunter22"]);
    let plain = br#"{"json":{"jobs":[{"id":"1","note":"nothing here"}],"n":123456789}}"#;
    let cleaned = clean(plain, &Echo::None, true, &jobs, &scrubber).unwrap();
    assert_eq!(cleaned, Cleaned::default(), "sent as it came");
    // A secret spelled with a JSON escape inside it is found once the answer is parsed.
    let escaped = br#"{"json":{"note":"h\u0075nter22"}}"#;
    let cleaned = clean(escaped, &Echo::None, true, &jobs, &scrubber).unwrap();
    let body = cleaned.body.expect("the scrubbed answer is sent");
    assert!(!String::from_utf8_lossy(&body).contains("unter22"));
    assert_eq!(cleaned.redacted, 1);
    let raw = br#"{"json":{"note":"x hunter22 y"}}"#;
    let cleaned = clean(raw, &Echo::None, true, &jobs, &scrubber).unwrap();
    assert!(!String::from_utf8_lossy(&cleaned.body.unwrap()).contains("hunter22"));
}

#[test]
fn echoes_of_jobs_not_launched_here_are_sent_as_they_came() {
    let jobs = JobMemory::default();
    let scrubber = Scrubber::new(["hunter22"]);
    let created = br#"{"json":{"job_id":"mine"}}"#;
    clean(created, &Echo::JobCreated(filled()), true, &jobs, &scrubber).unwrap();
    let restored = |cleaned: &Cleaned| text(cleaned)["json"]["params"]["password"].clone();

    // Other jobs, nothing to scrub: no value parsed, no body of the sidecar's own.
    for (answer, echo) in [
        (
            &br#"{"json":{"job_id":"other","params":{"password":"x"}}}"#[..],
            Echo::JobGet,
        ),
        (
            br#"{"json":{"id":"other","job_params":{}}}"#,
            Echo::DebugReport,
        ),
        (
            br#"{"json":{"jobs":[{"job_id":"a"},{"id":"b"},{}],"next_cursor":null}}"#,
            Echo::JobList,
        ),
        (br#"{"json":{"jobs":[]}}"#, Echo::JobList),
        (br#"{"json":{"job_id":"mine"}}"#, Echo::JobGet),
    ] {
        let cleaned = clean(answer, &echo, false, &jobs, &scrubber).unwrap();
        assert_eq!(cleaned, Cleaned::default(), "a failure: {echo:?}");
        if answer != br#"{"json":{"job_id":"mine"}}"# {
            let cleaned = clean(answer, &echo, true, &jobs, &scrubber).unwrap();
            assert_eq!(cleaned, Cleaned::default(), "{echo:?}");
        }
    }

    // A job launched here, by either id, in any echo: the long way, restored.
    let got = br#"{"json":{"job_id":"mine","params":{"password":"filled"}}}"#;
    let cleaned = clean(got, &Echo::JobGet, true, &jobs, &scrubber).unwrap();
    assert_eq!(cleaned.restored, 1);
    assert_eq!(restored(&cleaned), "{{credential:portal/password}}");
    let listed = br#"{"json":{"jobs":[{"job_id":"a"},{"id":"mine","params":{"password":"f"}}]}}"#;
    let cleaned = clean(listed, &Echo::JobList, true, &jobs, &scrubber).unwrap();
    assert_eq!(cleaned.restored, 1);
    let report = br#"{"json":{"id":"mine","job_params":{"password":"f"}}}"#;
    let cleaned = clean(report, &Echo::DebugReport, true, &jobs, &scrubber).unwrap();
    assert_eq!(cleaned.restored, 1);

    // Shapes the borrowing parse does not take go the long way too, and are checked.
    for odd in [
        &br#"{"json":{"job_id":7,"id":"mine","params":{"password":"f"}}}"#[..],
        br#"{"json":{"job_id":"x","job_id":"y"}}"#,
        br#"{"json":"text"}"#,
    ] {
        let cleaned = clean(odd, &Echo::JobGet, true, &jobs, &scrubber).unwrap();
        assert!(cleaned.body.is_some(), "{}", String::from_utf8_lossy(odd));
        assert_eq!(cleaned.restored, 0);
    }
    let odd_list = br#"{"json":{"jobs":["mine"]}}"#;
    let cleaned = clean(odd_list, &Echo::JobList, true, &jobs, &scrubber).unwrap();
    assert!(cleaned.body.is_some());
}

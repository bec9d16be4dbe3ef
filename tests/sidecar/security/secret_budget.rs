//! The memory budget of the known secrets over real HTTP: a credential value too large to
//! scrub (1 MB, or 340 KB of escape-heavy characters, which made the scrubber's automaton
//! cost gigabytes) is refused with `CREDENTIAL_TOO_LARGE` and never forwarded, and the
//! sidecar's peak memory barely moves; a value past the total budget is refused with
//! `SECRET_BUDGET_EXHAUSTED`.

use libretto_sidecar::sidecar::answer::known_secrets::KnownLimits;
use serde_json::{json, Value};

use crate::support::http::{call, refused, TestClient};
use crate::support::sidecar::{start_sidecar, Options};
use crate::support::upstream::FakeUpstream;
use libretto_sidecar::sidecar::UpstreamChoice;

/// A field of `/proc/self/status` in KiB (`VmHWM`, `VmRSS`).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn job(credential: &str) -> Value {
    json!({"workflow": "w", "params": {"p": format!("{{{{credential:{credential}/password}}}}")}})
}

#[tokio::test]
async fn a_credential_too_large_to_scrub_is_refused_with_bounded_memory() {
    let huge = "h".repeat(1 << 20);
    // Control characters, quotes, slashes, HTML and non-ASCII: each has several escaped forms.
    let unit = "\u{1}\"\\/<&>ü😀\u{2028}";
    let heavy = unit.repeat(340_000 / unit.len());
    let fake = FakeUpstream::new()
        .with_credential("huge", "id-huge", json!({"password": huge}))
        .with_credential("heavy", "id-heavy", json!({"password": heavy}));
    let base = fake.start().await;
    let sidecar = start_sidecar(UpstreamChoice::Url(base), Options::default()).await;
    let client = TestClient::new(&sidecar.url);
    let before = status_kib("VmHWM");
    let started = std::time::Instant::now();
    for name in ["huge", "heavy", "huge", "heavy"] {
        let answer = call(&client, "jobs/create", job(name)).await;
        let data = refused(&answer, 422, "CREDENTIAL_TOO_LARGE")["data"].clone();
        assert_eq!(data["credential"], name);
        assert_eq!(data["limit"], 64 << 10);
        let text = answer.json.to_string();
        assert!(
            !text.contains("hhhhhhhh") && !text.contains("ü😀"),
            "no value shown"
        );
    }
    assert!(
        fake.recorded_at("/v1/jobs/create").is_empty(),
        "never forwarded"
    );
    let grown_mib = status_kib("VmHWM").saturating_sub(before) / 1024;
    eprintln!(
        "peak memory grew {grown_mib} MiB in {:?}",
        started.elapsed()
    );
    // Before the budget: 271 MiB for the 1 MB value, 3.5 GiB for the escape-heavy one.
    assert!(grown_mib < 64, "peak memory grew {grown_mib} MiB");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(sidecar.proxy.answers().known.bytes(), 0, "nothing learned");
}

#[tokio::test]
async fn a_value_past_the_total_budget_is_refused_and_old_values_stay_scrubbed() {
    let fake = FakeUpstream::new()
        .with_credential(
            "first",
            "id-first",
            json!({"password": "first-secret-value"}),
        )
        .with_credential(
            "second",
            "id-second",
            json!({"password": "second-secret-value"}),
        );
    let tight = start_sidecar(
        UpstreamChoice::Url(fake.start().await),
        Options {
            known_secrets: KnownLimits {
                total_bytes: 30,
                ..KnownLimits::default()
            },
            ..Options::default()
        },
    )
    .await;
    let client = TestClient::new(&tight.url);
    assert_eq!(call(&client, "jobs/create", job("first")).await.status, 200);
    assert_eq!(tight.proxy.answers().known.limits().total_bytes, 30);
    let answer = call(&client, "jobs/create", job("second")).await;
    let data = refused(&answer, 503, "SECRET_BUDGET_EXHAUSTED")["data"].clone();
    assert_eq!(data["credential"], "second");
    assert!(!answer.json.to_string().contains("second-secret"));
    assert_eq!(
        fake.recorded_at("/v1/jobs/create").len(),
        1,
        "refused job not forwarded"
    );
}

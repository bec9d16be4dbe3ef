//! The OpenMetrics parser of the Prometheus project's Python client (`prometheus_client`),
//! installed by the tests themselves into a virtual environment under the target directory,
//! so a scrape is read by the parser scrapers trust rather than by our own.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// The `prometheus_client` version the tests parse with.
const VERSION: &str = "0.21.1";

/// Reads the exposition in Python and prints, per family, its type, unit and samples.
const SCRIPT: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    out[family.name] = {
        "type": family.type,
        "unit": family.unit,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }
print(json.dumps(out))
"#;

/// The virtual environment's Python, created and provisioned on first use.
fn python() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("openmetrics-{VERSION}"));
        let python = dir.join("bin").join("python");
        let ready = dir.join("ready");
        if !ready.exists() {
            let status = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&dir)
                .status()
                .expect("python3 runs");
            assert!(status.success(), "python3 -m venv failed");
            let status = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg(format!("prometheus_client=={VERSION}"))
                .status()
                .expect("pip runs");
            assert!(status.success(), "pip install prometheus_client failed");
            std::fs::write(&ready, VERSION).unwrap();
        }
        python
    })
}

/// Parses `text` with `prometheus_client`'s OpenMetrics parser; panics with its message when
/// it refuses the text. The answer maps each family name to `{type, unit, samples}`.
pub fn parse(text: &str) -> serde_json::Map<String, Value> {
    use std::io::Write;
    let mut child = Command::new(python())
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the OpenMetrics parser refused the text: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    match serde_json::from_slice(&output.stdout).unwrap() {
        Value::Object(map) => map,
        other => panic!("not a map: {other}"),
    }
}

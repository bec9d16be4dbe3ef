//! `libretto-sidecar check` as a CI job would run it: the real binary on files and on stdin,
//! judged by its output and exit status.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one run of the binary may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(20);

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/rewrite/check");

pub(super) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `check` with the given arguments and stdin, killing it if it overstays.
fn check(args: &[&str], stdin: &str) -> Run {
    check_in(Path::new(env!("CARGO_MANIFEST_DIR")), args, stdin)
}

/// Runs `check` in the directory `dir` (where relative paths and globs start).
pub(super) fn check_in(dir: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_libretto-sidecar"))
        .current_dir(dir)
        .arg("check")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > RUN_TIMEOUT {
            child.kill().unwrap();
            panic!("check did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// The path and code of an error line (after `error `); a path with a space is a JSON string.
fn split_error(rest: &str) -> (String, String) {
    let (path, rest) = if rest.starts_with('"') {
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<String>();
        let path = stream.next().unwrap().unwrap();
        (path, &rest[stream.byte_offset()..])
    } else {
        let (path, rest) = rest.split_once(' ').unwrap();
        (path.to_owned(), rest)
    };
    let code = rest.trim_start().split(' ').next().unwrap();
    (path, code.to_owned())
}

#[test]
fn a_clean_enveloped_file_lists_its_placeholders() {
    let run = check(&[&fixture("clean_enveloped.json")], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "placeholder /json/params/username credential=portal-production field=username\n\
         placeholder /json/params/password credential=portal-production field=password\n\
         placeholder /json/params/header credential=api field=token\n\
         escape /json/params/note\n\
         3 placeholders, 2 credentials, 0 errors\n"
    );
}

#[test]
fn a_bare_body_on_stdin_is_checked_as_if_wrapped() {
    let body = std::fs::read_to_string(fixture("clean_bare.json")).unwrap();
    for args in [&["-"][..], &[][..]] {
        let run = check(args, &body);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(
            lines[..2],
            [
                "placeholder /json/params/accounts/0/user credential=a field=username",
                "placeholder /json/params/accounts/1/user credential=b",
            ]
        );
        assert_eq!(lines[2], "2 placeholders, 2 credentials, 0 errors");
    }
    // Wrapped, with `meta` beside `json`, the same body is clean.
    let wrapped = format!(r#"{{"json": {body}, "meta": []}}"#);
    let run = check(&["-"], &wrapped);
    assert_eq!(run.code, 0, "{}", run.stdout);
}

#[test]
fn a_json_member_that_is_not_an_object_is_an_invalid_body() {
    let run = check(&["-"], r#"{"json": "x"}"#);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.starts_with("error /json INVALID_BODY "),
        "{}",
        run.stdout
    );
}

#[test]
fn every_error_is_reported_with_its_path() {
    let run = check(&[&fixture("errors.json")], "");
    assert_eq!(run.code, 1);
    let errors: Vec<(String, String)> = run
        .stdout
        .lines()
        .filter(|line| line.starts_with("error "))
        .map(|line| split_error(&line["error ".len()..]))
        .collect();
    assert_eq!(
        errors,
        vec![
            ("/json/workflow", "PLACEHOLDER_NOT_ALLOWED"),
            ("/json/callback_url", "PLACEHOLDER_NOT_ALLOWED"),
            ("/json/params/password", "PLACEHOLDER_INVALID"),
            ("/json/params/otp/0", "PLACEHOLDER_INVALID"),
            (
                "/json/params/{{credential:portal-production~1key}}",
                "PLACEHOLDER_NOT_ALLOWED"
            ),
            ("/json/params/two words", "PLACEHOLDER_INVALID"),
        ]
        .into_iter()
        .map(|(path, code)| (path.to_owned(), code.to_owned()))
        .collect::<Vec<_>>()
    );
    insta::with_settings!({snapshot_path => "../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("rewrite_check_errors", run.stdout);
    });
}

#[test]
fn invalid_json_is_an_error() {
    let run = check(&[&fixture("not_json.txt")], "");
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.starts_with("error \"\" INVALID_JSON "),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .ends_with("0 placeholders, 0 credentials, 1 error\n"));
}

#[test]
fn unreadable_input_exits_2() {
    let run = check(&[&fixture("no-such-file.json")], "");
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);

    let mut child = Command::new(env!("CARGO_BIN_EXE_libretto-sidecar"))
        .args(["check", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"a\": \"\xff\"}")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

/// The fenced block of `lang` that follows `marker` in docs/placeholders.md.
fn readme_block<'a>(readme: &'a str, marker: &str, lang: &str) -> &'a str {
    let after = &readme[readme.find(marker).expect("marker in docs/placeholders.md")..];
    let fence = format!("```{lang}\n");
    let start = after.find(&fence).expect("fenced block") + fence.len();
    let len = after[start..].find("```").expect("closing fence");
    &after[start..start + len]
}

#[test]
fn the_docs_check_example_is_what_the_binary_prints() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/placeholders.md"))
            .unwrap();
    let output = readme_block(&readme, "libretto-sidecar check job.json", "text");
    let input = readme_block(&readme, "for this `job.json`:", "json");
    let run = check(&["-"], input);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, output);
}

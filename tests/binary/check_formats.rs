//! `libretto-sidecar check` over a repository's job files, as a CI step runs it: several files
//! and globs (relative to the working directory), each `--format`, and every exit status: 0
//! clean, 1 an error in a body, 2 a usage error or an input that names no readable body (a
//! glob matching nothing included).

use std::path::Path;

use serde_json::Value;

use super::check::{check_in, Run};

/// A checkout with job files: two under `jobs/` (one with errors on known lines), a text file
/// a `*.json` glob must skip, and a bare body beside them.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "jobs/login/clean.json",
            r#"{"json": {"workflow": "portal-login", "params": {"user": "{{credential:portal/username}}"}}}"#,
        ),
        (
            "jobs/sync/errors.json",
            "{\"json\": {\n  \"workflow\": \"{{credential:portal/workflow}}\",\n  \"params\": {\"user\": \"{{credential:portal/username}}\",\n             \"pass\": \"{{credential:portal/password\"}}}\n",
        ),
        ("jobs/notes.txt", "not a job"),
        (
            "other.json",
            r#"{"workflow": "w", "params": {"key": "{{credential:api/token}}"}}"#,
        ),
    ];
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn run(dir: &Path, args: &[&str]) -> Run {
    check_in(dir, args, "")
}

#[test]
fn a_glob_and_a_file_are_checked_in_name_order_with_a_total() {
    let repo = repository();
    let run = run(repo.path(), &["jobs/**/*.json", "other.json"]);
    assert_eq!(run.code, 1, "an error in one body: {}", run.stderr);
    let heads: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.starts_with("file "))
        .collect();
    assert_eq!(
        heads,
        [
            "file jobs/login/clean.json",
            "file jobs/sync/errors.json",
            "file other.json"
        ]
    );
    assert!(
        run.stdout
            .contains("error /json/workflow PLACEHOLDER_NOT_ALLOWED "),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .ends_with("3 files, 3 placeholders, 2 credentials, 2 errors\n"));

    let clean = self::run(repo.path(), &["jobs/login/*.json", "other.json"]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);
    assert!(clean
        .stdout
        .ends_with("2 files, 2 placeholders, 2 credentials, 0 errors\n"));
}

#[test]
fn a_glob_matching_no_file_is_an_error_not_a_pass() {
    let repo = repository();
    let run = run(repo.path(), &["jobs/**/*.yaml", "other.json"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains("`jobs/**/*.yaml` matches no file"),
        "{}",
        run.stderr
    );
    // The readable input is still reported.
    assert!(run.stdout.contains("file other.json\n"), "{}", run.stdout);

    let bad = self::run(repo.path(), &["jobs/[.json"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("is not a valid glob"), "{}", bad.stderr);
}

#[test]
fn the_json_format_is_one_document_placing_each_finding() {
    let repo = repository();
    let run = run(
        repo.path(),
        &["--format", "json", "jobs/**/*.json", "missing.json"],
    );
    assert_eq!(run.code, 2, "an unreadable input wins over errors");
    let document: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    let files: Vec<&str> = document["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["jobs/login/clean.json", "jobs/sync/errors.json"]);
    let errors = &document["files"][1]["errors"];
    assert_eq!(errors[0]["path"], "/json/workflow");
    assert_eq!(errors[0]["code"], "PLACEHOLDER_NOT_ALLOWED");
    assert_eq!(
        (&errors[0]["line"], &errors[0]["column"]),
        (&2.into(), &3.into())
    );
    assert_eq!(errors[1]["path"], "/json/params/pass");
    assert_eq!(
        (&errors[1]["line"], &errors[1]["column"]),
        (&4.into(), &14.into())
    );
    assert_eq!(document["unreadable"][0]["input"], "missing.json");
    assert_eq!(
        document["summary"],
        serde_json::json!({"files": 2, "placeholders": 2, "credentials": 1, "errors": 2, "unreadable": 1})
    );

    let clean = self::run(repo.path(), &["--format=json", "other.json"]);
    assert_eq!(clean.code, 0);
    let document: Value = serde_json::from_str(&clean.stdout).unwrap();
    assert_eq!(document["files"][0]["enveloped"], false);
    assert_eq!(
        document["files"][0]["placeholders"][0]["path"],
        "/json/params/key"
    );
}

#[test]
fn the_github_format_annotates_each_error_with_file_line_and_column() {
    let repo = repository();
    let run = run(repo.path(), &["--format", "github", "jobs/**/*.json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(
        lines[0].starts_with(
            "::error file=jobs/sync/errors.json,line=2,col=3,title=PLACEHOLDER_NOT_ALLOWED::"
        ),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with("(at /json/workflow)"), "{}", lines[0]);
    assert!(
        lines[1].starts_with(
            "::error file=jobs/sync/errors.json,line=4,col=14,title=PLACEHOLDER_INVALID::"
        ),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "2 files, 2 placeholders, 1 credential, 2 errors");

    // A clean run prints no annotation; an unreadable input is one.
    let clean = self::run(repo.path(), &["--format", "github", "other.json"]);
    assert_eq!(clean.code, 0);
    assert!(!clean.stdout.contains("::error"), "{}", clean.stdout);
    let missing = self::run(repo.path(), &["--format", "github", "jobs/*.yaml"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stdout
            .starts_with("::error title=UNREADABLE_INPUT::`jobs/*.yaml` matches no file"),
        "{}",
        missing.stdout
    );

    // From stdin there is no file to name, but the line is known.
    let stdin = check_in(
        repo.path(),
        &["--format", "github", "-"],
        "{\"json\": {\n\"workflow\": \"{{credential:x}}\"}}",
    );
    assert_eq!(stdin.code, 1);
    assert!(
        stdin
            .stdout
            .starts_with("::error line=2,col=1,title=PLACEHOLDER_NOT_ALLOWED::"),
        "{}",
        stdin.stdout
    );
}

#[test]
fn a_usage_error_exits_2() {
    let repo = repository();
    for args in [&["--format", "xml", "other.json"][..], &["--no-such-flag"]] {
        let run = run(repo.path(), args);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(run.stderr.contains("error:"), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn the_exit_status_in_check_help_is_the_documented_one() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_libretto-sidecar"))
        .args(["check", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    let status = help
        .split("Exit status: ")
        .nth(1)
        .expect("check --help states the exit status");
    let status: Vec<&str> = status.split_whitespace().collect();
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let documented: Vec<&str> = doc
        .split("Exit status: ")
        .nth(1)
        .expect("docs/configuration.md states the exit status")
        .split("\n\n")
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(documented, status, "docs/configuration.md vs check --help");
}

//! `check` as a command: expands the inputs, lints each body, and prints one report in the
//! chosen format (`text`, `json` or `github`), returning the exit status.
//!
//! With one plain input (a file or `-`) the text report is the single body's, unchanged. With
//! several inputs or a glob, each body's report is headed by a `file PATH` line and a total
//! line ends it. The JSON and GitHub forms give each finding a line and a column where the
//! text shows where it is: a parse error's own position, or the member or element the error's
//! path names ([`locate`](super::locate)).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{Read, Write};

use serde_json::{json, Value};

use super::inputs::{expand, Input, InputError};
use super::locate::{locate, Position};
use super::{plural, report, Item, Report, EXIT_CLEAN, EXIT_ERRORS, EXIT_UNREADABLE};
use crate::cli::{CheckArgs, CheckFormat};

/// One body read and linted.
struct Checked {
    name: String,
    text: String,
    report: Report,
}

impl Checked {
    /// Where the item at `path` with `code` stands in the text, when that can be known.
    fn position(&self, path: &str, code: &str) -> Option<Position> {
        if code == "INVALID_JSON" {
            let err = serde_json::from_str::<serde::de::IgnoredAny>(&self.text).err()?;
            return (err.line() > 0).then(|| Position {
                line: err.line(),
                column: err.column().max(1),
            });
        }
        // A bare body is reported as if wrapped: its own pointers lack the `/json` prefix.
        let pointer = if self.report.enveloped {
            path
        } else {
            path.strip_prefix("/json")?
        };
        locate(&self.text, pointer)
    }
}

/// An input that named no body: a glob without a match, or a file that could not be read.
struct Unreadable {
    input: String,
    message: String,
}

/// Reads, lints and reports every input named by `args`; returns the exit status: 2 if any
/// input could not be read (the others are still reported), else 1 if any body has an error,
/// else 0.
pub fn run(args: &CheckArgs) -> u8 {
    let (inputs, errors) = expand(&args.inputs);
    let mut unreadable: Vec<Unreadable> = errors
        .iter()
        .map(|err: &InputError| Unreadable {
            input: match err {
                InputError::BadGlob(input, _) | InputError::NoMatch(input) => input.clone(),
            },
            message: err.to_string(),
        })
        .collect();
    let mut checked = Vec::new();
    for input in inputs {
        let name = input.name();
        match read_input(&input) {
            Ok(text) => checked.push(Checked {
                report: report(&text),
                name,
                text,
            }),
            Err(err) => unreadable.push(Unreadable {
                message: format!("cannot read {name}: {err}"),
                input: name,
            }),
        }
    }
    for failure in &unreadable {
        eprintln!("libretto-sidecar check: {}", failure.message);
    }
    let several = args.inputs.len() > 1
        || args
            .inputs
            .iter()
            .any(|input| input != "-" && super::inputs::is_glob(input));
    let out = match args.format {
        CheckFormat::Text => text(&checked, several),
        CheckFormat::Json => json_report(&checked, &unreadable),
        CheckFormat::Github => github(&checked, &unreadable),
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        eprintln!("libretto-sidecar check: cannot write the report: {err}");
        return EXIT_UNREADABLE;
    }
    if !unreadable.is_empty() {
        EXIT_UNREADABLE
    } else if checked
        .iter()
        .any(|body| body.report.exit_code() != EXIT_CLEAN)
    {
        EXIT_ERRORS
    } else {
        EXIT_CLEAN
    }
}

fn read_input(input: &Input) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    match input {
        Input::Stdin => {
            std::io::stdin().lock().read_to_end(&mut bytes)?;
        }
        Input::File(path) => bytes = std::fs::read(path)?,
    }
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// The totals over every body: placeholders, distinct credentials, errors.
fn totals(checked: &[Checked]) -> (usize, usize, usize) {
    let credentials: BTreeSet<&String> = checked
        .iter()
        .flat_map(|body| &body.report.credentials)
        .collect();
    (
        checked
            .iter()
            .map(|body| body.report.placeholder_count())
            .sum(),
        credentials.len(),
        checked.iter().map(|body| body.report.error_count()).sum(),
    )
}

fn summary_line(checked: &[Checked]) -> String {
    let (placeholders, credentials, errors) = totals(checked);
    format!(
        "{}, {}, {}, {}\n",
        plural(checked.len(), "file"),
        plural(placeholders, "placeholder"),
        plural(credentials, "credential"),
        plural(errors, "error")
    )
}

/// The text report: a single body's as it always was; several bodies each under a
/// `file PATH` line, then a total line.
fn text(checked: &[Checked], several: bool) -> String {
    if !several {
        return checked.iter().map(|body| body.report.render()).collect();
    }
    let mut out = String::new();
    for body in checked {
        let _ = writeln!(out, "file {}", super::token(&body.name));
        out.push_str(&body.report.render());
    }
    out.push_str(&summary_line(checked));
    out
}

/// `line` and `column` members for a position, if known.
fn place(value: &mut Value, position: Option<Position>) {
    if let Some(position) = position {
        value["line"] = json!(position.line);
        value["column"] = json!(position.column);
    }
}

/// The JSON report: one document with every body's findings, the inputs that could not be
/// read, and the totals.
fn json_report(checked: &[Checked], unreadable: &[Unreadable]) -> String {
    let files: Vec<Value> = checked
        .iter()
        .map(|body| {
            let (mut placeholders, mut escapes, mut errors) = (vec![], vec![], vec![]);
            for item in &body.report.items {
                match item {
                    Item::Placeholder {
                        path,
                        credential,
                        field,
                    } => {
                        let mut value =
                            json!({"path": path, "credential": credential, "field": field});
                        place(&mut value, body.position(path, ""));
                        placeholders.push(value);
                    }
                    Item::Escape { path } => {
                        let mut value = json!({"path": path});
                        place(&mut value, body.position(path, ""));
                        escapes.push(value);
                    }
                    Item::Error {
                        path,
                        code,
                        message,
                    } => {
                        let mut value = json!({"path": path, "code": code, "message": message});
                        place(&mut value, body.position(path, code));
                        errors.push(value);
                    }
                }
            }
            json!({
                "file": body.name,
                "enveloped": body.report.enveloped,
                "placeholders": placeholders,
                "escapes": escapes,
                "errors": errors,
                "credentials": body.report.credentials,
            })
        })
        .collect();
    let (placeholders, credentials, errors) = totals(checked);
    let document = json!({
        "files": files,
        "unreadable": unreadable
            .iter()
            .map(|failure| json!({"input": failure.input, "message": failure.message}))
            .collect::<Vec<_>>(),
        "summary": {
            "files": checked.len(),
            "placeholders": placeholders,
            "credentials": credentials,
            "errors": errors,
            "unreadable": unreadable.len(),
        },
    });
    format!("{document:#}\n")
}

/// GitHub Actions annotations: one `::error` per finding and per unreadable input, with file,
/// line and column where known, then the total line (plain log output).
fn github(checked: &[Checked], unreadable: &[Unreadable]) -> String {
    let mut out = String::new();
    for body in checked {
        for item in &body.report.items {
            let Item::Error {
                path,
                code,
                message,
            } = item
            else {
                continue;
            };
            let mut properties = Vec::new();
            if body.name != "-" {
                properties.push(format!("file={}", property(&body.name)));
            }
            if let Some(position) = body.position(path, code) {
                properties.push(format!("line={}", position.line));
                properties.push(format!("col={}", position.column));
            }
            properties.push(format!("title={}", property(code)));
            let _ = writeln!(
                out,
                "::error {}::{}",
                properties.join(","),
                data(&format!(
                    "{message} (at {})",
                    if path.is_empty() { "the root" } else { path }
                ))
            );
        }
    }
    for failure in unreadable {
        let _ = writeln!(
            out,
            "::error title=UNREADABLE_INPUT::{}",
            data(&failure.message)
        );
    }
    out.push_str(&summary_line(checked));
    out
}

/// Escapes an annotation's message as the workflow-command syntax wants it.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes an annotation property (`file=`, `title=`): as [`data`], plus `:` and `,`.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(name: &str, text: &str) -> Checked {
        Checked {
            name: name.to_owned(),
            report: report(text),
            text: text.to_owned(),
        }
    }

    #[test]
    fn github_annotations_carry_file_line_and_column() {
        let bodies = [
            checked(
                "jobs/a,b.json",
                "{\"json\": {\n  \"workflow\": \"{{credential:x}}\",\n  \"params\": {}}}",
            ),
            checked("bare.json", "{\"params\": {\n \"p\": \"{{credential:\"}}"),
            checked("broken.json", "{\n  \"json\": \n}"),
        ];
        let out = github(&bodies, &[]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with(
                "::error file=jobs/a%2Cb.json,line=2,col=3,title=PLACEHOLDER_NOT_ALLOWED::"
            ),
            "{out}"
        );
        assert!(lines[0].ends_with("(at /json/workflow)"), "{out}");
        assert!(
            lines[1].starts_with("::error file=bare.json,line=2,col=2,title=PLACEHOLDER_INVALID::"),
            "{out}"
        );
        assert!(
            lines[2].starts_with("::error file=broken.json,line=3,col=1,title=INVALID_JSON::"),
            "{out}"
        );
        assert_eq!(lines[3], "3 files, 0 placeholders, 0 credentials, 3 errors");
    }

    #[test]
    fn messages_and_properties_are_escaped() {
        assert_eq!(data("50%\nnext"), "50%25%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn the_json_report_places_every_finding() {
        let bodies = [checked(
            "a.json",
            "{\"json\": {\"workflow\": \"w\",\n \"params\": {\"u\": \"{{credential:p/user}}\", \"w\": [\"{{credential:\"]}}}",
        )];
        let unreadable = [Unreadable {
            input: "jobs/*.yaml".into(),
            message: "`jobs/*.yaml` matches no file".into(),
        }];
        let document: Value = serde_json::from_str(&json_report(&bodies, &unreadable)).unwrap();
        let file = &document["files"][0];
        assert_eq!(file["file"], "a.json");
        assert_eq!(
            file["placeholders"][0],
            json!({"path": "/json/params/u", "credential": "p", "field": "user", "line": 2, "column": 13})
        );
        assert_eq!(file["errors"][0]["code"], "PLACEHOLDER_INVALID");
        assert_eq!(file["errors"][0]["line"], 2);
        assert_eq!(file["errors"][0]["column"], 49);
        assert_eq!(document["unreadable"][0]["input"], "jobs/*.yaml");
        assert_eq!(
            document["summary"],
            json!({"files": 1, "placeholders": 1, "credentials": 1, "errors": 1, "unreadable": 1})
        );
    }
}

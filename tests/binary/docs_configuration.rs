//! docs/configuration.md against the binary's own `--help`: the `serve` and `mock` tables list
//! exactly the flags `--help` lists (none missing, none extra), each with the environment
//! variable `--help` names (`[env: NAME=]`) and the default it shows (`[default: X]`). A flag
//! without a default in `--help` has a word (none, off) in the table, never a value in code.
//! The tables are grouped under the headings of `--help` (`### Upstream` for `Upstream:`) and
//! name each flag's value with the word `--help` uses (`--cache-ttl DURATION`).

use std::collections::BTreeMap;
use std::process::Command;

/// What one source says about a flag: its environment variable and its default.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flag {
    env: Option<String>,
    default: Option<String>,
    /// The value word (`DURATION` for `--cache-ttl <DURATION>`); none for a switch.
    value: Option<String>,
    /// The heading the flag stands under (`Upstream`), in `--help` and in the docs.
    heading: String,
}

/// clap's own flags, which every subcommand has and the tables leave out.
const BUILT_IN: &[&str] = &["--help", "--version"];

/// The text of `libretto-sidecar SUBCOMMAND --help`.
fn help(subcommand: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_libretto-sidecar"))
        .args([subcommand, "--help"])
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{subcommand} --help failed");
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// The text after `[NAME: ` up to the closing `]`, e.g. `[default: 30s]` gives `30s`.
fn bracketed<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("[{name}: ");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(']')?;
    Some(&text[start..start + len])
}

/// Every long flag of a subcommand's `--help`, with its variable, default, value word and
/// heading. The flags stand in headed sections (`Options:`, `Upstream:`, ...): a line without
/// indentation ending in `:` opens one, a blank line closes it, and the text after the last one
/// (which names flags in prose) is not read. An entry starts at a line that begins with `-`
/// after an indentation of at most 6 spaces (descriptions are indented further) and runs until
/// the next one; its lines are joined, so a wrapped description is read whole.
fn help_flags(subcommand: &str) -> BTreeMap<String, Flag> {
    let text = help(subcommand);
    let options = text
        .split_once("\nOptions:\n")
        .expect("an Options: section")
        .1;
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut heading = Some("Options".to_owned());
    for line in options.lines() {
        let indent = line.len() - line.trim_start().len();
        if line.trim().is_empty() {
            heading = None;
            continue;
        }
        if indent == 0 {
            heading = line.strip_suffix(':').map(str::to_owned);
            continue;
        }
        let Some(heading) = &heading else { continue };
        let line = line.trim();
        if indent <= 6 && line.starts_with('-') {
            entries.push((heading.clone(), line.to_owned()));
        } else if let Some((_, entry)) = entries.last_mut() {
            entry.push(' ');
            entry.push_str(line);
        }
    }
    let mut flags = BTreeMap::new();
    for (heading, entry) in entries {
        let words: Vec<&str> = entry
            .split_whitespace()
            .map(|word| word.trim_end_matches(','))
            .collect();
        let at = words
            .iter()
            .position(|word| word.starts_with("--"))
            .unwrap_or_else(|| panic!("no long flag in `{entry}`"));
        let name = words[at].to_owned();
        if BUILT_IN.contains(&name.as_str()) {
            continue;
        }
        let value = words
            .get(at + 1)
            .and_then(|word| word.strip_prefix('<')?.strip_suffix('>'))
            .map(str::to_owned);
        // `[env: NAME=]`, or `[env: NAME=value]` when the variable is set.
        let env = bracketed(&entry, "env").map(|env| env.split('=').next().unwrap_or(env));
        let flag = Flag {
            env: env.map(str::to_owned),
            default: bracketed(&entry, "default").map(str::to_owned),
            value,
            heading,
        };
        assert!(
            flags.insert(name.clone(), flag).is_none(),
            "{name} twice in --help"
        );
    }
    assert!(!flags.is_empty(), "no flags found in {subcommand} --help");
    flags
}

/// The text of the first code span (`` `...` ``) in a table cell, if the cell starts with one.
fn leading_code(cell: &str) -> Option<String> {
    let rest = cell.trim().strip_prefix('`')?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// The rows of every table in the section `heading` of docs/configuration.md (up to the next
/// `## ` heading), by flag, each with the `### ` heading it stands under. Columns: flag (with
/// its value word), env, default, meaning; the first three hold no `|`, so the meaning may.
fn doc_flags(heading: &str) -> BTreeMap<String, Flag> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .expect("docs/configuration.md");
    let section = doc
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("heading `{heading}` in docs/configuration.md"))
        .1;
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut flags = BTreeMap::new();
    let mut group = String::new();
    for line in section.lines() {
        if let Some(title) = line.strip_prefix("### ") {
            group = title.trim().to_owned();
            continue;
        }
        // Table rows, without the header and the `|---|` line.
        if !line.starts_with('|') || line.starts_with("| flag |") || line.starts_with("|---") {
            continue;
        }
        let cells: Vec<&str> = line.splitn(5, '|').collect();
        assert_eq!(cells.len(), 5, "a row of four columns: {line}");
        let first = leading_code(cells[1]).unwrap_or_default();
        let mut words = first.split_whitespace();
        let name = words
            .next()
            .filter(|flag| flag.starts_with("--"))
            .unwrap_or_else(|| panic!("a `--flag` in the first column: {line}"))
            .to_owned();
        let flag = Flag {
            env: leading_code(cells[2]),
            default: leading_code(cells[3]),
            value: words.next().map(str::to_owned),
            heading: group.clone(),
        };
        assert!(
            flags.insert(name.clone(), flag).is_none(),
            "{name} twice in the tables under {heading}"
        );
    }
    assert!(!flags.is_empty(), "no table under {heading}");
    flags
}

/// Asserts that `pick` (the variable, or the default) of every flag is the same in the docs'
/// table under `heading` as in `--help`. Flags on one side only are left to
/// [`assert_same_flags`].
fn compare<T: PartialEq + std::fmt::Debug>(
    subcommand: &str,
    heading: &str,
    pick: impl Fn(&Flag) -> T,
    what: &str,
) {
    let help = help_flags(subcommand);
    let doc = doc_flags(heading);
    for (name, flag) in &help {
        if let Some(row) = doc.get(name) {
            assert_eq!(
                pick(row),
                pick(flag),
                "{what} of {subcommand} {name}: docs/configuration.md (left) differs from --help (right)"
            );
        }
    }
}

/// Asserts that the docs' table under `heading` lists exactly the flags of `--help`.
fn assert_same_flags(subcommand: &str, heading: &str) {
    let help = help_flags(subcommand);
    let doc = doc_flags(heading);
    let missing: Vec<&String> = help
        .keys()
        .filter(|name| !doc.contains_key(*name))
        .collect();
    let extra: Vec<&String> = doc
        .keys()
        .filter(|name| !help.contains_key(*name))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{subcommand}: flags of --help missing under {heading}: {missing:?}; \
         flags under {heading} that --help does not have: {extra:?}"
    );
}

#[test]
fn the_serve_table_lists_exactly_the_flags_of_serve_help() {
    assert_same_flags("serve", "## `serve` flags");
}

#[test]
fn the_mock_table_lists_exactly_the_flags_of_mock_help() {
    assert_same_flags("mock", "## `mock` flags");
}

#[test]
fn each_serve_flag_has_the_environment_variable_of_serve_help() {
    compare(
        "serve",
        "## `serve` flags",
        |flag| flag.env.clone(),
        "variable",
    );
}

#[test]
fn each_mock_flag_has_the_environment_variable_of_mock_help() {
    compare(
        "mock",
        "## `mock` flags",
        |flag| flag.env.clone(),
        "variable",
    );
}

#[test]
fn the_serve_defaults_are_those_of_serve_help() {
    compare(
        "serve",
        "## `serve` flags",
        |flag| flag.default.clone(),
        "default",
    );
}

#[test]
fn the_mock_defaults_are_those_of_mock_help() {
    compare(
        "mock",
        "## `mock` flags",
        |flag| flag.default.clone(),
        "default",
    );
}

#[test]
fn the_check_usage_is_that_of_check_help() {
    let usage = help("check")
        .lines()
        .find(|line| line.starts_with("Usage: "))
        .expect("a Usage: line")
        .to_owned();
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .expect("docs/configuration.md");
    assert!(
        doc.lines().any(|line| line == usage),
        "docs/configuration.md lacks `{usage}`"
    );
}

#[test]
fn each_serve_flag_has_the_heading_and_value_word_of_serve_help() {
    for (what, pick) in [
        (
            "heading",
            (|flag: &Flag| Some(flag.heading.clone())) as fn(&Flag) -> Option<String>,
        ),
        ("value word", |flag: &Flag| flag.value.clone()),
    ] {
        compare("serve", "## `serve` flags", pick, what);
    }
}

#[test]
fn each_mock_flag_has_the_heading_and_value_word_of_mock_help() {
    for (what, pick) in [
        (
            "heading",
            (|flag: &Flag| Some(flag.heading.clone())) as fn(&Flag) -> Option<String>,
        ),
        ("value word", |flag: &Flag| flag.value.clone()),
    ] {
        compare("mock", "## `mock` flags", pick, what);
    }
}

#[test]
fn serve_help_has_headed_groups_and_value_words() {
    let flags = help_flags("serve");
    let headings: std::collections::BTreeSet<&str> =
        flags.values().map(|flag| flag.heading.as_str()).collect();
    for heading in ["Upstream", "Cache", "Access", "Limits", "Operations"] {
        assert!(
            headings.contains(heading),
            "no {heading} group: {headings:?}"
        );
    }
    assert!(!headings.contains("Options"), "a flag without a group");
    // A value word says what the value is, never the field it is stored in.
    for (name, flag) in &flags {
        if let Some(value) = &flag.value {
            let field = name
                .trim_start_matches("--")
                .replace('-', "_")
                .to_uppercase();
            assert_ne!(value, &field, "{name} <{value}>");
        }
    }
    assert_eq!(flags["--allowed-host"].value.as_deref(), Some("HOST"));
    assert_eq!(flags["--max-body"].value.as_deref(), Some("SIZE"));
    assert_eq!(flags["--cache-ttl"].value.as_deref(), Some("DURATION"));
    assert_eq!(flags["--policy"].value.as_deref(), Some("FILE"));
}

//! The source layout as `docs/architecture.md` promises it: no import circle between the
//! modules of `src/` (an arrow from a module to one that uses it is a design error), no source
//! file over 500 lines (unit tests of a larger module live in a sibling `tests.rs`), and a `//!`
//! paragraph opening every module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Every `.rs` file under `src/`, with its module path (`sidecar::route`, `http`, ...).
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(Path::new(SRC), &mut files);
    files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(SRC).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            (parts.join("::"), path)
        })
        .collect()
}

/// The code of a file without its comments and without an inline `mod tests { ... }`.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(start) => &text[..start],
        None => &text,
    };
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths a file names: `crate::a::b`, `crate::a::{b, c::d}` and `super::x`.
fn named_paths(module: &str, code: &str) -> Vec<String> {
    let mut named = Vec::new();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    for (prefix, base) in [("crate::", String::new()), ("super::", parent(module))] {
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let path: String = rest.chars().take_while(|c| ident(*c)).collect();
            let path = path.trim_end_matches(':');
            let full = join(&base, path);
            if rest[path.len()..].trim_start_matches(':').starts_with('{') {
                let group = &rest[path.len()..];
                let group = &group[group.find('{').unwrap() + 1..];
                let group = &group[..group.find(['}', ';']).unwrap_or(group.len())];
                for item in group.split([',', '{']) {
                    let item: String = item.trim().chars().take_while(|c| ident(*c)).collect();
                    if !item.is_empty() {
                        named.push(join(&full, &item));
                    }
                }
            }
            named.push(full);
        }
    }
    named
}

fn parent(module: &str) -> String {
    module
        .rsplit_once("::")
        .map_or("", |(parent, _)| parent)
        .to_owned()
}

fn join(base: &str, path: &str) -> String {
    match (base.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (_, true) => base.to_owned(),
        _ => format!("{base}::{path}"),
    }
}

/// The longest known module a path starts with.
fn resolve<'m>(path: &str, modules: &'m BTreeMap<String, PathBuf>) -> Option<&'m str> {
    let mut path = path;
    loop {
        if let Some((known, _)) = modules.get_key_value(path) {
            return Some(known);
        }
        path = path.rsplit_once("::")?.0;
    }
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let modules = modules();
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (module, path) in &modules {
        if module.ends_with("tests") || module.is_empty() {
            continue;
        }
        for named in named_paths(module, &code(path)) {
            if let Some(target) = resolve(&named, &modules) {
                if target != module && !target.is_empty() {
                    edges.entry(module).or_default().insert(target);
                }
            }
        }
    }
    // A circle is an edge whose target reaches its source again.
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(next) = stack.pop() {
            if next == to {
                return true;
            }
            if seen.insert(next) {
                stack.extend(edges.get(next).into_iter().flatten().copied());
            }
        }
        false
    };
    let circles: Vec<String> = edges
        .iter()
        .flat_map(|(from, targets)| targets.iter().map(move |to| (*from, *to)))
        .filter(|(from, to)| reaches(to, from))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(
        circles.is_empty(),
        "import circles (each arrow is on one):\n{}",
        circles.join("\n")
    );
}

#[test]
fn no_source_file_is_over_500_lines_and_every_module_says_what_it_is() {
    for path in modules().values() {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.strip_prefix(SRC).unwrap().display().to_string();
        if path.file_name().is_some_and(|name| name != "tests.rs") {
            let lines = text.lines().count();
            assert!(lines <= 500, "src/{name} has {lines} lines");
        }
        assert!(
            text.starts_with("//!"),
            "src/{name} does not open with a `//!` paragraph"
        );
    }
}

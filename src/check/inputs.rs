//! The inputs `check` names, expanded: `-` (stdin), plain paths, and globs walked from their
//! literal base directory (`jobs/**/*.json` walks `jobs`), matched with `globset` (`*` stays
//! within a directory, `**` crosses them), in name order. A glob that matches no file is an
//! error; a file named twice is checked once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use globset::GlobBuilder;

/// One body to check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// The name reports use: `-` for stdin, else the path as given or as the walk found it.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "-".to_owned(),
            Input::File(path) => path.display().to_string(),
        }
    }
}

/// Why an input named no body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    #[error("`{0}` is not a valid glob: {1}")]
    BadGlob(String, String),
    #[error("`{0}` matches no file")]
    NoMatch(String),
}

/// Whether `text` is a glob rather than a path.
pub fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '[', '{'])
}

/// Expands every input in order; the errors are returned beside the inputs found, so that the
/// readable ones are still checked.
pub fn expand(inputs: &[String]) -> (Vec<Input>, Vec<InputError>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |input: Input, found: &mut Vec<Input>| {
        if seen.insert(input.clone()) {
            found.push(input);
        }
    };
    for text in inputs {
        if text == "-" {
            push(Input::Stdin, &mut found);
        } else if is_glob(text) {
            match walk(text) {
                Ok(paths) if paths.is_empty() => errors.push(InputError::NoMatch(text.clone())),
                Ok(paths) => {
                    for path in paths {
                        push(Input::File(path), &mut found);
                    }
                }
                Err(err) => errors.push(err),
            }
        } else {
            push(Input::File(PathBuf::from(text)), &mut found);
        }
    }
    (found, errors)
}

/// The files `pattern` matches, sorted.
fn walk(pattern: &str) -> Result<Vec<PathBuf>, InputError> {
    let matcher = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|err| InputError::BadGlob(pattern.to_owned(), err.kind().to_string()))?
        .compile_matcher();
    // The directories before the first component holding a glob character.
    let base: PathBuf = Path::new(pattern)
        .components()
        .take_while(|part| !is_glob(&part.as_os_str().to_string_lossy()))
        .collect();
    let relative = base.as_os_str().is_empty();
    let root = if relative { Path::new(".") } else { &base };
    let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| {
            let path = entry.into_path();
            match path.strip_prefix(".") {
                Ok(stripped) if relative => stripped.to_path_buf(),
                _ => path,
            }
        })
        .filter(|path| matcher.is_match(path))
        .collect();
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_walk_paths_stay_and_duplicates_go() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in ["a.json", "b.txt", "deep/c.json", "deep/er/d.json"] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "{}").unwrap();
        }
        let at = |name: &str| format!("{}/{name}", root.display());
        let (found, errors) = expand(&[
            at("**/*.json"),
            at("*.json"),
            at("b.txt"),
            "-".into(),
            "-".into(),
            at("missing.json"),
        ]);
        assert_eq!(errors, vec![]);
        let names: Vec<String> = found.iter().map(Input::name).collect();
        assert_eq!(
            names,
            vec![
                at("a.json"),
                at("deep/c.json"),
                at("deep/er/d.json"),
                at("b.txt"),
                "-".into(),
                at("missing.json"),
            ]
        );
        let (found, errors) = expand(&[at("*/*.json")]);
        assert_eq!(found, vec![Input::File(root.join("deep/c.json"))]);
        assert!(errors.is_empty());
        let (found, errors) = expand(&[at("*.yaml"), at("[")]);
        assert!(found.is_empty());
        assert_eq!(errors.len(), 2);
        assert!(matches!(errors[0], InputError::NoMatch(_)));
        assert!(matches!(errors[1], InputError::BadGlob(..)));
    }
}

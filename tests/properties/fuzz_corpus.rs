//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) through the same property
//! functions the fuzz targets call, so an input a fuzzing run once kept (a crash's regression
//! input among them) fails `cargo test` if the property breaks again.

use std::path::Path;

use libretto_sidecar::fuzzing::TARGETS;

#[test]
fn every_corpus_input_keeps_its_property() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, property) in TARGETS {
        let folder = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap_or_else(|err| panic!("{}: {err}", folder.display()))
            .map(|entry| entry.expect("a corpus entry").path())
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "the {target} corpus is empty");
        for file in files {
            let data = std::fs::read(&file).expect("a corpus file reads");
            let outcome = std::panic::catch_unwind(|| property(&data));
            assert!(
                outcome.is_ok(),
                "{target}: {} breaks the property",
                file.display()
            );
        }
    }
}

#[test]
fn every_fuzz_target_has_a_corpus_and_a_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (target, _) in TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "fuzz/Cargo.toml has no {target} target"
        );
        let source = std::fs::read_to_string(root.join(format!("fuzz_targets/{target}.rs")))
            .unwrap_or_else(|err| panic!("fuzz_targets/{target}.rs: {err}"));
        assert!(
            source.contains(&format!("libretto_sidecar::fuzzing::{target}(data)")),
            "fuzz_targets/{target}.rs does not call its property"
        );
    }
}

//! Properties and snapshots of the pure parts, no server: the placeholder grammar and the
//! rewrite over generated inputs, the answer scrubber over generated secrets, and the rewrite
//! of every fixture in `fixtures/rewrite/` snapshotted into `snapshots/`; and the source layout
//! itself (no import circle, no file over 500 lines, a `//!` on every module).

mod fuzz_corpus;
mod layout;
mod rewrite_fixtures;
mod rewrite_props;
mod scrub_props;

use proptest::test_runner::{FailurePersistence, FileFailurePersistence};

/// Where a property's failing seeds are kept: next to its source file, as
/// `<module>.proptest-regressions`. proptest's default would look in a `proptest-regressions/`
/// folder beside this directory, as it has a `main.rs`, and miss the seeds kept here.
fn regressions() -> Option<Box<dyn FailurePersistence>> {
    Some(Box::new(FileFailurePersistence::WithSource(
        "proptest-regressions",
    )))
}

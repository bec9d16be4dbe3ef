//! Fuzzes the placeholder grammar: any text parses or fails cleanly, and an error points inside
//! the text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use libretto_sidecar::placeholders::grammar::Template;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Err(err) = Template::parse(text) {
        assert!(err.offset < text.chars().count());
    }
});

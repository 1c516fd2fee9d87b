//! Fuzz target: the parallel DBC parse against the sequential one. Arbitrary text is cut into
//! chunks at statement lines and parsed at once; the joined result must be exactly what
//! can-dbc gives for the whole text, AST or error. The first byte picks 2 to 9 chunks. Run
//! with `cargo fuzz run dbc_split`.
#![no_main]

use canrelearn::dbc::parallel_parse_agrees;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&threads, rest)) = input.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    assert!(parallel_parse_agrees(text, 2 + usize::from(threads % 8)));
});

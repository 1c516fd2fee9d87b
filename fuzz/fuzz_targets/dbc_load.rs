//! Fuzz target: arbitrary text into `Database::from_bytes` and `check`, then arbitrary
//! frames (the tail of the input) through the decoder and the encoder of every message.
//! Nothing may panic. Run with `cargo fuzz run dbc_load`.
#![no_main]

use canrelearn::dbc::{Database, Decoded, check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // The first byte splits the input into DBC text and frame bytes.
    let Some((&split, rest)) = input.split_first() else {
        return;
    };
    let cut = rest.len().saturating_sub(usize::from(split % 72));
    let (text, frame) = rest.split_at(cut);
    let _ = check(text, "fuzz.dbc");
    if let Ok(db) = Database::from_bytes(text, "fuzz.dbc") {
        let mut out = Decoded::new();
        for m in db.messages() {
            for len in 0..=frame.len() {
                let _ = db.decode(m.id(), &frame[..len], &mut out);
            }
            let _ = m.encode(&[]);
        }
    }
});

//! Fuzzes the streaming candump reader: arbitrary bytes through a small buffer and a small
//! line limit must never panic, and every line must be counted exactly once.
#![no_main]

use std::io::BufReader;

use canrelearn::log::candump::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (cap, rest) = match data.split_first() {
        Some((&c, rest)) => (usize::from(c % 32) + 1, rest),
        None => (1, data),
    };
    let mut reader = Reader::new(BufReader::with_capacity(cap, rest)).with_max_line_len(256);
    let mut items = 0u64;
    while let Ok(Some(_)) = reader.read_item() {
        items += 1;
    }
    let s = reader.stats();
    assert_eq!(items, s.lines);
    assert_eq!(s.lines, s.records + s.other_lines + s.bad_lines);
});

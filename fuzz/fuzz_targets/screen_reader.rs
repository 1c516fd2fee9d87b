//! Fuzzes the candump screen reader: arbitrary bytes through a small buffer and a small line
//! limit, with each relative-time policy, must never panic, and every line must be counted as
//! exactly one item; sniffing must never panic either.
#![no_main]

use std::io::BufReader;

use canrelearn::log::screen::{self, Reader, RelativeTime};
use canrelearn::log::{FrameReader, Item};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (ctl, rest) = match data.split_first() {
        Some((&c, rest)) => (c, rest),
        None => (0, data),
    };
    let cap = usize::from(ctl % 32) + 1;
    let relative = match ctl >> 6 {
        0 => RelativeTime::Auto,
        1 => RelativeTime::Zero,
        _ => RelativeTime::Delta,
    };
    let _ = screen::sniff(rest);
    let mut reader = Reader::new(BufReader::with_capacity(cap, rest))
        .with_max_line_len(256)
        .with_relative_time(relative)
        .with_utc_offset(i32::from(ctl) * 3600 - 50_000);
    let mut items = 0u64;
    while let Ok(Some(item)) = reader.read_item() {
        if let Item::Record(r) = item {
            assert!(!r.interface.is_empty());
        }
        items += 1;
    }
    let s = reader.stats();
    assert_eq!(items, s.records + s.other + s.skipped + s.bad);
});

//! Fuzzes the streaming ASC reader: arbitrary bytes through a small buffer and a small line
//! limit must never panic, every line must be counted exactly once, and the records read must
//! come back unchanged through our writer (nanosecond times, absolute or relative), except the
//! direction of error frames (`CANFD <ch> Tx ErrorFrame` has one; the classic `ErrorFrame` line
//! we write, which every peer reads, has none: counted as a loss).
#![no_main]

use std::io::BufReader;

use canrelearn::log::asc::{Reader, TimestampsMode, WriteOptions, Writer};
use canrelearn::log::{FrameReader, FrameWriter, Item, OwnedRecord, Precision};
use libfuzzer_sys::fuzz_target;

fn read_records(bytes: &[u8], cap: usize) -> (Vec<OwnedRecord>, u64) {
    let mut reader = Reader::new(BufReader::with_capacity(cap, bytes)).with_max_line_len(512);
    let mut records = Vec::new();
    let mut items = 0u64;
    while let Ok(Some(item)) = reader.read_item() {
        items += 1;
        if let Item::Record(r) = item
            && records.len() < 64
        {
            records.push(r.to_owned_record());
        }
    }
    let s = reader.stats();
    assert_eq!(items, reader.lines());
    assert_eq!(items, s.records + s.other + s.skipped + s.bad);
    (records, items)
}

fuzz_target!(|data: &[u8]| {
    let (cap, relative, rest) = match data.split_first() {
        Some((&c, rest)) => (usize::from(c % 32) + 1, c & 0x80 != 0, rest),
        None => (1, false, data),
    };
    let (records, _) = read_records(rest, cap);
    let Some(start) = records.iter().map(|r| r.timestamp).min() else {
        return;
    };
    let mut sorted = records.clone();
    if relative {
        sorted.sort_by_key(|r| r.timestamp);
    }
    let options = WriteOptions {
        timestamps: if relative {
            TimestampsMode::Relative
        } else {
            TimestampsMode::Absolute
        },
        precision: Precision::Nanos,
        start: Some(start),
        ..WriteOptions::default()
    };
    let mut w = Writer::with_options(Vec::new(), options);
    for r in &sorted {
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    assert!(
        w.losses()
            .iter()
            .all(|l| l.what.starts_with("direction of error frames") && !l.dropped),
        "{:?}",
        w.losses()
    );
    let text = w.into_inner();
    let (back, _) = read_records(&text, 4096);
    let want: Vec<_> = sorted
        .into_iter()
        .map(|r| OwnedRecord {
            precision: Precision::Nanos,
            direction: if r.frame.is_error() { None } else { r.direction },
            ..r
        })
        .collect();
    assert_eq!(back, want);
});

//! Fuzzes the python-can CSV reader: arbitrary bytes through a small buffer must never panic,
//! every line is one item, and whatever it reads, our writer writes so that it reads back the
//! same (frames, timestamps and precision).
#![no_main]

use std::io::BufReader;

use canrelearn::log::csv::{self, Reader, Writer};
use canrelearn::log::{FrameReader, FrameWriter, Item, OwnedRecord};
use libfuzzer_sys::fuzz_target;

fn read_all(input: &[u8], cap: usize) -> (Vec<OwnedRecord>, u64) {
    let mut reader = Reader::new(BufReader::with_capacity(cap, input));
    let mut records = Vec::new();
    let mut items = 0u64;
    while let Ok(Some(item)) = reader.read_item() {
        if let Item::Record(r) = item {
            records.push(r.to_owned_record());
        }
        items += 1;
    }
    let s = reader.stats();
    assert_eq!(items, s.records + s.other + s.skipped + s.bad);
    (records, s.records)
}

fuzz_target!(|data: &[u8]| {
    let (cap, rest) = match data.split_first() {
        Some((&c, rest)) => (usize::from(c % 32) + 1, rest),
        None => (1, data),
    };
    let _ = csv::sniff(rest);
    let (records, n) = read_all(rest, cap);
    assert_eq!(records.len() as u64, n);
    let mut w = Writer::new(Vec::new());
    for r in &records {
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    assert!(w.losses().is_empty(), "{:?}", w.losses());
    let written = w.into_inner();
    let (again, _) = read_all(&written, 64);
    assert_eq!(again, records);
});

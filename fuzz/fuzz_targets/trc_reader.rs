//! Fuzzes the PEAK TRC reader: arbitrary bytes through a small buffer must never panic, every
//! line is one item, and whatever it reads, our writer writes so that it reads back the same
//! (when the writer reports no loss: sub-microsecond times, unknown directions and times
//! before the first record's day are the ones TRC 2.1 cannot hold).
#![no_main]

use std::io::BufReader;

use canrelearn::log::trc::{self, Reader, Writer};
use canrelearn::log::{FrameReader, FrameWriter, Item, OwnedRecord};
use libfuzzer_sys::fuzz_target;

fn read_all(input: &[u8], cap: usize) -> Vec<OwnedRecord> {
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
    assert_eq!(records.len() as u64, s.records);
    records
}

fuzz_target!(|data: &[u8]| {
    let (cap, rest) = match data.split_first() {
        Some((&c, rest)) => (usize::from(c % 32) + 1, rest),
        None => (1, data),
    };
    let _ = trc::sniff(rest);
    let records = read_all(rest, cap);
    let mut w = Writer::new(Vec::new());
    for r in &records {
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    let lossless = w.losses().is_empty();
    let written = w.into_inner();
    let again = read_all(&written, 64);
    assert_eq!(again.len(), records.len());
    if lossless {
        assert_eq!(again, records);
    }
});

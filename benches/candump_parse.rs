//! Throughput of the candump log reader and writer over an in-memory log of 100k mixed lines
//! (classic, extended, FD, remote, error frames, a few DROPCOUNT lines), reported in lines/s;
//! and the quick scan `decode` uses for the common line shape (`scan_data_frame_in`).

use std::hint::black_box;

use canrelearn::log::candump::{
    Item, OwnedRecord, Reader, WriteOptions, Writer, scan_data_frame_in,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const LINES: usize = 100_000;

/// A deterministic xorshift generator (no dependency, same log every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn hex(out: &mut String, rng: &mut Rng, bytes: usize) {
    for _ in 0..bytes {
        out.push_str(&format!("{:02X}", rng.next() as u8));
    }
}

fn generate_log() -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(LINES * 48);
    let mut micros: u64 = 1_700_000_000_000_000;
    for i in 0..LINES {
        micros += 50 + rng.next() % 500;
        let ts = format!("({}.{:06})", micros / 1_000_000, micros % 1_000_000);
        let iface = if i % 3 == 0 { "can1" } else { "can0" };
        if i % 5_000 == 4_999 {
            out.push_str("DROPCOUNT: dropped 1 CAN frame on 'can0' socket (total drops 1)\n");
            continue;
        }
        out.push_str(&ts);
        out.push(' ');
        out.push_str(iface);
        out.push(' ');
        match rng.next() % 20 {
            0..=13 => {
                out.push_str(&format!("{:03X}#", rng.next() % 0x800));
                let n = (rng.next() % 9) as usize;
                hex(&mut out, &mut rng, if n < 3 { 8 } else { n });
            }
            14..=16 => {
                out.push_str(&format!("{:08X}#", rng.next() % 0x2000_0000));
                hex(&mut out, &mut rng, 8);
            }
            17 => {
                out.push_str(&format!("{:03X}##5", rng.next() % 0x800));
                let len = [12, 16, 32, 64][(rng.next() % 4) as usize];
                hex(&mut out, &mut rng, len);
            }
            18 => out.push_str(&format!("{:03X}#R{}", rng.next() % 0x800, rng.next() % 9)),
            _ => out.push_str("20000004#0004000000000000"),
        }
        if i % 7 == 0 {
            out.push_str(" R");
        }
        out.push('\n');
    }
    out
}

fn bench(c: &mut Criterion) {
    let log = generate_log();
    let lines = log.lines().count() as u64;

    let mut group = c.benchmark_group("candump");
    group.throughput(Throughput::Elements(lines));

    group.bench_function("parse", |b| {
        b.iter(|| {
            let mut reader = Reader::new(black_box(log.as_bytes()));
            let mut sum = 0u64;
            while let Some(item) = reader.read_item().expect("in-memory read") {
                if let Item::Record(r) = item {
                    sum = sum.wrapping_add(r.timestamp.as_nanos());
                }
            }
            assert_eq!(reader.stats().bad_lines, 0);
            black_box(sum)
        })
    });

    group.bench_function("scan", |b| {
        b.iter(|| {
            // Lines the scan declines go to the line's end, as `decode` does.
            let text = black_box(log.as_bytes());
            let (mut at, mut sum) = (0, 0u64);
            while let Some(rest) = text.get(at..).filter(|t| !t.is_empty()) {
                match scan_data_frame_in(rest) {
                    Some((scan, len)) => {
                        sum = sum.wrapping_add(u64::from(scan.id.raw()));
                        at += len + 1;
                    }
                    None => {
                        at += rest
                            .iter()
                            .position(|&b| b == b'\n')
                            .map_or(rest.len(), |p| p + 1)
                    }
                }
            }
            black_box(sum)
        })
    });

    let mut reader = Reader::new(log.as_bytes());
    let mut records: Vec<OwnedRecord> = Vec::with_capacity(LINES);
    while let Some(r) = reader.next_record() {
        records.push(r.expect("generated log parses").to_owned_record());
    }
    let mut out = Vec::with_capacity(log.len() * 2);
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("write", |b| {
        b.iter(|| {
            out.clear();
            let mut w = Writer::with_options(&mut out, WriteOptions::default());
            for r in &records {
                w.write_record(&r.as_record()).expect("write to Vec");
            }
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

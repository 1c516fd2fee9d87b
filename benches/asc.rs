//! Throughput of the Vector ASC reader and writer over an in-memory log of 100k lines in the
//! layout python-can and CANoe write (mostly 8-byte classic frames on two channels, every 25th
//! a 32-byte CAN FD frame, some remote and error frames), reported in lines/s and bytes/s.

use std::hint::black_box;

use canrelearn::frame::{ErrorFrame, FdFlags, FdFrame, Frame, Id, RemoteFrame};
use canrelearn::log::asc::{Reader, Writer};
use canrelearn::log::{Direction, FrameReader, FrameWriter, Item, OwnedRecord, Precision};
use canrelearn::time::Timestamp;
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

fn records() -> Vec<OwnedRecord> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut micros: u64 = 1_795_290_005_000_000;
    (0..LINES)
        .map(|i| {
            micros += 50 + rng.next() % 450;
            let bytes = rng.next().to_le_bytes();
            let std_id = Id::standard((rng.next() % 0x800) as u16).unwrap();
            let frame = match i % 100 {
                24 | 49 | 74 | 99 => {
                    let data: Vec<u8> = (0..32).map(|_| rng.next() as u8).collect();
                    Frame::Fd(FdFrame::new(std_id, &data, FdFlags::from_bits(5).unwrap()).unwrap())
                }
                50 => Frame::Remote(RemoteFrame::new(std_id, 8).unwrap()),
                77 => Frame::Error(ErrorFrame::new(0x80, [0; 8]).unwrap()),
                n if n % 5 == 0 => {
                    let id = Id::extended((rng.next() % 0x2000_0000) as u32).unwrap();
                    Frame::classic(id, &bytes).unwrap()
                }
                _ => Frame::classic(std_id, &bytes).unwrap(),
            };
            OwnedRecord {
                timestamp: Timestamp::from_micros(micros).unwrap(),
                precision: Precision::Micros,
                interface: format!("can{}", i % 2),
                direction: (!frame.is_error()).then_some(if i % 7 == 0 {
                    Direction::Tx
                } else {
                    Direction::Rx
                }),
                frame,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let records = records();
    let mut w = Writer::new(Vec::with_capacity(LINES * 64));
    for r in &records {
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    let log = w.into_inner();

    let mut group = c.benchmark_group("asc");
    group.throughput(Throughput::Bytes(log.len() as u64));
    group.bench_function("read", |b| {
        b.iter(|| {
            let mut reader = Reader::new(black_box(&log[..]));
            let mut sum = 0u64;
            while let Some(item) = reader.read_item().expect("in-memory read") {
                if let Item::Record(r) = item {
                    sum = sum.wrapping_add(r.timestamp.as_nanos());
                }
            }
            assert_eq!(reader.stats().records, LINES as u64);
            assert_eq!(reader.stats().bad, 0);
            black_box(sum)
        })
    });
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("read_lines", |b| {
        b.iter(|| {
            let mut reader = Reader::new(black_box(&log[..]));
            while reader.read_item().expect("in-memory read").is_some() {}
            black_box(reader.stats().records)
        })
    });
    let mut out = Vec::with_capacity(log.len() * 2);
    group.bench_function("write", |b| {
        b.iter(|| {
            out.clear();
            let mut w = Writer::new(&mut out);
            for r in &records {
                w.write_record(&r.as_record()).expect("write to Vec");
            }
            w.finish().expect("write to Vec");
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

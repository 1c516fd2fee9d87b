//! Throughput of the BLF reader and writer over an in-memory capture of 200k mixed frames
//! (classic, extended, remote, CAN FD, error frames on two channels) in zlib containers of
//! 128 KiB (what python-can and CANoe write), and in uncompressed containers; reported in
//! frames/s and bytes of file per second.

use std::hint::black_box;
use std::io::Cursor;

use canrelearn::frame::{ErrorFrame, FdFlags, FdFrame, Frame, Id, RemoteFrame};
use canrelearn::log::blf::{Reader, WriteOptions, Writer};
use canrelearn::log::{Direction, FrameReader, FrameWriter, Item, OwnedRecord, Precision};
use canrelearn::time::Timestamp;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const FRAMES: usize = 200_000;

/// A deterministic xorshift generator (no dependency, same capture every run).
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
    let mut nanos = 1_700_000_000_000_000_000u64;
    (0..FRAMES)
        .map(|i| {
            nanos += 50_000 + rng.next() % 500_000;
            let mut data = [0u8; 64];
            for b in &mut data {
                *b = rng.next() as u8;
            }
            let frame = match rng.next() % 20 {
                0..=13 => {
                    let id = Id::standard((rng.next() % 0x800) as u16).unwrap();
                    Frame::classic(id, &data[..(rng.next() % 9) as usize]).unwrap()
                }
                14..=16 => {
                    let id = Id::extended((rng.next() % 0x2000_0000) as u32).unwrap();
                    Frame::classic(id, &data[..8]).unwrap()
                }
                17 => {
                    let id = Id::standard((rng.next() % 0x800) as u16).unwrap();
                    let len = [12, 16, 32, 64][(rng.next() % 4) as usize];
                    let flags = FdFlags::from_bits(FdFlags::FDF | FdFlags::BRS).unwrap();
                    Frame::Fd(FdFrame::new(id, &data[..len], flags).unwrap())
                }
                18 => {
                    let id = Id::standard((rng.next() % 0x800) as u16).unwrap();
                    Frame::Remote(RemoteFrame::new(id, (rng.next() % 9) as u8).unwrap())
                }
                _ => Frame::Error(ErrorFrame::new(0x88, [0, 0, 1, 8, 0, 0, 0, 0]).unwrap()),
            };
            OwnedRecord {
                timestamp: Timestamp::from_nanos(nanos),
                precision: Precision::Nanos,
                interface: if i % 3 == 0 { "can1" } else { "can0" }.to_owned(),
                frame,
                direction: Some(if i % 4 == 0 {
                    Direction::Tx
                } else {
                    Direction::Rx
                }),
            }
        })
        .collect()
}

fn write(records: &[OwnedRecord], options: WriteOptions) -> Vec<u8> {
    let mut w = Writer::with_options(Cursor::new(Vec::new()), options);
    for r in records {
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    w.into_inner().into_inner()
}

fn read_all(file: &[u8]) -> u64 {
    let mut r = Reader::new(file);
    let mut n = 0u64;
    while let Some(item) = r.read_item().unwrap() {
        if let Item::Record(rec) = item {
            n += rec.frame.data().len() as u64 + 1;
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let records = records();
    let zlib = write(&records, WriteOptions::default());
    let raw = write(
        &records,
        WriteOptions {
            compression: None,
            ..WriteOptions::default()
        },
    );
    for (name, file) in [("zlib", &zlib), ("uncompressed", &raw)] {
        let mut g = c.benchmark_group(format!("blf read {name}"));
        g.throughput(Throughput::Elements(FRAMES as u64));
        g.bench_function("frames", |b| b.iter(|| read_all(black_box(file))));
        g.throughput(Throughput::Bytes(file.len() as u64));
        g.bench_function("file bytes", |b| b.iter(|| read_all(black_box(file))));
        g.finish();
    }
    let mut g = c.benchmark_group("blf write");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.sample_size(10);
    g.bench_function("zlib", |b| {
        b.iter(|| write(black_box(&records), WriteOptions::default()).len())
    });
    g.bench_function("uncompressed", |b| {
        b.iter(|| {
            write(
                black_box(&records),
                WriteOptions {
                    compression: None,
                    ..WriteOptions::default()
                },
            )
            .len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

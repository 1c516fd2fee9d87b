//! The decoded-frame formatters (text, jsonl, csv) and the Parquet writer (frame by frame, and
//! in batches as the block pipeline builds them on each core), over 100k frames
//! of the 40-message test DBC with random payloads, decoded once per iteration: frames/s.
//! `benches/compare_cantools.py` measures the whole command against cantools.

use std::hint::black_box;
use std::io::{self, Write};

use canrelearn::dbc::Database;
use canrelearn::log::Precision;
use canrelearn::output::parquet::{BatchBuilder, DatasetWriter, Resolution, StagedFile, Store};
use canrelearn::output::{Format, Formatter, FrameDecoder, Line};
use canrelearn::{Frame, Timestamp};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const FRAMES: usize = 100_000;

fn db() -> Database {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/dbc/bench_body40.dbc"
    ))
    .unwrap();
    Database::from_str_named(&text, "bench_body40.dbc").unwrap()
}

fn frames(db: &Database) -> Vec<Frame> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let msgs: Vec<_> = db.messages().iter().filter(|m| m.size() <= 8).collect();
    (0..FRAMES)
        .map(|_| {
            let m = msgs[(next() % msgs.len() as u64) as usize];
            let data: Vec<u8> = (0..m.size()).map(|_| next() as u8).collect();
            Frame::classic(m.id(), &data).unwrap()
        })
        .collect()
}

/// A store that counts bytes and keeps nothing.
struct Null;
struct NullFile;
impl Store for Null {
    fn create(&self, _: &str) -> io::Result<Box<dyn StagedFile>> {
        Ok(Box::new(NullFile))
    }
}
impl Write for NullFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl StagedFile for NullFile {
    fn publish(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

/// Frame `i`, 1 ms apart.
fn line<'a>(i: usize, frame: &'a Frame, meaning: canrelearn::output::Meaning<'a>) -> Line<'a> {
    Line {
        raw: None,
        timestamp: Timestamp::from_nanos(1_700_000_000_000_000_000 + i as u64 * 1000),
        precision: Precision::Micros,
        interface: "can0",
        frame,
        meaning,
    }
}

fn bench(c: &mut Criterion) {
    let db = db();
    let frames = frames(&db);
    let mut g = c.benchmark_group("decode_formats");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.sample_size(10);
    for (name, format) in [
        ("text", Format::Text),
        ("jsonl", Format::Jsonl),
        ("csv", Format::Csv),
    ] {
        let formatter = Formatter::new(format, &db);
        let mut out = Vec::with_capacity(64 << 20);
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                let mut decoder = FrameDecoder::new(&db);
                for (i, f) in frames.iter().enumerate() {
                    let meaning = decoder.decode(f);
                    formatter.format(&line(i, f, meaning), &mut out);
                }
                black_box(out.len())
            })
        });
    }
    g.bench_function("parquet", |b| {
        b.iter(|| {
            let mut w = DatasetWriter::new(&db, &Null, "bench", Resolution::Micros).unwrap();
            let mut decoder = FrameDecoder::new(&db);
            for (i, f) in frames.iter().enumerate() {
                let meaning = decoder.decode(f);
                w.push(&line(i, f, meaning)).unwrap();
            }
            black_box(w.finish().unwrap().frames)
        })
    });
    // As the block pipeline does on each core: rows built in batches (a 1 MiB block is about
    // 22k candump lines), added to the writer in order.
    g.bench_function("parquet_batches", |b| {
        b.iter(|| {
            let mut w = DatasetWriter::new(&db, &Null, "bench", Resolution::Micros).unwrap();
            let mut rows = BatchBuilder::new(&db, Resolution::Micros).unwrap();
            let mut decoder = FrameDecoder::new(&db);
            for (k, chunk) in frames.chunks(22_000).enumerate() {
                for (j, f) in chunk.iter().enumerate() {
                    let i = k * 22_000 + j;
                    let meaning = decoder.decode(f);
                    rows.push(&line(i, f, meaning)).unwrap();
                }
                w.append(rows.take()).unwrap();
            }
            black_box(w.finish().unwrap().frames)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

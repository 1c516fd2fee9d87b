//! The decoded-frame formatters (text, jsonl, csv: the general path from decoded frames, and
//! the fused path from candump lines that `decode` takes for the common line) and the Parquet
//! writer (frame by frame, in batches as the block pipeline builds them on each core, and in
//! batches from candump lines through its fused path, as `decode --format parquet` does),
//! over 100k frames of the 40-message test DBC with random payloads, decoded once per
//! iteration: frames/s.
//! `benches/compare_cantools.py` measures the whole command against cantools.

use std::hint::black_box;
use std::io::{self, Write};

use canrelearn::dbc::Database;
use canrelearn::log::Precision;
use canrelearn::log::candump::{self, scan_data_frame_in};
use canrelearn::output::parquet::{
    BatchBuilder, DatasetWriter, FusedRows, Resolution, StagedFile, Store,
};
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
    // The fused path over the same frames as candump lines, as `decode` reads them.
    let mut log = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let id = f.id().unwrap();
        let hex: String = f.data().iter().map(|b| format!("{b:02X}")).collect();
        writeln!(
            log,
            "(1700000000.{:06}) can0 {:03X}#{hex}",
            i % 1_000_000,
            id.raw()
        )
        .unwrap();
    }
    for (name, format) in [
        ("text_fused", Format::Text),
        ("jsonl_fused", Format::Jsonl),
        ("csv_fused", Format::Csv),
    ] {
        let formatter = Formatter::new(format, &db);
        let fused = formatter.fused();
        let mut out = vec![0u8; 64 << 20];
        let mut general = Vec::new();
        g.bench_function(name, |b| {
            b.iter(|| {
                let (mut at, mut pos) = (0, 0);
                let mut decoder = FrameDecoder::new(&db);
                while let Some((scan, len)) = scan_data_frame_in(&log[at..]) {
                    let text = &log[at..];
                    if fused
                        .line(&db, text, len, &scan, &mut out, &mut pos)
                        .is_none()
                    {
                        // A line the fused path leaves to the general one (multiplexed
                        // messages, for jsonl and csv), as the pipeline writes it.
                        let Ok(candump::Line::Record(rec)) = candump::parse_line(&text[..len])
                        else {
                            panic!("a record");
                        };
                        general.clear();
                        formatter.format(
                            &Line {
                                raw: Some(&text[..len]),
                                ..Line::of_record(&rec, decoder.decode(&rec.frame))
                            },
                            &mut general,
                        );
                        out[pos..pos + general.len()].copy_from_slice(&general);
                        pos += general.len();
                    }
                    at += len + 1;
                }
                assert_eq!(at, log.len());
                black_box(pos)
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
    // As `decode --format parquet` does: rows built from candump lines in 22k-line batches,
    // the common line through the fused path, any other through the general one.
    let plans = FusedRows::new(&db);
    g.bench_function("parquet_fused", |b| {
        b.iter(|| {
            let mut w = DatasetWriter::new(&db, &Null, "bench", Resolution::Micros).unwrap();
            let mut rows = BatchBuilder::new(&db, Resolution::Micros).unwrap();
            let mut decoder = FrameDecoder::new(&db);
            let (mut at, mut n) = (0, 0);
            while let Some((scan, len)) = scan_data_frame_in(&log[at..]) {
                let text = &log[at..at + len];
                if rows.push_scanned(&plans, text, &scan).is_none() {
                    let Ok(candump::Line::Record(rec)) = candump::parse_line(text) else {
                        panic!("a record");
                    };
                    rows.push(&Line::of_record(&rec, decoder.decode(&rec.frame)))
                        .unwrap();
                }
                at += len + 1;
                n += 1;
                if n % 22_000 == 0 {
                    w.append(rows.take()).unwrap();
                }
            }
            assert_eq!(at, log.len());
            w.append(rows.take()).unwrap();
            black_box(w.finish().unwrap().frames)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

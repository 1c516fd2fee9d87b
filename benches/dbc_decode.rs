//! Decoding throughput on a realistic 40-message body DBC (`tests/data/dbc/bench_body40.dbc`):
//! id lookup plus decoding of every signal, into a reused buffer.
//!
//! The frame mix follows the DBC's cycle times (a 10 ms message appears 100 times as often
//! as a 1000 ms one), payloads are pseudo-random. Two groups report the same work as
//! frames/s and as signals/s (whence ns per signal).

use std::hint::black_box;

use canrelearn::dbc::{Database, Decoded};
use canrelearn::frame::Id;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn frames(db: &Database) -> Vec<(Id, Vec<u8>)> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut out = Vec::new();
    // One second of traffic: 1000 / cycle frames of each message, interleaved.
    for tick in 0..1000u32 {
        for m in db.messages() {
            let cycle = m.cycle_time_ms().unwrap_or(100);
            if tick % cycle == 0 {
                let mut data: Vec<u8> = (0..m.size()).map(|_| next() as u8).collect();
                // Keep multiplexors mostly on their defined pages.
                if m.is_multiplexed()
                    && let Some(b) = data.first_mut()
                {
                    *b &= 0xF3;
                }
                out.push((m.id(), data));
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/dbc/bench_body40.dbc"
    );
    let db = load_dbc_file(path).expect("bench DBC loads");
    let frames = frames(&db);
    let mut out = Decoded::new();
    let mut signals = 0u64;
    for (id, data) in &frames {
        if let Ok(Some(_)) = db.decode(*id, data, &mut out) {
            signals += out.signals().len() as u64;
        }
    }

    let mut group = c.benchmark_group("dbc_decode_frames");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("bench_body40", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for (id, data) in &frames {
                if let Ok(Some(_)) = db.decode(black_box(*id), black_box(data), &mut out) {
                    n += out.signals().len();
                }
            }
            black_box(n)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("dbc_decode_signals");
    group.throughput(Throughput::Elements(signals));
    group.bench_function("bench_body40", |b| {
        b.iter(|| {
            for (id, data) in &frames {
                let _ = black_box(db.decode(black_box(*id), black_box(data), &mut out));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

/// Reads and compiles a DBC file (the library takes bytes; reading is the caller's job).
fn load_dbc_file(
    path: impl AsRef<std::path::Path>,
) -> Result<canrelearn::dbc::Database, canrelearn::dbc::DbcError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).expect("read the DBC file");
    canrelearn::dbc::Database::from_bytes(&bytes, &path.display().to_string())
}

//! The live monitor's model, per frame: the bundled J11 sample (14 ids, 20 s of traffic) fed
//! with a redraw-rate `handle_timeout` + snapshot every 100 ms of log time, and a synthetic
//! full-load stream (1000 distinct ids, every payload different, so every row is re-decoded
//! or marked at each tick). Throughput is in frames; a saturated 500 kbit/s bus carries about
//! 3,700 frames/s, a 1 Mbit/s one about 7,400.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use canrelearn::dbc::Database;
use canrelearn::frame::{Frame, Id};
use canrelearn::log::candump::{self, Item};
use canrelearn::monitor::view::{ViewState, snapshot};
use canrelearn::monitor::{Monitor, MonitorConfig};
use canrelearn::time::Timestamp;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn sample() -> (Database, Vec<(Timestamp, Frame)>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let db = load_dbc_file(root.join("dbc/nissan_qashqai_j11.dbc")).expect("bundled DBC");
    let mut reader = candump::Reader::new(std::io::BufReader::new(
        std::fs::File::open(root.join("tests/data/j11-sample.log")).expect("sample"),
    ));
    let mut frames = Vec::new();
    while let Some(item) = reader.read_item().expect("read") {
        if let Item::Record(r) = item {
            frames.push((r.timestamp, r.frame));
        }
    }
    (db, frames)
}

/// Feed `frames` (shifted by `offset`), ticking every 100 ms of frame time.
fn run(m: &mut Monitor, frames: &[(Timestamp, Frame)], offset: Duration, with_snapshot: bool) {
    let tick = Duration::from_millis(100);
    let mut next_tick: Option<Timestamp> = None;
    let view = ViewState::default();
    for (t, f) in frames {
        let t = *t + offset;
        m.handle_frame(t, f);
        let due = *next_tick.get_or_insert(t + tick);
        if t >= due {
            m.handle_timeout(t);
            if with_snapshot {
                black_box(snapshot(m, &view, t));
            }
            next_tick = Some(due + tick);
        }
    }
}

fn bench(c: &mut Criterion) {
    let (db, frames) = sample();
    let span = frames
        .last()
        .expect("frames")
        .0
        .saturating_duration_since(frames[0].0)
        + Duration::from_secs(1);
    let mut g = c.benchmark_group("monitor");
    g.throughput(Throughput::Elements(frames.len() as u64));
    for (name, snap) in [
        ("j11_sample_model_only", false),
        ("j11_sample_with_10hz_snapshot", true),
    ] {
        let mut m = Monitor::new(MonitorConfig::default(), db.clone()).expect("monitor");
        let mut round = 0u32;
        g.bench_function(name, |b| {
            b.iter(|| {
                run(&mut m, &frames, span * round, snap);
                round += 1;
            })
        });
    }

    // Full load: 1000 ids, every payload different, 270 us apart (a saturated 500 kbit/s bus).
    let synthetic: Vec<(Timestamp, Frame)> = (0..100_000u64)
        .map(|i| {
            let id = Id::standard((i % 1000) as u16).expect("id");
            let data = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes();
            (
                Timestamp::from_nanos(i * 270_000),
                Frame::classic(id, &data).expect("frame"),
            )
        })
        .collect();
    let span = Duration::from_nanos(100_000 * 270_000 + 1_000_000_000);
    g.throughput(Throughput::Elements(synthetic.len() as u64));
    for (name, snap) in [
        ("full_load_1000_ids_model_only", false),
        ("full_load_1000_ids_with_10hz_snapshot", true),
    ] {
        let mut m = Monitor::new(MonitorConfig::default(), db.clone()).expect("monitor");
        let mut round = 0u32;
        g.bench_function(name, |b| {
            b.iter(|| {
                run(&mut m, &synthetic, span * round, snap);
                round += 1;
            })
        });
    }
    g.finish();
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

//! Integration tests of the ASC reader and writer over the peer fixtures in
//! `tests/data/formats/asc/` (no peer needed), and a long capture streamed without allocating
//! per line.

#[path = "common/asc.rs"]
mod asc_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

use asc_common::{
    assert_read_as_python_wrote, bus_error, mixed_records, py_messages, read_asc, with_fdf,
};
use canrelearn::frame::{Frame, Id};
use canrelearn::log::asc::{Reader, WriteOptions, Writer};
use canrelearn::log::{Direction, FrameReader, FrameWriter, Item, OwnedRecord, candump};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counting<T>(f: impl FnOnce() -> T) -> (T, u64) {
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCATIONS.with(Cell::get))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats/asc")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn test_python_can_fixture_reads_frame_for_frame() {
    let msgs = py_messages(std::str::from_utf8(&fixture("python-can-mixed.json")).unwrap());
    let (ours, stats) = read_asc(&fixture("python-can-mixed.asc"));
    assert_read_as_python_wrote(&ours, &msgs, 1_000);
    assert_eq!(ours.len(), 52);
    assert_eq!((stats.records, stats.bad, stats.skipped), (52, 0, 0));
    // The header, the trigger block, `Start of measurement` and its end.
    assert_eq!(stats.other, 6);
    assert!(canrelearn::log::asc::sniff(&fixture(
        "python-can-mixed.asc"
    )));
}

fn source_records() -> Vec<OwnedRecord> {
    let text = fixture("log2asc-source.log");
    let mut r = candump::Reader::new(&text[..]);
    let mut out = Vec::new();
    while let Some(rec) = r.next_record() {
        out.push(rec.unwrap().to_owned_record());
    }
    out
}

fn through_asc(r: &OwnedRecord) -> OwnedRecord {
    let mut r = r.clone();
    if r.frame.is_error() {
        r.frame = bus_error();
        r.direction = None;
    }
    r.frame = with_fdf(r.frame);
    r
}

#[test]
fn test_log2asc_fixtures_read_the_candump_frames() {
    let source = source_records();
    assert_eq!(source.len(), 37);
    let (plain, stats) = read_asc(&fixture("log2asc-mixed.asc"));
    assert_eq!((stats.records, stats.other, stats.bad), (37, 3, 0));
    let want: Vec<_> = source.iter().map(through_asc).collect();
    assert_eq!(plain, want);

    // -f: classic frames in CANFD lines; error frames written as data frames (log2asc's doing).
    let (fd_lines, _) = read_asc(&fixture("log2asc-fd-lines.asc"));
    let want: Vec<_> = source
        .iter()
        .map(|r| match r.frame {
            Frame::Error(e) => OwnedRecord {
                frame: Frame::classic(Id::new(e.class(), false).unwrap(), e.data()).unwrap(),
                direction: Some(r.direction.unwrap_or(Direction::Rx)),
                ..r.clone()
            },
            _ => through_asc(r),
        })
        .collect();
    assert_eq!(fd_lines, want);
}

#[test]
fn test_long_capture_streams_without_allocating_per_line() {
    // 100k records of every kind, written once (into memory) and read back.
    let kinds = mixed_records(true);
    let mut records = Vec::with_capacity(100_000);
    for i in 0..100_000u64 {
        let mut r = kinds[(i % kinds.len() as u64) as usize].clone();
        r.timestamp =
            canrelearn::time::Timestamp::from_micros(1_795_290_005_000_000 + i * 137).unwrap();
        records.push(r);
    }
    let mut w = Writer::new(Vec::with_capacity(16 << 20));
    for r in &records[..kinds.len()] {
        w.write_record(&r.as_record()).unwrap();
    }
    // After the first lines sized the buffers (and the output's capacity), writing allocates
    // nothing more.
    let ((), allocations) = counting(|| {
        for r in &records[kinds.len()..] {
            w.write_record(&r.as_record()).unwrap();
        }
    });
    assert_eq!(allocations, 0, "writer allocations");
    w.finish().unwrap();
    assert!(w.losses().is_empty());
    let text = w.into_inner();

    let mut reader = Reader::new(&text[..]);
    let mut n = 0usize;
    // Warm up: the first lines size the line buffer and name the two channels.
    while n < kinds.len() {
        if let Some(Item::Record(r)) = reader.read_item().unwrap() {
            assert_eq!(r.to_owned_record(), records[n]);
            n += 1;
        }
    }
    let (rest, allocations) = counting(|| {
        let mut count = 0usize;
        let mut first_mismatch = None;
        while let Some(item) = reader.read_item().unwrap() {
            if let Item::Record(r) = item {
                let want = &records[n + count];
                if first_mismatch.is_none()
                    && (r.timestamp != want.timestamp
                        || r.frame != want.frame
                        || r.interface != want.interface
                        || r.direction != want.direction)
                {
                    first_mismatch = Some(n + count);
                }
                count += 1;
            }
        }
        (count, first_mismatch)
    });
    assert_eq!(allocations, 0, "reader allocations");
    assert_eq!(rest.1, None, "first record that differs");
    assert_eq!(n + rest.0, 100_000);
    assert_eq!(reader.stats().records, 100_000);
}

#[test]
fn test_writer_relative_and_nanosecond_files_read_back() {
    let records = mixed_records(true);
    for options in [
        WriteOptions {
            timestamps: canrelearn::log::asc::TimestampsMode::Relative,
            ..WriteOptions::default()
        },
        WriteOptions {
            precision: canrelearn::log::Precision::Nanos,
            utc_offset_secs: -7 * 3600,
            ..WriteOptions::default()
        },
    ] {
        let mut w = Writer::with_options(Vec::new(), options);
        for r in &records {
            w.write_record(&r.as_record()).unwrap();
        }
        w.finish().unwrap();
        let text = w.into_inner();
        let mut reader = Reader::new(&text[..]).with_utc_offset(options.utc_offset_secs);
        let mut back = Vec::new();
        while let Some(item) = reader.read_item().unwrap() {
            if let Item::Record(r) = item {
                back.push(r.to_owned_record());
            }
        }
        let want: Vec<_> = records
            .iter()
            .map(|r| OwnedRecord {
                precision: options.precision,
                ..r.clone()
            })
            .collect();
        assert_eq!(back, want, "{options:?}");
    }
}

#[test]
fn test_sniff_claims_asc_fixtures_and_no_other_capture() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut checked = 0;
    for dir in [
        "candump",
        "candump-real",
        "capture",
        "diag",
        "dbc",
        "formats/asc",
    ] {
        let mut pending = vec![root.join(dir)];
        while let Some(path) = pending.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    pending.push(entry.unwrap().path());
                }
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let head = &bytes[..bytes.len().min(4096)];
            let is_asc = path.extension().is_some_and(|e| e == "asc");
            assert_eq!(
                canrelearn::log::asc::sniff(head),
                is_asc,
                "{}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 15);
}

//! python-can CSV written by python-can 4.6.1 (tests/data/formats/csv/, made by
//! tests/tools/gen_csv_fixtures.py) read by `canrelearn::log::csv` without Python: every row
//! against the message python-can was given (`NAME.expected`).

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use canrelearn::frame::{ErrorFrame, FdFlags, FdFrame, RemoteFrame};
use canrelearn::log::{FrameReader, Item, Precision, csv};
use canrelearn::{ClassicFrame, Frame, Id, Timestamp};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats/csv")
}

/// The frame we expect for one line of `NAME.expected`, and its timestamp text.
fn expected(line: &str) -> (String, Frame) {
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f.len(), 10, "{line}");
    let flag = |i: usize| f[i] == "1";
    let raw = u32::from_str_radix(f[1], 16).unwrap();
    let dlc: u8 = f[8].parse().unwrap();
    let data = if f[9] == "-" {
        Vec::new()
    } else {
        hex::decode(f[9]).unwrap()
    };
    let id = Id::new(raw, flag(2)).unwrap();
    let frame = if flag(4) {
        let mut d = [0u8; 8];
        d[..data.len()].copy_from_slice(&data);
        Frame::Error(ErrorFrame::new(raw, d).unwrap())
    } else if flag(3) {
        Frame::Remote(if dlc > 8 {
            RemoteFrame::with_raw_dlc(id, dlc).unwrap()
        } else {
            RemoteFrame::new(id, dlc).unwrap()
        })
    } else if data.len() > 8 {
        // No FD column: more than 8 bytes is CAN FD, without BRS/ESI.
        assert!(flag(5));
        Frame::Fd(FdFrame::new(id, &data, FdFlags::from_bits(FdFlags::FDF).unwrap()).unwrap())
    } else if usize::from(dlc) != data.len() {
        Frame::Classic(ClassicFrame::with_raw_dlc(id, data.try_into().unwrap(), dlc).unwrap())
    } else {
        Frame::classic(id, &data).unwrap()
    };
    (f[0].to_owned(), frame)
}

/// A positional decimal (`1700000000.001011`) as a timestamp, by string arithmetic.
fn decimal(text: &str) -> Timestamp {
    let (s, frac) = text.split_once('.').unwrap();
    let nanos = format!("{frac:0<9}");
    Timestamp::from_secs_nanos(s.parse().unwrap(), nanos[..9].parse().unwrap()).unwrap()
}

fn read(name: &str) -> (Vec<(Timestamp, Precision, Frame)>, Vec<String>) {
    let path = dir().join(format!("{name}.csv"));
    let bytes = fs::read(&path).unwrap();
    assert!(csv::sniff(&bytes), "{name}.csv is sniffed as CSV");
    let mut r = csv::Reader::new(BufReader::new(&bytes[..])).with_source_name(name);
    let mut records = Vec::new();
    let mut other = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Record(rec) => {
                assert_eq!(rec.interface, "can0");
                assert_eq!(rec.direction, None);
                records.push((rec.timestamp, rec.precision, rec.frame));
            }
            Item::Other(s) => other.push(s.to_owned()),
            Item::Skipped(s) => panic!("skipped {s}"),
            Item::Bad(e) => panic!("{e}"),
        }
    }
    (records, other)
}

#[test]
fn python_can_mixed_csv_reads_frame_for_frame() {
    let (records, other) = read("mixed");
    assert_eq!(other, [csv::HEADER]);
    let want: Vec<(String, Frame)> = fs::read_to_string(dir().join("mixed.expected"))
        .unwrap()
        .lines()
        .map(expected)
        .collect();
    assert_eq!(records.len(), want.len());
    assert!(records.len() >= 30);
    for ((t, p, frame), (ts, want_frame)) in records.iter().zip(&want) {
        assert_eq!(frame, want_frame, "at {ts}");
        assert_eq!(*t, decimal(ts), "{ts}");
        assert_eq!(*p, Precision::Micros, "{ts}");
    }
    // Every kind is in the file.
    assert!(records.iter().any(|r| r.2.is_fd()));
    assert!(records.iter().any(|r| r.2.is_remote()));
    assert!(records.iter().any(|r| r.2.is_error()));
    assert!(
        records
            .iter()
            .any(|r| matches!(r.2, Frame::Classic(c) if c.raw_dlc().is_some()))
    );
}

#[test]
fn python_can_float_reprs_read_exactly() {
    let (records, _) = read("small-times");
    let times: Vec<(u64, Precision)> = records.iter().map(|r| (r.0.as_nanos(), r.1)).collect();
    assert_eq!(
        times,
        [
            (0, Precision::Micros),
            (10_000, Precision::Micros),                   // 1e-05
            (123_000, Precision::Micros),                  // 0.000123
            (150, Precision::Nanos),                       // 1.5e-07
            (100_000_000, Precision::Micros),              // 0.1
            (1_000_000_000, Precision::Micros),            // 1.0
            (2_500_000_000, Precision::Micros),            // 2.5
            (12_000_001_000, Precision::Micros),           // 12.000001
            (1_700_000_000_123_456_700, Precision::Nanos), // 1700000000.1234567
        ]
    );
    let want: Vec<(String, Frame)> = fs::read_to_string(dir().join("small-times.expected"))
        .unwrap()
        .lines()
        .map(expected)
        .collect();
    for (r, (_, f)) in records.iter().zip(&want) {
        assert_eq!(r.2, *f);
    }
}

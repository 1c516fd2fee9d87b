//! Real `candump` screen output (tests/data/candump-real/screen/, recorded by
//! tests/vm/record-screen-fixtures.sh with can-utils 2020.11, 2023.03 and 2025.01+) read frame
//! for frame against the log the same candump process wrote of the same frames.
//!
//! File names say the session: `<version>-<style>.txt` (screen) and `.log` (log format), the
//! style naming the options: `abs` `-ta`, `date` `-tA` (recorded with the local time UTC+1),
//! `delta` `-td`, `zero` `-tz`, `none` no timestamp, `x` `-x`, `e` `-e`, `a` `-a`, `8` `-8`
//! (2023.03 and later), `colour` `-c -c -c`, `swap` `-S`, `binary` `-i`; `head` used `-N` with
//! `-td` and `-tA`.

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use canrelearn::frame::{FdFlags, FdFrame, Frame, RemoteFrame};
use canrelearn::log::screen::{self, RelativeTime};
use canrelearn::log::{FrameReader, Item, OwnedRecord, candump};
use canrelearn::{ClassicFrame, Timestamp};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/candump-real/screen")
}

struct Screen {
    records: Vec<OwnedRecord>,
    other: Vec<String>,
    relative: RelativeTime,
}

fn read_screen(path: &Path, utc_offset: i32) -> Screen {
    let f = fs::File::open(path).unwrap();
    let mut r = screen::Reader::new(BufReader::new(f))
        .with_source_name(path.display().to_string())
        .with_utc_offset(utc_offset);
    let mut records = Vec::new();
    let mut other = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Record(rec) => records.push(rec.to_owned_record()),
            Item::Other(s) => other.push(s.to_owned()),
            Item::Skipped(s) => panic!("{}: skipped {s}", path.display()),
            Item::Bad(e) => panic!("{e}"),
        }
    }
    let s = r.stats();
    assert_eq!(s.records as usize, records.len());
    assert_eq!(s.bad, 0);
    Screen {
        records,
        other,
        relative: r.relative_time(),
    }
}

fn read_log(path: &Path) -> Vec<OwnedRecord> {
    let f = fs::File::open(path).unwrap();
    let mut r = candump::Reader::new(BufReader::new(f));
    let mut out = Vec::new();
    while let Some(rec) = r.next_record() {
        out.push(rec.unwrap().to_owned_record());
    }
    assert_eq!(r.stats().bad_lines, 0, "{}", path.display());
    out
}

/// The log's frame as the screen shows it: FD flags reduced to what `-x` shows (or to none),
/// with FDF always set; raw DLCs only with `-8`.
fn as_shown(f: Frame, extra: bool, len8: bool) -> Frame {
    match f {
        Frame::Fd(fd) => {
            let shown = if extra {
                fd.flags().bits() & (FdFlags::BRS | FdFlags::ESI)
            } else {
                0
            };
            Frame::Fd(
                FdFrame::new(
                    fd.id(),
                    fd.data(),
                    FdFlags::from_bits(shown | FdFlags::FDF).unwrap(),
                )
                .unwrap(),
            )
        }
        Frame::Classic(c) if !len8 && c.raw_dlc().is_some() => {
            Frame::Classic(ClassicFrame::new(c.id(), c.data()).unwrap())
        }
        Frame::Remote(r) if !len8 && r.raw_dlc().is_some() => {
            Frame::Remote(RemoteFrame::new(r.id(), r.len()).unwrap())
        }
        other => other,
    }
}

#[test]
fn screen_captures_match_their_logs_frame_for_frame() {
    let mut files: Vec<PathBuf> = fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt") && !p.ends_with("versions.txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 16, "{files:?}");
    let mut total = 0;
    let mut kinds = [0usize; 8];
    for screen_path in &files {
        let name = screen_path
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let style: Vec<&str> = name.split('-').skip(1).collect();
        let has = |o: &str| style.contains(&o);
        let version = name.split('-').next().unwrap();
        let utc_offset = if has("date") { 3600 } else { 0 };
        let screen = read_screen(screen_path, utc_offset);
        let log = read_log(&screen_path.with_extension("log"));
        assert_eq!(screen.records.len(), log.len(), "{name}: frame count");
        assert!(!log.is_empty());
        let t0 = log[0].timestamp;
        let log_zero_based = t0.secs() < 1_000_000_000;
        for (i, (s, l)) in screen.records.iter().zip(&log).enumerate() {
            let at = format!("{name} frame {}: screen {s:?} log {l:?}", i + 1);
            assert_eq!(s.interface, l.interface, "{at}");
            assert_eq!(s.direction, l.direction, "{at}");
            assert_eq!(s.frame, as_shown(l.frame, has("x"), has("8")), "{at}");
            let expected = if has("none") {
                Timestamp::ZERO
            } else if (has("delta") || has("zero")) && !log_zero_based {
                Timestamp::from_nanos(l.timestamp.as_nanos() - t0.as_nanos())
            } else {
                l.timestamp
            };
            assert_eq!(s.timestamp, expected, "{at}");
            if !has("none") {
                assert_eq!(s.precision, l.precision, "{at}");
            }
            kinds[match s.frame {
                Frame::Classic(c) if c.raw_dlc().is_some() => 1,
                Frame::Classic(c) if c.id().is_extended() => 2,
                Frame::Classic(_) => 0,
                Frame::Fd(f) if f.flags().brs() => 4,
                Frame::Fd(_) => 3,
                Frame::Remote(_) => 5,
                Frame::Error(_) => 6,
            }] += 1;
            if s.direction == Some(canrelearn::log::Direction::Rx) {
                kinds[7] += 1;
            }
        }
        if has("delta") {
            assert_eq!(screen.relative, RelativeTime::Delta, "{name}");
        } else if has("zero") {
            assert_eq!(screen.relative, RelativeTime::Zero, "{name}");
        }
        // `-e`: the decoded error classes follow each error frame on tab-indented lines.
        let errors = screen.records.iter().filter(|r| r.frame.is_error()).count();
        if has("e") {
            assert!(screen.other.len() >= errors, "{name}: {:?}", screen.other);
            assert!(
                screen
                    .other
                    .iter()
                    .any(|o| o.contains("controller-problem"))
            );
        } else {
            assert!(screen.other.is_empty(), "{name}: {:?}", screen.other);
        }
        assert!(
            screen::sniff(&fs::read(screen_path).unwrap()[..]),
            "{name} sniffed as screen output"
        );
        assert!(
            !candump::sniff(&fs::read(screen_path).unwrap()[..]),
            "{name} not sniffed as a log"
        );
        total += screen.records.len();
        let _ = version;
    }
    // Every kind of frame was seen: classic, raw DLC, extended, FD, FD with BRS, remote,
    // error, received.
    assert!(kinds.iter().all(|&k| k > 0), "{kinds:?}");
    assert!(total > 700, "{total} frames compared");
}

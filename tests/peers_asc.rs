//! Vector ASC against real peers: python-can 4.6.1 (`ASCWriter`, `ASCReader`) and can-utils'
//! `log2asc` / `asc2log`. Each test generates its input at run time:
//!
//! * python-can writes an ASC from a mixed frame set (classic, extended, raw DLC, remote, CAN FD
//!   of every length with BRS/ESI, error frames, two channels, Rx/Tx): we read it frame for frame.
//! * We write an ASC from a mixed record set: python-can's `ASCReader` reads it back frame for
//!   frame (with its known misreadings spelled out).
//! * `log2asc` converts a candump log (plain, `-f` CAN FD lines, `-4` digits, `-r`, `-n` CRLF,
//!   interfaces listed in another order): we read the candump frames back.
//! * `asc2log` converts our ASC: the same candump frames come back.
//!
//! Dates carry no time zone: the peers run with TZ=UTC, and we read dates as UTC.
//! Run: `CANRELEARN_PEER_PYTHON=/opt/peers/bin/python cargo test --features peer-tests --test peers_asc`.

#[path = "common/peer.rs"]
mod peer;

#[path = "common/asc.rs"]
mod asc_common;

use std::path::Path;
use std::process::Command;

use asc_common::{
    PyMsg, assert_read_as_python_wrote, bus_error, mixed_records, py_messages, read_asc, with_fdf,
};
use canrelearn::frame::Frame;
use canrelearn::log::asc::{WriteOptions, Writer};
use canrelearn::log::candump;
use canrelearn::log::{Direction, FrameWriter, OwnedRecord};
use peer::{run_python, s};

const PEER: &str = include_str!("tools/asc_peer.py");

/// Runs a can-utils tool with TZ=UTC (its dates are local time).
fn run_can_utils(program: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(program)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{program}` ({e}): install the Debian package can-utils")
        });
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}):\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write_ours(records: &[OwnedRecord], options: WriteOptions) -> Vec<u8> {
    let mut w = Writer::with_options(Vec::new(), options);
    for r in records {
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    assert!(w.losses().is_empty(), "{:?}", w.losses());
    w.into_inner()
}

fn candump_log(records: &[OwnedRecord]) -> Vec<u8> {
    let mut w = candump::Writer::new(Vec::new());
    for r in records {
        w.write_record(&r.as_record()).unwrap();
    }
    w.into_inner()
}

fn read_candump(bytes: &[u8]) -> Vec<OwnedRecord> {
    let mut r = candump::Reader::new(bytes);
    let mut out = Vec::new();
    while let Some(rec) = r.next_record() {
        out.push(
            rec.expect("asc2log wrote a valid candump log")
                .to_owned_record(),
        );
    }
    out
}

#[test]
fn python_can_writes_asc_we_read_frame_for_frame() {
    let dir = tempfile::tempdir().unwrap();
    let (asc, json) = (dir.path().join("py.asc"), dir.path().join("py.json"));
    run_python(PEER, &["write", s(&asc), s(&json)]);
    let msgs = py_messages(&std::fs::read_to_string(&json).unwrap());
    let (ours, stats) = read_asc(&std::fs::read(&asc).unwrap());
    // python-can writes the trigger block's milliseconds unpadded (`.5` for 5 ms) and its
    // offsets from the first frame's float time: within a microsecond of python-can's times.
    assert_read_as_python_wrote(&ours, &msgs, 1_000);
    assert_eq!(stats.bad, 0);
    assert_eq!(stats.skipped, 0);
    let kinds = |f: fn(&PyMsg) -> bool| msgs.iter().filter(|m| f(m)).count();
    assert!(kinds(|m| m.fd) >= 64 && kinds(|m| m.rtr) >= 8 && kinds(|m| m.err) == 3);
    assert!(kinds(|m| !m.fd && m.dlc > 8) == 7, "raw DLCs");
    assert!(kinds(|m| !m.rx) > 10 && kinds(|m| m.ch == Some(1)) > 10);
    eprintln!(
        "python-can -> ASC -> canrelearn: {} frames compared",
        ours.len()
    );
}

/// What python-can's `ASCReader` gives for one of our records (its misreadings included).
fn check_python_read(r: &OwnedRecord, m: &PyMsg, ctx: &str) {
    let dt = m.t_nanos - i128::from(r.timestamp.as_nanos());
    assert!(dt.abs() <= 1_000, "{ctx}: time off by {dt} ns");
    let ch: i64 = r.interface.trim_start_matches("can").parse().unwrap();
    assert_eq!(m.ch, Some(ch), "{ctx}");
    match r.frame {
        Frame::Error(_) => assert!(m.err, "{ctx}"),
        Frame::Classic(c) => {
            assert!(!m.err && !m.rtr && !m.fd, "{ctx}");
            assert_eq!((m.id, m.ext), (c.id().raw(), c.id().is_extended()), "{ctx}");
            assert_eq!(m.data, c.data(), "{ctx}");
            // python-can reads a raw DLC of 9 to 15 as the CAN FD length it would mean.
            let lens = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];
            assert_eq!(m.dlc, lens[usize::from(c.dlc())], "{ctx}");
        }
        Frame::Remote(rf) => {
            assert!(m.rtr && !m.fd, "{ctx}");
            assert_eq!(
                (m.id, m.ext),
                (rf.id().raw(), rf.id().is_extended()),
                "{ctx}"
            );
            // python-can takes `r <dlc>` only when the DLC is a decimal digit: `r a` to `r f`
            // read as DLC 0.
            let want = if rf.dlc() <= 9 { rf.dlc() } else { 0 };
            assert_eq!(m.dlc, want, "{ctx}");
        }
        Frame::Fd(f) => {
            assert!(m.fd, "{ctx}");
            assert_eq!((m.id, m.ext), (f.id().raw(), f.id().is_extended()), "{ctx}");
            assert_eq!((m.brs, m.esi), (f.flags().brs(), f.flags().esi()), "{ctx}");
            assert_eq!(m.data, f.data(), "{ctx}");
            // python-can reads a CAN FD line with data length 0 as a remote frame.
            assert_eq!(m.rtr, f.data().is_empty(), "{ctx}");
        }
    }
    if !r.frame.is_error() {
        assert_eq!(m.rx, r.direction != Some(Direction::Tx), "{ctx}");
    }
}

#[test]
fn we_write_asc_python_can_reads_frame_for_frame() {
    let dir = tempfile::tempdir().unwrap();
    let records = mixed_records(true);
    for options in [
        WriteOptions::default(),
        WriteOptions {
            start: Some(
                canrelearn::time::Timestamp::from_secs_nanos(1_795_290_004, 987_000_000).unwrap(),
            ),
            ..WriteOptions::default()
        },
    ] {
        let (asc, json) = (dir.path().join("ours.asc"), dir.path().join("back.json"));
        std::fs::write(&asc, write_ours(&records, options)).unwrap();
        run_python(PEER, &["read", s(&asc), s(&json)]);
        let msgs = py_messages(&std::fs::read_to_string(&json).unwrap());
        assert_eq!(msgs.len(), records.len());
        for (i, (r, m)) in records.iter().zip(&msgs).enumerate() {
            check_python_read(r, m, &format!("frame {i}: ours {r:?}, python-can {m:?}"));
        }
        eprintln!(
            "canrelearn -> ASC -> python-can: {} frames compared",
            msgs.len()
        );
    }
}

/// The records can-utils 2020.11 can convert (no raw DLCs), from a candump log.
fn log2asc_case(args: &[&str], expect: impl Fn(&OwnedRecord) -> OwnedRecord) {
    let dir = tempfile::tempdir().unwrap();
    let records = mixed_records(false);
    let (log, asc) = (dir.path().join("in.log"), dir.path().join("out.asc"));
    std::fs::write(&log, candump_log(&records)).unwrap();
    let mut full = vec!["-I", s(&log), "-O", s(&asc)];
    full.extend_from_slice(args);
    run_can_utils("log2asc", &full);
    let (ours, stats) = read_asc(&std::fs::read(&asc).unwrap());
    assert_eq!(stats.bad, 0);
    assert_eq!(ours.len(), records.len(), "log2asc {args:?}");
    for (i, (got, r)) in ours.iter().zip(&records).enumerate() {
        assert_eq!(got, &expect(r), "log2asc {args:?}: frame {i}");
    }
    eprintln!(
        "candump -> log2asc {args:?} -> canrelearn: {} frames compared",
        ours.len()
    );
}

/// What any ASC reader gets back from a candump record: error frames lose their class (ASC
/// has none) and their direction; CAN FD frames are FD (FDF).
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
fn log2asc_writes_asc_we_read_the_candump_frames() {
    // log2asc's date is the first frame's whole second (ctime) and its offsets count from the
    // first frame's exact time: the records start on a whole second, so the times come back.
    log2asc_case(&["can0", "can1"], through_asc);
    log2asc_case(&["-n", "can0", "can1"], through_asc);
    // Classic frames in CANFD lines (flags without FDF; remote frames with flag 0x10). log2asc
    // -f writes error frames as data frames too: the id is the error class (without
    // CAN_ERR_FLAG), the data the error's details, direction Rx. We read what it wrote.
    log2asc_case(&["-f", "can0", "can1"], |r| match r.frame {
        Frame::Error(e) => {
            let id = canrelearn::frame::Id::new(e.class(), false).unwrap();
            let mut r = r.clone();
            r.frame = Frame::classic(id, e.data()).unwrap();
            r.direction = Some(Direction::Rx);
            r
        }
        _ => through_asc(r),
    });
    // Four fraction digits: times cut to 100 us.
    log2asc_case(&["-4", "can0", "can1"], |r| {
        let mut r = through_asc(r);
        let n = r.timestamp.as_nanos();
        r.timestamp = canrelearn::time::Timestamp::from_nanos(n - n % 100_000);
        r
    });
    // `-r`: remote frames without their DLC (pre-8.5 tools).
    log2asc_case(&["-r", "can0", "can1"], |r| {
        let mut r = through_asc(r);
        if let Frame::Remote(rf) = r.frame {
            r.frame = Frame::Remote(canrelearn::frame::RemoteFrame::new(rf.id(), 0).unwrap());
        }
        r
    });
    // log2asc numbers channels by the position of the interface on its command line: listed
    // as `can1 can0`, can1 is channel 1, which reads back as can0.
    log2asc_case(&["can1", "can0"], |r| {
        let mut r = through_asc(r);
        r.interface = if r.interface == "can0" {
            "can1"
        } else {
            "can0"
        }
        .to_string();
        r
    });
}

#[test]
fn asc2log_reads_our_asc_back_into_the_candump_frames() {
    let dir = tempfile::tempdir().unwrap();
    // can-utils 2020.11's asc2log drops classic frames with a raw DLC and misreads `r a`.
    let records = mixed_records(false);
    let (asc, log) = (dir.path().join("ours.asc"), dir.path().join("back.log"));
    std::fs::write(&asc, write_ours(&records, WriteOptions::default())).unwrap();
    run_can_utils("asc2log", &["-I", s(&asc), "-O", s(&log)]);
    let back = read_candump(&std::fs::read(&log).unwrap());
    assert_eq!(back.len(), records.len());
    // asc2log needs the en_US/de_DE locales to read the date; without them it starts from
    // the current time: compare the times from the first frame on, which it keeps.
    let (t0, b0) = (records[0].timestamp, back[0].timestamp);
    for (i, (got, r)) in back.iter().zip(&records).enumerate() {
        let mut want = through_asc(r);
        want.timestamp = got.timestamp;
        let mut got2 = got.clone();
        got2.frame = with_fdf(got.frame);
        assert_eq!(got2, want, "frame {i}");
        assert_eq!(
            got.timestamp.as_nanos() - b0.as_nanos(),
            r.timestamp.as_nanos() - t0.as_nanos(),
            "frame {i}: time from the first frame"
        );
    }
    eprintln!(
        "canrelearn -> ASC -> asc2log: {} frames compared",
        back.len()
    );
}

#[test]
fn python_can_and_log2asc_files_are_sniffed_as_asc() {
    let dir = tempfile::tempdir().unwrap();
    let (asc, json) = (dir.path().join("py.asc"), dir.path().join("py.json"));
    run_python(PEER, &["write", s(&asc), s(&json), "--small"]);
    assert!(canrelearn::log::asc::sniff(&std::fs::read(&asc).unwrap()));
    let (log, asc2) = (dir.path().join("in.log"), dir.path().join("l.asc"));
    std::fs::write(&log, candump_log(&mixed_records(false)[..4])).unwrap();
    run_can_utils("log2asc", &["-I", s(&log), "-O", s(&asc2), "can0", "can1"]);
    let head = std::fs::read(&asc2).unwrap();
    assert!(canrelearn::log::asc::sniff(&head));
    assert!(!canrelearn::log::candump::sniff(&head));
    assert!(Path::new(&asc2).exists());
}

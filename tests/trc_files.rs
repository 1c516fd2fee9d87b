//! The TRC fixtures made by python-can (tests/data/formats/trc/README.md) read frame for frame
//! against their frame list, so that `cargo test` checks real peer output without the peer.

use std::path::PathBuf;

use canrelearn::log::trc::Reader;
use canrelearn::log::{Direction, FrameReader, Item, OwnedRecord};
use canrelearn::{Frame, Id};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats/trc")
        .join(name)
}

/// (microseconds, interface, direction, frame) of the frame list.
fn expected() -> Vec<(u64, String, Direction, Frame)> {
    std::fs::read_to_string(fixture("frames.txt"))
        .unwrap()
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (secs, frac) = f[0].split_once('.').unwrap();
            let us = secs.parse::<u64>().unwrap() * 1_000_000 + frac.parse::<u64>().unwrap();
            let raw = u32::from_str_radix(f[3], 16).unwrap();
            let id = Id::new(raw, f[3].len() > 3).unwrap();
            let data = if f[4] == "-" {
                Vec::new()
            } else {
                hex::decode(f[4]).unwrap()
            };
            let direction = if f[2] == "Rx" {
                Direction::Rx
            } else {
                Direction::Tx
            };
            (
                us,
                format!("can{}", f[1]),
                direction,
                Frame::classic(id, &data).unwrap(),
            )
        })
        .collect()
}

fn read(name: &str) -> Vec<OwnedRecord> {
    let bytes = std::fs::read(fixture(name)).unwrap();
    assert!(canrelearn::log::trc::sniff(&bytes), "{name}");
    let mut r = Reader::new(&bytes[..]).with_source_name(name);
    let mut out = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Record(rec) => out.push(rec.to_owned_record()),
            Item::Other(_) => {}
            other => panic!("{name}: {other:?}"),
        }
    }
    out
}

#[test]
fn test_python_can_2_1_reads_frame_for_frame() {
    let want = expected();
    let got = read("python-can-2.1.trc");
    assert_eq!(got.len(), want.len());
    for (g, (us, iface, dir, frame)) in got.iter().zip(&want) {
        assert_eq!(g.frame, *frame);
        assert_eq!(&g.interface, iface);
        assert_eq!(g.direction, Some(*dir));
        // python-can's $STARTTIME is a float of days (about 1 µs of rounding at 2023 dates).
        let err = (g.timestamp.as_nanos() / 1000).abs_diff(*us);
        assert!(err <= 10, "{err} µs");
    }
}

#[test]
fn test_python_can_1_0_reads_frame_for_frame() {
    let want = expected();
    let got = read("python-can-1.0.trc");
    assert_eq!(got.len(), want.len());
    let first = want[0].0;
    for (g, (us, _, _, frame)) in got.iter().zip(&want) {
        assert_eq!(g.frame, *frame);
        assert_eq!(g.interface, "can0");
        assert_eq!(g.direction, None);
        // No start time: milliseconds from the first message, rounded by python-can.
        let ms = g.timestamp.as_nanos() / 1_000_000;
        assert!(ms.abs_diff((us - first) / 1000) <= 1);
    }
}

#[test]
fn test_our_2_1_fixture_holds_fd_remote_and_error_lines() {
    let got = read("canrelearn-2.1.trc");
    assert_eq!(got.len(), 7);
    let kinds: Vec<&str> = got
        .iter()
        .map(|r| match r.frame {
            Frame::Classic(_) => "classic",
            Frame::Fd(_) => "fd",
            Frame::Remote(_) => "remote",
            Frame::Error(_) => "error",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "classic", "classic", "remote", "fd", "error", "fd", "remote"
        ]
    );
    assert_eq!(got[0].timestamp.as_nanos(), 1_700_000_000_000_000_000);
}

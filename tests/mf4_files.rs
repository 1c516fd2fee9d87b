//! The MF4 fixtures made by real peers (tests/data/formats/mf4/README.md: python-can's
//! MF4Writer and asammdf) read frame for frame against their frame list, so that `cargo test`
//! checks real peer output without the peers installed.

use std::path::PathBuf;

use canrelearn::frame::{ErrorFrame, FdFlags, FdFrame, Frame, Id, RemoteFrame};
use canrelearn::log::mf4::{self, Reader};
use canrelearn::log::{Direction, Format, FrameReader, Item};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats/mf4")
        .join(name)
}

/// (microseconds, interface, direction, frame) of the frame list.
fn expected() -> Vec<(u64, String, Direction, Frame)> {
    let text = std::fs::read_to_string(fixture("frames.txt")).unwrap();
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (secs, frac) = f[0].split_once('.').unwrap();
            let us = secs.parse::<u64>().unwrap() * 1_000_000 + frac.parse::<u64>().unwrap();
            let raw = u32::from_str_radix(f[4], 16).unwrap();
            let id = Id::new(raw, f[5] == "1").unwrap();
            let len: u8 = f[6].parse().unwrap();
            let flags: u8 = f[7].parse().unwrap();
            let data = if f[8] == "-" {
                Vec::new()
            } else {
                hex::decode(f[8]).unwrap()
            };
            let frame = match f[3] {
                "C" => Frame::classic(id, &data).unwrap(),
                "R" => Frame::Remote(RemoteFrame::new(id, len).unwrap()),
                "F" => Frame::Fd(
                    FdFrame::new(id, &data, FdFlags::from_bits(flags | FdFlags::FDF).unwrap())
                        .unwrap(),
                ),
                "E" => Frame::Error(ErrorFrame::new(raw, data.try_into().unwrap()).unwrap()),
                other => panic!("kind {other}"),
            };
            let dir = if f[2] == "T" {
                Direction::Tx
            } else {
                Direction::Rx
            };
            (us, f[1].to_owned(), dir, frame)
        })
        .collect()
}

fn check(name: &str) {
    let file = std::fs::File::open(fixture(name)).unwrap();
    let mut r = Reader::new(std::io::BufReader::new(file)).with_source_name(name);
    let mut got = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Record(rec) => got.push((
                // python-can keeps float seconds relative to its start time.
                (rec.timestamp.as_nanos() + 500) / 1000,
                rec.interface.to_owned(),
                rec.direction.unwrap(),
                rec.frame,
            )),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(got, expected(), "{name}");
    assert_eq!(FrameReader::format(&r), Format::Mf4);
    assert_eq!(FrameReader::stats(&r).records, 17);
}

#[test]
fn test_python_can_mf4_reads_frame_for_frame() {
    check("python-can.mf4");
}

#[test]
fn test_python_can_transposed_dz_reads_frame_for_frame() {
    check("python-can-transposed.mf4");
}

#[test]
fn test_asammdf_deflated_dz_reads_frame_for_frame() {
    check("asammdf-deflate.mf4");
}

#[test]
fn test_sniff_claims_only_mf4() {
    for name in [
        "python-can.mf4",
        "python-can-transposed.mf4",
        "asammdf-deflate.mf4",
    ] {
        assert!(mf4::sniff(&std::fs::read(fixture(name)).unwrap()), "{name}");
    }
    for other in ["scapy.pcapng", "text2pcap.pcap"] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/formats/pcap")
            .join(other);
        assert!(!mf4::sniff(&std::fs::read(path).unwrap()), "{other}");
    }
    assert!(!canrelearn::log::pcap::sniff(
        &std::fs::read(fixture("python-can.mf4")).unwrap()
    ));
}

/// A fuzz input whose CAN group has 0-byte records once yielded malformed records without
/// end (CI's fuzz run timed out); the reader ends it.
#[test]
fn test_zero_byte_records_end() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/mf4_reader-hang.bin");
    let bytes = std::fs::read(path).unwrap();
    let mut r = Reader::new(std::io::Cursor::new(bytes));
    let mut items = 0u64;
    while let Ok(Some(_)) = r.read_item() {
        items += 1;
        assert!(items < 10_000, "the reader does not end");
    }
}

/// A fuzz input whose LIN group (8 KiB of file) claims 2^26 records once made the reader skip
/// them one by one for seconds; a group is skipped for no more records than its data holds.
#[test]
fn test_skipped_groups_hold_no_more_records_than_their_data() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/mf4_reader-slow.bin");
    let bytes = std::fs::read(path).unwrap();
    let mut r = Reader::new(std::io::Cursor::new(bytes));
    let mut items = 0u64;
    while let Ok(Some(_)) = r.read_item() {
        items += 1;
        assert!(
            items < 10_000,
            "the reader skips more records than the file holds"
        );
    }
    assert!(r.stats().skipped > 0, "the input's LIN group is reported");
}

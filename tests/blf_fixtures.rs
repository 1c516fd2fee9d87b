//! The BLF reader over files python-can wrote (`tests/data/formats/blf/`, made by
//! `tests/tools/make_blf_fixtures.py`): every frame kind, two channels, both directions, zlib
//! and uncompressed containers with objects split across them. Runs without Python.

use std::io::BufReader;
use std::path::PathBuf;

use canrelearn::log::candump;
use canrelearn::log::{FrameReader, Item, OwnedRecord, blf};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats/blf")
        .join(name)
}

fn expected() -> Vec<OwnedRecord> {
    let text = std::fs::read(fixture("python-can-mixed.log")).unwrap();
    let mut r = candump::Reader::new(text.as_slice()).with_policy(candump::Policy::Strict);
    let mut out = Vec::new();
    while let Some(rec) = r.next_record() {
        out.push(rec.unwrap().to_owned_record());
    }
    out
}

fn read_blf(name: &str) -> Vec<OwnedRecord> {
    let file = std::fs::File::open(fixture(name)).unwrap();
    let mut r = blf::Reader::new(BufReader::new(file)).with_source_name(name);
    let mut out = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Record(rec) => out.push(rec.to_owned_record()),
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
    let stats = r.stats();
    assert_eq!((stats.bad, stats.skipped, stats.other), (0, 0, 0), "{name}");
    out
}

#[test]
fn test_python_can_blf_files_read_frame_for_frame() {
    let expected = expected();
    assert_eq!(expected.len(), 200);
    for name in ["python-can-mixed.blf", "python-can-mixed-raw.blf"] {
        let got = read_blf(name);
        assert_eq!(got.len(), expected.len(), "{name}");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, e, "{name}: message {i}");
        }
    }
}

#[test]
fn test_python_can_blf_files_are_sniffed() {
    for name in ["python-can-mixed.blf", "python-can-mixed-raw.blf"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        assert!(blf::sniff(&bytes[..bytes.len().min(4096)]), "{name}");
        assert!(!candump::sniff(&bytes), "{name}");
    }
    let log = std::fs::read(fixture("python-can-mixed.log")).unwrap();
    assert!(!blf::sniff(&log));
}

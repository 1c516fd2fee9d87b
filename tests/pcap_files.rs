//! The pcap/pcapng fixtures made by real peers (tests/data/formats/pcap/README.md: Scapy's
//! PcapNgWriter, Wireshark's text2pcap) read frame for frame against their frame list, so
//! that `cargo test` checks real peer output without the peers installed.

use std::path::PathBuf;

use canrelearn::frame::{ClassicFrame, ErrorFrame, FdFlags, FdFrame, Frame, Id, RemoteFrame};
use canrelearn::log::pcap::{self, Reader};
use canrelearn::log::{Direction, Format, FrameReader, Item, OwnedRecord, Precision};
use canrelearn::time::Timestamp;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats/pcap")
        .join(name)
}

/// The frame list (tests/tools/pcap_peer.py's line format).
fn expected() -> Vec<OwnedRecord> {
    let text = std::fs::read_to_string(fixture("frames.txt")).unwrap();
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (secs, frac) = f[0].split_once('.').unwrap();
            let timestamp = Timestamp::from_secs_nanos(
                secs.parse().unwrap(),
                frac.parse::<u32>().unwrap() * 1000,
            )
            .unwrap();
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
                "C" if flags != 0 => Frame::Classic(
                    ClassicFrame::with_raw_dlc(id, data.try_into().unwrap(), flags).unwrap(),
                ),
                "C" => Frame::classic(id, &data).unwrap(),
                "R" => Frame::Remote(RemoteFrame::new(id, len).unwrap()),
                "F" => {
                    Frame::Fd(FdFrame::new(id, &data, FdFlags::from_bits(flags).unwrap()).unwrap())
                }
                "E" => Frame::Error(ErrorFrame::new(raw, data.try_into().unwrap()).unwrap()),
                other => panic!("kind {other}"),
            };
            OwnedRecord {
                timestamp,
                precision: Precision::Micros,
                interface: f[1].to_owned(),
                frame,
                direction: match f[2] {
                    "R" => Some(Direction::Rx),
                    "T" => Some(Direction::Tx),
                    _ => None,
                },
            }
        })
        .collect()
}

fn read(name: &str) -> (Vec<OwnedRecord>, Format) {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let mut r = Reader::new(bytes.as_slice()).with_source_name(name);
    let mut out = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Record(rec) => out.push(rec.to_owned_record()),
            Item::Other(_) => {}
            other => panic!("{name}: {other:?}"),
        }
    }
    let s = FrameReader::stats(&r);
    assert_eq!((s.bad, s.skipped), (0, 0));
    (out, FrameReader::format(&r))
}

#[test]
fn test_scapy_pcapng_reads_frame_for_frame() {
    let (got, format) = read("scapy.pcapng");
    assert_eq!(format, Format::Pcapng);
    assert_eq!(got, expected());
}

#[test]
fn test_text2pcap_pcapng_reads_frame_for_frame() {
    let (got, format) = read("text2pcap.pcapng");
    assert_eq!(format, Format::Pcapng);
    let want: Vec<_> = expected()
        .into_iter()
        .map(|r| OwnedRecord {
            timestamp: Timestamp::from_nanos(r.timestamp.as_nanos() + 123),
            precision: Precision::Nanos,
            interface: "vcan7".into(),
            direction: Some(r.direction.unwrap_or(Direction::Rx)),
            // text2pcap was given Linux's bytes: CAN FD with CANFD_FDF.
            frame: r.frame,
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn test_text2pcap_classic_pcap_reads_frame_for_frame() {
    let (got, format) = read("text2pcap.pcap");
    assert_eq!(format, Format::Pcap);
    let want: Vec<_> = expected()
        .into_iter()
        .map(|r| OwnedRecord {
            interface: "can0".into(),
            direction: None,
            ..r
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn test_sniffers_tell_the_containers_apart() {
    for (name, format) in [
        ("scapy.pcapng", Format::Pcapng),
        ("text2pcap.pcapng", Format::Pcapng),
        ("text2pcap.pcap", Format::Pcap),
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        assert_eq!(pcap::sniff_format(&bytes), Some(format), "{name}");
    }
    assert!(!pcap::sniff(b"(1700000000.000000) can0 123#11\n"));
}

//! MF4 against real peers: python-can's MF4Writer (through asammdf) writes a mixed frame set
//! (classic, extended, CAN FD up to 64 bytes with BRS/ESI, remote, error frames, two buses,
//! both directions) uncompressed, deflated and transposed+deflated, and asammdf re-saves
//! python-can files with DZ compression 1 and 2 (data lists and header lists): we read every
//! one frame for frame, and agree with python-can's MF4Reader on the same files.
//!
//! Run: `CANRELEARN_PEER_PYTHON=/opt/peers/bin/python cargo test --features peer-tests --test
//! peers_mf4` (python-can 4.6.1 and asammdf 8.8 in the peer Python).

#[path = "common/peer.rs"]
mod peer;

use std::path::Path;

use canrelearn::frame::{ErrorFrame, FdFlags, FdFrame, Frame, Id, RemoteFrame};
use canrelearn::log::mf4::Reader;
use canrelearn::log::{Direction, Item, OwnedRecord, Precision};
use canrelearn::time::Timestamp;

const SCRIPT: &str = include_str!("tools/mf4_peer.py");

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

fn xid(raw: u32) -> Id {
    Id::extended(raw).unwrap()
}

/// Every frame kind python-can's MF4Writer carries, on `can0` and `can1`, both directions,
/// 1/64 s apart.
fn mixed() -> Vec<OwnedRecord> {
    let mut frames = Vec::new();
    for len in 0..=8u8 {
        let data: Vec<u8> = (0..len).map(|i| 0x10 * len + i).collect();
        frames.push(Frame::classic(sid(0x100 + u16::from(len)), &data).unwrap());
        frames.push(Frame::classic(xid(0x18DA_F100 + u32::from(len)), &data).unwrap());
    }
    for len in [0u8, 4, 8] {
        frames.push(Frame::Remote(RemoteFrame::new(sid(0x321), len).unwrap()));
        frames.push(Frame::Remote(
            RemoteFrame::new(xid(0x1234_5678), len).unwrap(),
        ));
    }
    for (i, len) in [0usize, 1, 8, 12, 16, 20, 24, 32, 48, 64]
        .into_iter()
        .enumerate()
    {
        let data: Vec<u8> = (0..len).map(|b| (b * 3 + i) as u8).collect();
        let flags = FdFlags::from_bits(FdFlags::FDF | (i as u8 % 4)).unwrap();
        let id = if i % 2 == 0 {
            sid(0x456)
        } else {
            xid(0x1ABC_DEF0)
        };
        frames.push(Frame::Fd(FdFrame::new(id, &data, flags).unwrap()));
    }
    frames.push(Frame::Error(
        ErrorFrame::new(0x44, [0, 0x04, 0, 0, 0, 0xAA, 0xBB, 0xCC]).unwrap(),
    ));
    frames.push(Frame::Error(ErrorFrame::new(0x80, [0; 8]).unwrap()));
    frames
        .into_iter()
        .enumerate()
        .map(|(i, frame)| OwnedRecord {
            timestamp: Timestamp::from_nanos(1_700_000_000_000_000_000 + i as u64 * 15_625_000),
            precision: Precision::Nanos,
            interface: ["can0", "can1"][i % 2].to_owned(),
            frame,
            direction: [
                Some(Direction::Rx),
                Some(Direction::Tx),
                Some(Direction::Rx),
            ][i % 3],
        })
        .collect()
}

fn hex(data: &[u8]) -> String {
    if data.is_empty() {
        "-".into()
    } else {
        data.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The frames in the line format of tests/tools/mf4_peer.py.
fn lines(records: &[OwnedRecord]) -> String {
    let mut s = String::new();
    for r in records {
        let t = r.timestamp;
        let secs = format!("{}.{:06}", t.secs(), t.subsec_micros());
        let dir = if r.direction == Some(Direction::Tx) {
            "T"
        } else {
            "R"
        };
        let line = match r.frame {
            Frame::Classic(c) => format!(
                "C {:X} {} {} 0 {}",
                c.id().raw(),
                u8::from(c.id().is_extended()),
                c.data().len(),
                hex(c.data())
            ),
            Frame::Remote(rf) => format!(
                "R {:X} {} {} 0 -",
                rf.id().raw(),
                u8::from(rf.id().is_extended()),
                rf.len()
            ),
            Frame::Fd(f) => format!(
                "F {:X} {} {} {} {}",
                f.id().raw(),
                u8::from(f.id().is_extended()),
                f.data().len(),
                f.flags().bits() & 3,
                hex(f.data())
            ),
            Frame::Error(e) => format!("E {:X} 0 8 0 {}", e.class(), hex(e.data())),
        };
        s.push_str(&format!("{secs} {} {dir} {line}\n", r.interface));
    }
    s
}

fn read(path: &Path) -> Vec<OwnedRecord> {
    let f = std::fs::File::open(path).unwrap();
    let mut r = Reader::new(std::io::BufReader::new(f));
    let mut out = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Record(rec) => out.push(rec.to_owned_record()),
            other => panic!("{}: {other:?}", path.display()),
        }
    }
    out
}

/// Microseconds, rounded: python-can keeps float seconds relative to `datetime.now()`.
fn micros(t: Timestamp) -> u64 {
    (t.as_nanos() + 500) / 1000
}

fn write_python_can(dir: &Path, records: &[OwnedRecord], compression: u8) -> std::path::PathBuf {
    let frames = dir.join("frames.txt");
    std::fs::write(&frames, lines(records)).unwrap();
    let out = dir.join(format!("python-can-{compression}.mf4"));
    peer::run_python(
        SCRIPT,
        &[
            "write",
            peer::s(&frames),
            peer::s(&out),
            &compression.to_string(),
        ],
    );
    out
}

fn assert_same(got: &[OwnedRecord], want: &[OwnedRecord]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.frame, w.frame, "{g:?}");
        assert_eq!(g.interface, w.interface, "{g:?}");
        assert_eq!(g.direction, w.direction, "{g:?}");
        assert_eq!(micros(g.timestamp), micros(w.timestamp), "{g:?}");
    }
}

#[test]
fn we_read_python_can_mf4_frame_for_frame() {
    let dir = tempfile::tempdir().unwrap();
    let records = mixed();
    for compression in [0u8, 1, 2] {
        let path = write_python_can(dir.path(), &records, compression);
        assert_same(&read(&path), &records);
    }
}

/// python-can's MF4Reader output, parsed: (µs, channel, rx, kind, id, extended, dlc, brs,
/// esi, data).
type PyFrame = (u64, String, bool, char, u32, bool, u8, bool, bool, Vec<u8>);

fn python_can_read(path: &Path) -> Vec<PyFrame> {
    let out = peer::run_python(SCRIPT, &["read", peer::s(path)]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (s, us) = f[0].split_once('.').unwrap();
            (
                s.parse::<u64>().unwrap() * 1_000_000 + us.parse::<u64>().unwrap(),
                f[1].to_owned(),
                f[2] == "1",
                f[3].chars().next().unwrap(),
                u32::from_str_radix(f[4], 16).unwrap(),
                f[5] == "1",
                f[6].parse().unwrap(),
                f[7] == "1",
                f[8] == "1",
                if f[9] == "-" {
                    Vec::new()
                } else {
                    (0..f[9].len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&f[9][i..i + 2], 16).unwrap())
                        .collect()
                },
            )
        })
        .collect()
}

/// What python-can's MF4Reader reports for one of our records.
fn as_python_can(r: &OwnedRecord, zero_based: bool) -> PyFrame {
    let channel = {
        let n: u32 = r.interface.trim_start_matches("can").parse().unwrap();
        (if zero_based { n } else { n + 1 }).to_string()
    };
    let rx = r.direction != Some(Direction::Tx);
    let us = micros(r.timestamp);
    match r.frame {
        Frame::Classic(c) => (
            us,
            channel,
            rx,
            'C',
            c.id().raw(),
            c.id().is_extended(),
            c.data().len() as u8,
            false,
            false,
            c.data().to_vec(),
        ),
        Frame::Remote(f) => (
            us,
            channel,
            rx,
            'R',
            f.id().raw(),
            f.id().is_extended(),
            f.dlc(),
            false,
            false,
            Vec::new(),
        ),
        Frame::Fd(f) => (
            us,
            channel,
            rx,
            'F',
            f.id().raw(),
            f.id().is_extended(),
            f.data().len() as u8,
            f.flags().brs(),
            f.flags().esi(),
            f.data().to_vec(),
        ),
        Frame::Error(e) => (
            us,
            channel,
            rx,
            'E',
            e.class(),
            false,
            8,
            false,
            false,
            e.data().to_vec(),
        ),
    }
}

#[test]
fn we_read_asammdf_resaved_files_with_dz_compression_as_python_can_does() {
    let dir = tempfile::tempdir().unwrap();
    // Enough records for data lists of several blocks (asammdf splits at 4 MiB).
    let mut records = mixed();
    let base = records.clone();
    for k in 1..1200u64 {
        for r in &base {
            let mut r = r.clone();
            r.timestamp = Timestamp::from_nanos(r.timestamp.as_nanos() + k * 1_000_000_000);
            records.push(r);
        }
    }
    let original = write_python_can(dir.path(), &records, 0);
    for compression in [1u8, 2] {
        let out = dir.path().join(format!("asammdf-{compression}.mf4"));
        peer::run_python(
            SCRIPT,
            &[
                "resave",
                peer::s(&original),
                peer::s(&out),
                &compression.to_string(),
            ],
        );
        let bytes = std::fs::read(&out).unwrap();
        assert!(
            bytes.windows(4).any(|w| w == b"##DZ"),
            "asammdf wrote DZ blocks"
        );
        let got = read(&out);
        assert_same(&got, &records);
        let py = python_can_read(&out);
        assert_eq!(py.len(), got.len());
        for (p, g) in py.iter().zip(&got) {
            assert_eq!(*p, as_python_can(g, true), "{g:?}");
        }
    }
}

/// The mixed set plus what python-can cannot write: raw DLCs (classic and remote), a third
/// bus, frames without a direction.
fn ours() -> Vec<OwnedRecord> {
    use canrelearn::frame::ClassicFrame;
    let mut records = mixed();
    let extra = [
        Frame::Classic(ClassicFrame::with_raw_dlc(sid(0x7FF), [0xA5; 8], 0xB).unwrap()),
        Frame::Remote(RemoteFrame::with_raw_dlc(xid(0x1FFF_FFFF), 0xF).unwrap()),
        Frame::classic(sid(0x7E8), &[2, 0x50, 3]).unwrap(),
    ];
    let last = records.last().unwrap().timestamp.as_nanos();
    for (i, frame) in extra.into_iter().enumerate() {
        records.push(OwnedRecord {
            timestamp: Timestamp::from_nanos(last + (i as u64 + 1) * 1_000_123),
            precision: Precision::Nanos,
            interface: "can2".into(),
            frame,
            direction: None,
        });
    }
    records
}

fn write_ours(path: &Path, records: &[OwnedRecord]) {
    use canrelearn::log::FrameWriter;
    let f = std::fs::File::create(path).unwrap();
    let mut w = canrelearn::log::mf4::Writer::new(std::io::BufWriter::new(f));
    for r in records {
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    let losses: Vec<_> = w.losses().iter().map(|l| (l.what, l.count)).collect();
    assert_eq!(losses.len(), 1, "only the unknown directions: {losses:?}");
    assert_eq!(losses[0].1, 3);
}

#[test]
fn python_can_and_asammdf_read_our_mf4_frame_for_frame() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.mf4");
    let records = ours();
    write_ours(&path, &records);

    // We read it back exactly (unknown directions were written as Rx).
    let back = read(&path);
    let want: Vec<_> = records
        .iter()
        .map(|r| OwnedRecord {
            direction: Some(r.direction.unwrap_or(Direction::Rx)),
            ..r.clone()
        })
        .collect();
    assert_eq!(back, want);

    // python-can's MF4Reader: the same frames, channels 1-based as MDF numbers buses.
    let py = python_can_read(&path);
    assert_eq!(py.len(), want.len());
    for (p, r) in py.iter().zip(&want) {
        assert_eq!(*p, as_python_can(r, false), "{r:?}");
    }

    // asammdf: every channel of every record.
    let out = peer::run_python(SCRIPT, &["raw", peer::s(&path)]);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut by_kind: std::collections::HashMap<
        &str,
        Vec<std::collections::HashMap<String, String>>,
    > = Default::default();
    for line in text.lines() {
        let mut fields = std::collections::HashMap::new();
        let mut prefix = "";
        for kv in line.split_whitespace().skip(2) {
            let (k, v) = kv.split_once('=').unwrap();
            let (p, name) = k.split_once('.').unwrap();
            prefix = match p {
                "CAN_DataFrame" => "data",
                "CAN_ErrorFrame" => "error",
                "CAN_RemoteFrame" => "remote",
                other => panic!("{other}"),
            };
            fields.insert(name.to_owned(), v.to_owned());
        }
        let ts = line.split_whitespace().nth(1).unwrap().to_owned();
        fields.insert("time".into(), ts);
        by_kind.entry(prefix).or_default().push(fields);
    }
    let mut next: std::collections::HashMap<&str, usize> = Default::default();
    for r in &want {
        let kind = match r.frame {
            Frame::Classic(_) | Frame::Fd(_) => "data",
            Frame::Error(_) => "error",
            Frame::Remote(_) => "remote",
        };
        let i = next.entry(kind).or_default();
        let f = &by_kind[kind][*i];
        *i += 1;
        let t = r.timestamp;
        assert_eq!(
            f["time"],
            format!("{}.{:06}", t.secs(), micros(t) % 1_000_000),
            "{r:?}"
        );
        let bus: u32 = r.interface.trim_start_matches("can").parse().unwrap();
        assert_eq!(f["BusChannel"], (bus + 1).to_string(), "{r:?}");
        let dir = if r.direction == Some(Direction::Tx) {
            "1"
        } else {
            "0"
        };
        assert_eq!(f["Dir"], dir, "{r:?}");
        let (id, ide, dlc, len, data, edl, brs, esi) = match r.frame {
            Frame::Classic(c) => (
                c.id().raw(),
                c.id().is_extended(),
                c.dlc(),
                c.data().len(),
                c.data().to_vec(),
                false,
                false,
                false,
            ),
            Frame::Fd(c) => (
                c.id().raw(),
                c.id().is_extended(),
                c.dlc(),
                c.data().len(),
                c.data().to_vec(),
                true,
                c.flags().brs(),
                c.flags().esi(),
            ),
            Frame::Error(e) => (
                e.class(),
                false,
                8,
                8,
                e.data().to_vec(),
                false,
                false,
                false,
            ),
            Frame::Remote(rf) => (
                rf.id().raw(),
                rf.id().is_extended(),
                rf.dlc(),
                0,
                Vec::new(),
                false,
                false,
                false,
            ),
        };
        assert_eq!(f["ID"], id.to_string(), "{r:?}");
        assert_eq!(f["IDE"], u8::from(ide).to_string(), "{r:?}");
        assert_eq!(f["DLC"], dlc.to_string(), "{r:?}");
        assert_eq!(f["DataLength"], len.to_string(), "{r:?}");
        if kind != "remote" {
            let bytes = &f["DataBytes"];
            assert_eq!(
                &bytes[..2 * len],
                hex(&data).trim_start_matches('-'),
                "{r:?}"
            );
            assert_eq!(f["EDL"], u8::from(edl).to_string(), "{r:?}");
            assert_eq!(f["BRS"], u8::from(brs).to_string(), "{r:?}");
            assert_eq!(f["ESI"], u8::from(esi).to_string(), "{r:?}");
        }
    }
}

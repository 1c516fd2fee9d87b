//! python-can's TRC against ours, both ways, frame for frame (python-can 4.6.1 as the peer).
//!
//! 1. python-can's `TRCWriter` writes classic frames (standard and extended ids, 0 to 8 bytes,
//!    both directions, two channels) as version 2.1 and as version 1.0; our reader reads them
//!    frame for frame, with times to the microsecond (2.1: python-can's `$STARTTIME` is a float
//!    of days, so its own start time is only as exact as that float: compared to 10 µs).
//!    python-can's writer refuses remote, CAN FD and error frames (it logs a warning and
//!    drops them); ours writes them.
//! 2. Our writer writes classic, remote and CAN FD frames with BRS/ESI; python-can's
//!    `TRCReader` reads every one back with the same id, data, flags, direction and channel.
//!    (python-can takes the `L` column of a CAN FD line for a length in bytes where PEAK's
//!    format says it is the DLC: its `dlc` is the code, its data are right. And it reads `FE`,
//!    CAN FD with the error state indicator, as BRS + ESI, and `BI`, both flags, as ESI alone;
//!    PEAK's description and other writers give FB = BRS, FE = ESI, BI = both, as we do: the
//!    comparison expects python-can's reading of those two types.)

#[path = "common/peer.rs"]
mod peer;

use std::fs;
use std::io::BufReader;

use canrelearn::frame::{FD_LENGTHS, FdFlags, FdFrame, RemoteFrame};
use canrelearn::log::{Direction, FrameReader, FrameWriter, Item, OwnedRecord, Precision, trc};
use canrelearn::{Frame, Id, Timestamp};

fn classic_set() -> Vec<OwnedRecord> {
    let sid = |r: u16| Id::standard(r).unwrap();
    let xid = |r: u32| Id::extended(r).unwrap();
    let mut out = Vec::new();
    for n in 0..=8u8 {
        let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ n).collect();
        out.push(Frame::classic(sid(0x100 + u16::from(n)), &data).unwrap());
        out.push(Frame::classic(xid(0x18DA_F100 + u32::from(n)), &data).unwrap());
    }
    out.iter()
        .enumerate()
        .map(|(i, f)| OwnedRecord {
            timestamp: Timestamp::from_nanos(1_700_000_000_000_000_000 + i as u64 * 1_234_567_000),
            precision: Precision::Micros,
            interface: format!("can{}", i % 2),
            frame: *f,
            direction: Some(if i % 3 == 0 {
                Direction::Tx
            } else {
                Direction::Rx
            }),
        })
        .collect()
}

const WRITE_PY: &str = r#"
import sys, can
from can.io.trc import TRCFileVersion
src, out, version = sys.argv[1], sys.argv[2], sys.argv[3]
with can.TRCWriter(out) as w:
    if version == "1.0":
        w.file_version = TRCFileVersion.V1_0
    for line in open(src):
        ts, i, ext, ch, rx, data = line.split()
        w.on_message_received(can.Message(
            timestamp=float(ts), arbitration_id=int(i, 16), is_extended_id=ext == "1",
            channel=int(ch), is_rx=rx == "1",
            data=b"" if data == "-" else bytes.fromhex(data)))
"#;

fn describe(r: &OwnedRecord) -> String {
    let Frame::Classic(c) = r.frame else {
        panic!("classic only")
    };
    let data = if c.data().is_empty() {
        "-".to_string()
    } else {
        hex::encode(c.data())
    };
    format!(
        "{}.{:06} {:x} {} {} {} {data}\n",
        r.timestamp.secs(),
        r.timestamp.subsec_micros(),
        c.id().raw(),
        u8::from(c.id().is_extended()),
        &r.interface[3..],
        u8::from(r.direction == Some(Direction::Rx)),
    )
}

fn read_ours(path: &std::path::Path) -> (Vec<OwnedRecord>, (u8, u8)) {
    let bytes = fs::read(path).unwrap();
    assert!(trc::sniff(&bytes), "{}", String::from_utf8_lossy(&bytes));
    let mut r = trc::Reader::new(BufReader::new(&bytes[..]));
    let mut got = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Record(rec) => got.push(rec.to_owned_record()),
            Item::Other(_) => {}
            other => panic!("{other:?}"),
        }
    }
    (got, r.version())
}

#[test]
fn python_can_writes_2_1_and_1_0_we_read() {
    let dir = tempfile::tempdir().unwrap();
    let set = classic_set();
    let src = dir.path().join("messages.txt");
    fs::write(&src, set.iter().map(describe).collect::<String>()).unwrap();
    for version in ["2.1", "1.0"] {
        let out = dir.path().join(format!("python-can-{version}.trc"));
        peer::run_python(WRITE_PY, &[peer::s(&src), peer::s(&out), version]);
        let (got, v) = read_ours(&out);
        assert_eq!(got.len(), set.len(), "{version}");
        let first = set[0].timestamp.as_nanos();
        for (rec, want) in got.iter().zip(&set) {
            assert_eq!(rec.frame, want.frame, "{version}");
            if version == "2.1" {
                assert_eq!(v, (2, 1));
                // python-can numbers channels from 0 and writes channel + 1: bus 1 is can0.
                assert_eq!(rec.interface, want.interface);
                assert_eq!(rec.direction, want.direction);
                let err = rec.timestamp.as_nanos().abs_diff(want.timestamp.as_nanos());
                assert!(err <= 10_000, "{version}: {err} ns off");
            } else {
                assert_eq!(v, (1, 0));
                // 1.0 has neither start time, channel nor direction; whole milliseconds.
                let offset = want.timestamp.as_nanos() - first;
                let got_ms = rec.timestamp.as_nanos() / 1_000_000;
                assert!(got_ms.abs_diff(offset / 1_000_000) <= 1, "{version}");
                assert_eq!(rec.interface, "can0");
            }
        }
        eprintln!(
            "python-can TRC {version} -> canrelearn: {} frames compared",
            got.len()
        );
    }
}

const READ_PY: &str = r#"
import sys, can
for m in can.TRCReader(sys.argv[1]):
    print(f"{m.timestamp:.6f}", format(m.arbitration_id, "x"), int(m.is_extended_id),
          int(m.is_remote_frame), int(m.is_fd), int(m.bitrate_switch),
          int(m.error_state_indicator), m.channel, int(m.is_rx), bytes(m.data).hex() or "-")
"#;

#[test]
fn we_write_python_can_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut set = classic_set();
    let sid = |r: u16| Id::standard(r).unwrap();
    for (i, &len) in FD_LENGTHS.iter().enumerate() {
        let data: Vec<u8> = (0..len).map(|j| j.wrapping_mul(13)).collect();
        let flags = FdFlags::from_bits(FdFlags::FDF | (i as u8 % 4)).unwrap();
        set.push(OwnedRecord {
            timestamp: Timestamp::from_nanos(1_700_000_100_000_000_000 + i as u64 * 1_000_000),
            precision: Precision::Micros,
            interface: "can1".into(),
            frame: Frame::Fd(FdFrame::new(sid(0x7E8), &data, flags).unwrap()),
            direction: Some(Direction::Rx),
        });
    }
    for n in 0..=8u8 {
        set.push(OwnedRecord {
            timestamp: Timestamp::from_nanos(1_700_000_200_000_000_000 + u64::from(n) * 1_000),
            precision: Precision::Micros,
            interface: "can0".into(),
            frame: Frame::Remote(RemoteFrame::new(sid(0x700), n).unwrap()),
            direction: Some(Direction::Tx),
        });
    }
    let path = dir.path().join("canrelearn.trc");
    let mut w = trc::Writer::new(fs::File::create(&path).unwrap());
    for r in &set {
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    assert!(w.losses().is_empty(), "{:?}", w.losses());
    drop(w);
    let out = peer::run_python(READ_PY, &[peer::s(&path)]);
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), set.len());
    for (i, (line, want)) in lines.iter().zip(&set).enumerate() {
        let f: Vec<&str> = line.split(' ').collect();
        let t = want.timestamp;
        let ts: f64 = f[0].parse().unwrap();
        let expected = t.as_nanos() as f64 / 1e9;
        assert!((ts - expected).abs() < 2e-6, "{line}: {ts} vs {expected}");
        let (id, ext, remote, fd, brs, esi, data) = match want.frame {
            Frame::Classic(c) => (
                c.id(),
                c.id().is_extended(),
                0,
                0,
                false,
                false,
                c.data().to_vec(),
            ),
            Frame::Fd(x) => {
                // python-can's reading of the type: FB -> BRS, FE -> BRS + ESI, BI -> ESI.
                let (brs, esi) = match (x.flags().brs(), x.flags().esi()) {
                    (true, false) => (true, false),
                    (false, true) => (true, true),
                    (true, true) => (false, true),
                    (false, false) => (false, false),
                };
                (x.id(), false, 0, 1, brs, esi, x.data().to_vec())
            }
            Frame::Remote(r) => (r.id(), false, 1, 0, false, false, Vec::new()),
            Frame::Error(_) => unreachable!(),
        };
        let hex = if data.is_empty() {
            "-".into()
        } else {
            hex::encode(&data)
        };
        let bus = want.interface[3..].parse::<u32>().unwrap() + 1;
        let rx = u8::from(want.direction == Some(Direction::Rx));
        assert_eq!(
            f[1..].join(" "),
            format!(
                "{:x} {} {remote} {fd} {} {} {bus} {rx} {hex}",
                id.raw(),
                u8::from(ext),
                u8::from(brs),
                u8::from(esi)
            ),
            "record {i}"
        );
    }
    eprintln!(
        "canrelearn TRC -> python-can: {} frames compared",
        lines.len()
    );
}

/// python-can reads the older versions we write (1.1, 1.3, 2.0): ids, data, directions,
/// channels where the version has them, and times to the resolution of each version.
#[test]
fn python_can_reads_our_1_1_1_3_and_2_0() {
    use canrelearn::log::trc::Version;
    let dir = tempfile::tempdir().unwrap();
    let set = classic_set();
    for (v, resolution_ns, bus) in [
        (Version::V1_1, 100_000u64, false),
        (Version::V1_3, 1_000, true),
        (Version::V2_0, 1_000, false),
    ] {
        let path = dir.path().join(format!("canrelearn-{v}.trc"));
        let mut w = trc::Writer::with_version(fs::File::create(&path).unwrap(), v);
        for r in &set {
            w.write_record(&r.as_record()).unwrap();
        }
        w.finish().unwrap();
        drop(w);
        let out = peer::run_python(READ_PY, &[peer::s(&path)]);
        let lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(lines.len(), set.len(), "{v}");
        for (line, want) in lines.iter().zip(&set) {
            let f: Vec<&str> = line.split(' ').collect();
            let ts: f64 = f[0].parse().unwrap();
            let t = want.timestamp.as_nanos();
            let expected = (t - t % resolution_ns) as f64 / 1e9;
            assert!(
                (ts - expected).abs() < 2e-6,
                "{v} {line}: {ts} vs {expected}"
            );
            let Frame::Classic(c) = want.frame else {
                unreachable!()
            };
            let hex = if c.data().is_empty() {
                "-".to_string()
            } else {
                hex::encode(c.data())
            };
            let channel = if bus {
                want.interface[3..].parse::<u32>().unwrap() + 1
            } else {
                1
            };
            let rx = u8::from(want.direction == Some(Direction::Rx));
            assert_eq!(
                f[1..].join(" "),
                format!(
                    "{:x} {} 0 0 0 0 {channel} {rx} {hex}",
                    c.id().raw(),
                    u8::from(c.id().is_extended())
                ),
                "{v}"
            );
        }
        eprintln!(
            "canrelearn TRC {v} -> python-can: {} frames compared",
            lines.len()
        );
    }
}

//! python-can's CSV against ours, both ways, frame for frame (python-can 4.6.1 as the peer).
//!
//! 1. python-can's `CSVWriter` writes a mixed set of messages (classic 0-8 bytes, extended ids,
//!    raw DLCs, CAN FD 0-64 bytes with BRS/ESI, remote frames with lengths, error frames);
//!    `canrelearn::log::csv::Reader` reads the file.
//! 2. `canrelearn::log::csv::Writer` writes the same set; python-can's `CSVReader` reads it back
//!    and prints every message, which we compare with what we wrote.
//!
//! The format has no FD column: CAN FD frames of more than 8 bytes come back as CAN FD without
//! BRS/ESI, those of up to 8 bytes as classic frames (our writer counts both as losses).

#[path = "common/peer.rs"]
mod peer;

use std::fs;
use std::io::BufReader;

use canrelearn::frame::{ErrorFrame, FD_LENGTHS, FdFlags, FdFrame, RemoteFrame};
use canrelearn::log::{FrameReader, FrameWriter, Item, OwnedRecord, Precision, csv};
use canrelearn::{ClassicFrame, Frame, Id, Timestamp};

/// The mixed set: (timestamp, frame).
fn frames() -> Vec<(Timestamp, Frame)> {
    let sid = |r: u16| Id::standard(r).unwrap();
    let xid = |r: u32| Id::extended(r).unwrap();
    let mut out = Vec::new();
    for n in 0..=8u8 {
        let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ n).collect();
        out.push(Frame::classic(sid(0x100 + u16::from(n)), &data).unwrap());
        out.push(Frame::classic(xid(0x18DA_F100 + u32::from(n)), &data).unwrap());
        out.push(Frame::Remote(
            RemoteFrame::new(sid(0x7F0 + u16::from(n)), n).unwrap(),
        ));
        out.push(Frame::Remote(
            RemoteFrame::new(xid(0x1234_5600 + u32::from(n)), n).unwrap(),
        ));
    }
    for dlc in 9..=15u8 {
        out.push(Frame::Classic(
            ClassicFrame::with_raw_dlc(sid(0x200), [dlc; 8], dlc).unwrap(),
        ));
        out.push(Frame::Remote(
            RemoteFrame::with_raw_dlc(xid(0x300), dlc).unwrap(),
        ));
    }
    for (i, &len) in FD_LENGTHS.iter().enumerate() {
        for flags in 0..4u8 {
            let data: Vec<u8> = (0..len)
                .map(|j| j.wrapping_mul(13).wrapping_add(flags))
                .collect();
            let id = if i % 2 == 0 {
                sid(0x7E8)
            } else {
                xid(0x1ABC_DE00 + i as u32)
            };
            let f = FdFlags::from_bits(flags | FdFlags::FDF).unwrap();
            out.push(Frame::Fd(FdFrame::new(id, &data, f).unwrap()));
        }
    }
    for (class, data) in [
        (0x004, [0, 4, 0, 0, 0, 0, 0, 0]),
        (0x088, [0, 0, 8, 0, 0, 0, 0, 0]),
        (0x200, [0, 0, 0, 0, 0, 0, 127, 128]),
        (0x040, [0; 8]),
        (0x002, [5, 0, 0, 0, 0, 0, 0, 0]),
    ] {
        out.push(Frame::Error(ErrorFrame::new(class, data).unwrap()));
    }
    out.iter()
        .enumerate()
        .map(|(i, f)| {
            let t = Timestamp::from_nanos(1_700_000_000_000_000_000 + i as u64 * 1_234_567_000);
            (t, *f)
        })
        .collect()
}

/// What a frame reads back as from CSV.
fn through_csv(f: Frame) -> Frame {
    match f {
        Frame::Fd(fd) if fd.data().len() <= 8 => Frame::classic(fd.id(), fd.data()).unwrap(),
        Frame::Fd(fd) => Frame::Fd(
            FdFrame::new(
                fd.id(),
                fd.data(),
                FdFlags::from_bits(FdFlags::FDF).unwrap(),
            )
            .unwrap(),
        ),
        other => other,
    }
}

/// One message as the Python side describes it:
/// `repr(ts) id ext remote error fd brs esi dlc datahex|-`.
fn describe(t: Timestamp, f: &Frame) -> String {
    let ts = format!("{}.{:06}", t.secs(), t.subsec_micros());
    let (id, ext, remote, error, fd, brs, esi, dlc, data) = match f {
        Frame::Classic(c) => (
            c.id().raw(),
            c.id().is_extended(),
            0,
            0,
            0,
            false,
            false,
            c.dlc(),
            c.data().to_vec(),
        ),
        Frame::Fd(x) => (
            x.id().raw(),
            x.id().is_extended(),
            0,
            0,
            1,
            x.flags().brs(),
            x.flags().esi(),
            x.data().len() as u8,
            x.data().to_vec(),
        ),
        Frame::Remote(r) => (
            r.id().raw(),
            r.id().is_extended(),
            1,
            0,
            0,
            false,
            false,
            r.dlc(),
            Vec::new(),
        ),
        Frame::Error(e) => (
            e.class(),
            false,
            0,
            1,
            0,
            false,
            false,
            8,
            e.data().to_vec(),
        ),
    };
    let hex = if data.is_empty() {
        "-".to_string()
    } else {
        hex::encode(&data)
    };
    format!(
        "{ts} {id:x} {} {remote} {error} {fd} {} {} {dlc} {hex}",
        u8::from(ext),
        u8::from(brs),
        u8::from(esi)
    )
}

const WRITE_PY: &str = r#"
import sys, can
src, out = sys.argv[1], sys.argv[2]
with can.CSVWriter(out) as w:
    for line in open(src):
        ts, i, ext, rem, err, fd, brs, esi, dlc, data = line.split()
        w.on_message_received(can.Message(
            timestamp=float(ts), arbitration_id=int(i, 16), is_extended_id=ext == "1",
            is_remote_frame=rem == "1", is_error_frame=err == "1", is_fd=fd == "1",
            bitrate_switch=brs == "1", error_state_indicator=esi == "1", dlc=int(dlc),
            data=b"" if data == "-" else bytes.fromhex(data)))
"#;

const READ_PY: &str = r#"
import sys, can
for m in can.CSVReader(sys.argv[1]):
    print(round(m.timestamp * 1_000_000), format(m.arbitration_id, "x"), int(m.is_extended_id),
          int(m.is_remote_frame), int(m.is_error_frame), m.dlc, bytes(m.data).hex() or "-")
"#;

#[test]
fn python_can_writes_we_read() {
    let dir = tempfile::tempdir().unwrap();
    let set = frames();
    let src = dir.path().join("messages.txt");
    let text: String = set.iter().map(|(t, f)| describe(*t, f) + "\n").collect();
    fs::write(&src, text).unwrap();
    let out = dir.path().join("python-can.csv");
    peer::run_python(WRITE_PY, &[peer::s(&src), peer::s(&out)]);

    let bytes = fs::read(&out).unwrap();
    assert!(csv::sniff(&bytes));
    let mut r = csv::Reader::new(BufReader::new(&bytes[..]));
    let mut got: Vec<OwnedRecord> = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Record(rec) => got.push(rec.to_owned_record()),
            Item::Other(h) => assert_eq!(h, csv::HEADER),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got.len(), set.len());
    for (rec, (t, f)) in got.iter().zip(&set) {
        assert_eq!(rec.frame, through_csv(*f), "{}", describe(*t, f));
        // python-can's repr of the float keeps these microseconds exactly.
        assert_eq!(rec.timestamp, *t, "{}", describe(*t, f));
        assert_eq!(rec.precision, Precision::Micros);
    }
    eprintln!("python-can -> canrelearn: {} frames compared", got.len());
}

#[test]
fn we_write_python_can_reads() {
    let dir = tempfile::tempdir().unwrap();
    let set = frames();
    let path = dir.path().join("canrelearn.csv");
    let mut w = csv::Writer::new(fs::File::create(&path).unwrap());
    for (t, f) in &set {
        let rec = OwnedRecord {
            timestamp: *t,
            precision: Precision::Micros,
            interface: "can0".into(),
            frame: *f,
            direction: None,
        };
        w.write_record(&rec.as_record()).unwrap();
    }
    w.finish().unwrap();
    let fd_small = set
        .iter()
        .filter(|(_, f)| matches!(f, Frame::Fd(x) if x.data().len() <= 8))
        .count() as u64;
    let losses: Vec<(&str, u64)> = w.losses().iter().map(|l| (l.what, l.count)).collect();
    assert!(
        losses
            .iter()
            .any(|&(what, n)| what.contains("8 bytes or fewer") && n == fd_small)
    );
    assert!(
        losses
            .iter()
            .any(|&(what, _)| what.contains("bit rate switch"))
    );
    assert!(w.losses().iter().all(|l| !l.dropped));
    drop(w);

    let out = peer::run_python(READ_PY, &[peer::s(&path)]);
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), set.len());
    for (line, (t, f)) in lines.iter().zip(&set) {
        let want = through_csv(*f);
        let desc = describe(*t, &want);
        let d: Vec<&str> = desc.split(' ').collect();
        // micros id ext remote error dlc data, against our description's fields.
        let micros = t.as_nanos() / 1_000;
        let expected = format!(
            "{micros} {} {} {} {} {} {}",
            d[1], d[2], d[3], d[4], d[8], d[9]
        );
        assert_eq!(line, &expected);
    }
    eprintln!("canrelearn -> python-can: {} frames compared", lines.len());
}

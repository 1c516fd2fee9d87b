//! can-utils' `log2long` (installed can-utils, Debian 12: 2020.11) as a peer of the candump
//! screen reader: we write a candump log of a mixed frame set, `log2long` turns it into the
//! screen layout with `lib.c`'s own `sprint_long_canframe` (ids indented once an extended one
//! is seen, ASCII column), and `canrelearn::log::screen` reads it back frame for frame.
//! (The real `candump` captures, with every option, are checked in tests/screen_real.rs.)

#[path = "common/peer.rs"]
mod peer;

use std::fs;

use canrelearn::frame::{ErrorFrame, FD_LENGTHS, FdFlags, FdFrame, RemoteFrame};
use canrelearn::log::{FrameReader, Item, OwnedRecord, Precision, candump, screen};
use canrelearn::{ClassicFrame, Frame, Id, Timestamp};

fn records() -> Vec<OwnedRecord> {
    let sid = |r: u16| Id::standard(r).unwrap();
    let xid = |r: u32| Id::extended(r).unwrap();
    let mut frames = Vec::new();
    for n in 0..=8u8 {
        // Printable and non-printable bytes, quotes and backquotes for the ASCII column.
        let data: Vec<u8> = (0..n)
            .map(|i| [0x27, 0x60, 0x20, 0x41, 0x00, 0x7F, 0x80, 0x7E][usize::from(i)] ^ n)
            .collect();
        frames.push(Frame::classic(sid(0x100 + u16::from(n)), &data).unwrap());
        frames.push(Frame::classic(xid(0x18DA_F100 + u32::from(n)), &data).unwrap());
        frames.push(Frame::Remote(
            RemoteFrame::new(sid(0x7F0 + u16::from(n)), n).unwrap(),
        ));
        frames.push(Frame::Remote(
            RemoteFrame::new(xid(0x1234_5600 + u32::from(n)), n).unwrap(),
        ));
    }
    for (i, &len) in FD_LENGTHS.iter().enumerate() {
        let data: Vec<u8> = (0..len)
            .map(|j| j.wrapping_mul(29).wrapping_add(0x20))
            .collect();
        let id = if i % 2 == 0 {
            sid(0x7E8)
        } else {
            xid(0x1ABC_DE00 + i as u32)
        };
        let flags = FdFlags::from_bits(FdFlags::FDF | (i as u8 & 3)).unwrap();
        frames.push(Frame::Fd(FdFrame::new(id, &data, flags).unwrap()));
    }
    for (class, data) in [
        (0x004, [0, 4, 0, 0, 0, 0, 0, 0]),
        (0x088, [0, 0, 8, 0, 0, 0, 0, 0]),
        (0x200, [0, 0, 0, 0, 0, 0, 127, 128]),
        (0x040, [0; 8]),
    ] {
        frames.push(Frame::Error(ErrorFrame::new(class, data).unwrap()));
    }
    frames.push(Frame::Classic(
        ClassicFrame::with_raw_dlc(sid(0x200), [9; 8], 9).unwrap(),
    ));
    frames
        .into_iter()
        .enumerate()
        .map(|(i, frame)| OwnedRecord {
            timestamp: Timestamp::from_nanos(1_700_000_000_000_000_000 + i as u64 * 1_001_000),
            precision: Precision::Micros,
            interface: if i % 3 == 0 { "vcan10" } else { "can0" }.into(),
            frame,
            direction: None,
        })
        .collect()
}

/// What the screen layout shows of a frame: FD flags are not in it (no `-x`), nor raw DLCs
/// (no `-8`).
fn shown(f: Frame) -> Frame {
    match f {
        Frame::Fd(fd) => Frame::Fd(
            FdFrame::new(
                fd.id(),
                fd.data(),
                FdFlags::from_bits(FdFlags::FDF).unwrap(),
            )
            .unwrap(),
        ),
        Frame::Classic(c) if c.raw_dlc().is_some() => Frame::classic(c.id(), c.data()).unwrap(),
        other => other,
    }
}

#[test]
fn log2long_output_reads_frame_for_frame() {
    let dir = tempfile::tempdir().unwrap();
    let set = records();
    let log = dir.path().join("in.log");
    let mut w = candump::Writer::new(Vec::new());
    for r in &set {
        w.write_record(&r.as_record()).unwrap();
    }
    fs::write(&log, w.into_inner()).unwrap();
    let out = peer::run_tool(
        "sh",
        &["-c", &format!("log2long < '{}'", peer::s(&log))],
        "can-utils",
    );
    assert!(screen::sniff(&out.stdout));
    let mut r = screen::Reader::new(&out.stdout[..]);
    let mut n = 0;
    while let Some(item) = r.read_item().unwrap() {
        let Item::Record(rec) = item else {
            panic!("{item:?}")
        };
        let want = &set[n];
        assert_eq!(rec.frame, shown(want.frame), "frame {}", n + 1);
        assert_eq!(rec.timestamp, want.timestamp);
        assert_eq!(rec.interface, want.interface);
        assert_eq!(rec.direction, None);
        n += 1;
    }
    assert_eq!(n, set.len());
    eprintln!("log2long -> canrelearn: {n} frames compared");
}

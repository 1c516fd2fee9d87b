//! Shared by the ASC tests (tests/asc_logs.rs, tests/peers_asc.rs): python-can's messages as
//! `tests/tools/asc_peer.py` lists them in JSON, the records they must read as, a mixed record
//! set of every frame kind for our writer, and reading an ASC with our reader.

#![allow(dead_code, reason = "each test file uses part of this")]

use canrelearn::frame::{
    ClassicFrame, ErrorFrame, FD_LENGTHS, FdFlags, FdFrame, Frame, Id, RemoteFrame,
};
use canrelearn::log::asc::{ERROR_FRAME_CLASS, Reader};
use canrelearn::log::{Direction, FrameReader, Item, OwnedRecord, Precision, Stats};
use canrelearn::time::Timestamp;

/// One python-can `Message`, as `asc_peer.py` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct PyMsg {
    /// The float timestamp, exactly as its shortest decimal, in nanoseconds (truncated).
    pub t_nanos: i128,
    pub id: u32,
    pub ext: bool,
    pub rtr: bool,
    pub err: bool,
    pub fd: bool,
    pub brs: bool,
    pub esi: bool,
    pub dlc: u8,
    pub data: Vec<u8>,
    pub ch: Option<i64>,
    pub rx: bool,
}

/// `"1795290005.0123456"` in nanoseconds.
fn decimal_nanos(s: &str) -> i128 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut nanos: i128 = int.parse::<i128>().expect("integer seconds") * 1_000_000_000;
    let mut scale = 100_000_000;
    for c in frac.chars().take(9) {
        nanos += i128::from(c.to_digit(10).expect("decimal fraction")) * scale;
        scale /= 10;
    }
    nanos
}

/// The messages of an `asc_peer.py` JSON file.
pub fn py_messages(json: &str) -> Vec<PyMsg> {
    let v: serde_json::Value = serde_json::from_str(json).expect("peer JSON");
    v.as_array()
        .expect("a list")
        .iter()
        .map(|m| PyMsg {
            t_nanos: decimal_nanos(m["t"].as_str().expect("t")),
            id: m["id"].as_u64().expect("id") as u32,
            ext: m["ext"].as_bool().expect("ext"),
            rtr: m["rtr"].as_bool().expect("rtr"),
            err: m["err"].as_bool().expect("err"),
            fd: m["fd"].as_bool().expect("fd"),
            brs: m["brs"].as_bool().expect("brs"),
            esi: m["esi"].as_bool().expect("esi"),
            dlc: m["dlc"].as_u64().expect("dlc") as u8,
            data: hex::decode(m["data"].as_str().expect("data")).expect("hex data"),
            ch: m["ch"].as_i64(),
            rx: m["rx"].as_bool().expect("rx"),
        })
        .collect()
}

pub fn id(raw: u32, ext: bool) -> Id {
    Id::new(raw, ext).expect("valid id")
}

/// The error frame every ASC error frame reads as.
pub fn bus_error() -> Frame {
    Frame::Error(ErrorFrame::new(ERROR_FRAME_CLASS, [0; 8]).unwrap())
}

/// The frame a python-can message written to ASC must read back as.
pub fn expected_frame(m: &PyMsg) -> Frame {
    let id = || id(m.id, m.ext);
    if m.err {
        bus_error()
    } else if m.rtr {
        Frame::Remote(RemoteFrame::new(id(), m.dlc).unwrap())
    } else if m.fd {
        let bits = FdFlags::FDF
            | if m.brs { FdFlags::BRS } else { 0 }
            | if m.esi { FdFlags::ESI } else { 0 };
        Frame::Fd(FdFrame::new(id(), &m.data, FdFlags::from_bits(bits).unwrap()).unwrap())
    } else if m.dlc > 8 {
        let data: [u8; 8] = m
            .data
            .as_slice()
            .try_into()
            .expect("8 bytes with a raw DLC");
        Frame::Classic(ClassicFrame::with_raw_dlc(id(), data, m.dlc).unwrap())
    } else {
        Frame::classic(id(), &m.data).unwrap()
    }
}

/// Reads an ASC with our reader: the records and the counters; malformed lines fail.
pub fn read_asc(bytes: &[u8]) -> (Vec<OwnedRecord>, Stats) {
    let mut r = Reader::new(bytes).with_source_name("peer.asc");
    let mut out = Vec::new();
    while let Some(item) = r.read_item().expect("no I/O error") {
        match item {
            Item::Record(rec) => out.push(rec.to_owned_record()),
            Item::Bad(e) => panic!("{e}"),
            Item::Other(_) | Item::Skipped(_) => {}
        }
    }
    (out, r.stats())
}

/// Checks our records against python-can's messages frame for frame; times within `tol_ns`.
pub fn assert_read_as_python_wrote(ours: &[OwnedRecord], msgs: &[PyMsg], tol_ns: i128) {
    assert_eq!(ours.len(), msgs.len(), "frame count");
    for (i, (r, m)) in ours.iter().zip(msgs).enumerate() {
        let ctx = format!("frame {i}: ours {r:?}, python-can {m:?}");
        assert_eq!(r.frame, expected_frame(m), "{ctx}");
        let ch = m.ch.expect("a channel");
        assert_eq!(r.interface, format!("can{ch}"), "{ctx}");
        let dir = if m.rx { Direction::Rx } else { Direction::Tx };
        assert_eq!(r.direction, (!m.err).then_some(dir), "{ctx}");
        let dt = i128::from(r.timestamp.as_nanos()) - m.t_nanos;
        assert!(dt.abs() <= tol_ns, "{ctx}: time off by {dt} ns");
    }
}

/// Every frame kind ASC carries, on can0 and can1, received and sent, from
/// 1795290005.000000 (a whole second) on in microsecond steps. `raw_dlc`: include classic and remote frames
/// with a raw DLC of 9 to 15 (can-utils 2020.11 cannot convert those).
pub fn mixed_records(raw_dlc: bool) -> Vec<OwnedRecord> {
    let mut out = Vec::new();
    let mut micros: u64 = 1_795_290_005_000_000;
    let mut n: u32 = 0;
    let mut push = |frame: Frame, out: &mut Vec<OwnedRecord>| {
        n += 1;
        let at = micros;
        micros += u64::from(n * 37 % 997) + 1;
        out.push(OwnedRecord {
            timestamp: Timestamp::from_micros(at).unwrap(),
            precision: Precision::Micros,
            interface: format!("can{}", n % 2),
            direction: if frame.is_error() {
                None
            } else if n.is_multiple_of(3) {
                Some(Direction::Tx)
            } else {
                Some(Direction::Rx)
            },
            frame,
        });
    };
    let byte = |i: usize| (i as u8).wrapping_mul(37).wrapping_add(11);
    for len in 0..=8usize {
        let data: Vec<u8> = (0..len).map(byte).collect();
        push(
            Frame::classic(id(0x100 + len as u32, false), &data).unwrap(),
            &mut out,
        );
        push(
            Frame::classic(id(0x1ABC_0000 + len as u32, true), &data).unwrap(),
            &mut out,
        );
    }
    push(
        Frame::classic(id(0x7FF, false), &[0xFF; 8]).unwrap(),
        &mut out,
    );
    push(
        Frame::classic(id(0x1FFF_FFFF, true), &[0; 8]).unwrap(),
        &mut out,
    );
    push(Frame::classic(id(0, false), &[]).unwrap(), &mut out);
    for len in 0..=8u8 {
        push(
            Frame::Remote(RemoteFrame::new(id(0x200 + u32::from(len), len % 2 == 1), len).unwrap()),
            &mut out,
        );
    }
    if raw_dlc {
        for dlc in 9..=15u8 {
            let data: [u8; 8] = core::array::from_fn(|i| byte(i + usize::from(dlc)));
            push(
                Frame::Classic(
                    ClassicFrame::with_raw_dlc(id(0x300 + u32::from(dlc), dlc % 2 == 0), data, dlc)
                        .unwrap(),
                ),
                &mut out,
            );
            push(
                Frame::Remote(
                    RemoteFrame::with_raw_dlc(id(0x400 + u32::from(dlc), false), dlc).unwrap(),
                ),
                &mut out,
            );
        }
    }
    for (k, &len) in FD_LENGTHS.iter().enumerate() {
        for flags in [0u8, 1, 2, 3] {
            let data: Vec<u8> = (0..usize::from(len)).map(|i| byte(i + k)).collect();
            let bits = FdFlags::FDF | flags;
            let fid = id(0x500 + k as u32 * 4 + u32::from(flags), k % 3 == 0);
            push(
                Frame::Fd(FdFrame::new(fid, &data, FdFlags::from_bits(bits).unwrap()).unwrap()),
                &mut out,
            );
        }
    }
    for _ in 0..3 {
        push(bus_error(), &mut out);
    }
    out
}

/// `frame` with the FDF flag set when it is a CAN FD frame (old can-utils write FD frames
/// without it; ASC `CANFD` lines imply it).
pub fn with_fdf(frame: Frame) -> Frame {
    match frame {
        Frame::Fd(f) => Frame::Fd(
            FdFrame::new(
                f.id(),
                f.data(),
                FdFlags::from_bits(f.flags().bits() | FdFlags::FDF).unwrap(),
            )
            .unwrap(),
        ),
        f => f,
    }
}

//! Unit tests of the BLF reader and writer, over hand-built bytes.

use super::*;
use crate::log::OwnedRecord;
use proptest::prelude::*;
use std::io::Cursor;

// ---------------------------------------------------------------------------------------------
// Builders of BLF bytes

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

fn xid(raw: u32) -> Id {
    Id::extended(raw).unwrap()
}

/// 2024-12-31 14:09:40.222 (a Tuesday).
const START: [u16; 8] = [2024, 12, 2, 31, 14, 9, 40, 222];
const START_NANOS: u64 = 1_735_654_180_222_000_000;

/// An object with a version 1, 2 or 3 header.
fn obj_v(kind: u32, version: u16, flags: u32, stamp: u64, body: &[u8]) -> Vec<u8> {
    let header: usize = if version == 2 { 40 } else { 32 };
    let mut o = Vec::new();
    o.extend_from_slice(b"LOBJ");
    o.extend_from_slice(&(header as u16).to_le_bytes());
    o.extend_from_slice(&version.to_le_bytes());
    o.extend_from_slice(&((header + body.len()) as u32).to_le_bytes());
    o.extend_from_slice(&kind.to_le_bytes());
    o.extend_from_slice(&flags.to_le_bytes());
    match version {
        2 => {
            o.extend_from_slice(&[1, 0, 0, 0]); // timestamp status, reserved, object version
            o.extend_from_slice(&stamp.to_le_bytes());
            o.extend_from_slice(&0xDEAD_BEEFu64.to_le_bytes()); // original timestamp
        }
        3 => {
            o.extend_from_slice(&(body.len() as u16).to_le_bytes()); // static size
            o.extend_from_slice(&0u16.to_le_bytes());
            o.extend_from_slice(&stamp.to_le_bytes());
        }
        _ => {
            o.extend_from_slice(&[0; 4]); // client index, object version
            o.extend_from_slice(&stamp.to_le_bytes());
        }
    }
    o.extend_from_slice(body);
    o
}

/// An object with a version 1 header and nanosecond timestamp.
fn obj(kind: u32, stamp: u64, body: &[u8]) -> Vec<u8> {
    obj_v(kind, 1, TIME_ONE_NANS, stamp, body)
}

fn can_body(channel: u16, flags: u8, dlc: u8, id: u32, data: [u8; 8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&channel.to_le_bytes());
    b.push(flags);
    b.push(dlc);
    b.extend_from_slice(&id.to_le_bytes());
    b.extend_from_slice(&data);
    b
}

fn can_msg(channel: u16, id: u32, data: &[u8], stamp: u64) -> Vec<u8> {
    let mut d = [0u8; 8];
    d[..data.len()].copy_from_slice(data);
    obj(
        ot::CAN_MESSAGE,
        stamp,
        &can_body(channel, 0, data.len() as u8, id, d),
    )
}

#[allow(clippy::too_many_arguments)]
fn fd64_body(
    channel: u8,
    dlc: u8,
    valid: u8,
    id: u32,
    flags: u32,
    dir: u8,
    ext: u8,
    data: &[u8],
) -> Vec<u8> {
    let mut b = vec![0u8; 40];
    b[0] = channel;
    b[1] = dlc;
    b[2] = valid;
    b[4..8].copy_from_slice(&id.to_le_bytes());
    b[12..16].copy_from_slice(&flags.to_le_bytes());
    b[34] = dir;
    b[35] = ext;
    b.extend_from_slice(data);
    b
}

fn error_ext_body(channel: u16, flags: u32, ecc: u8, id: u32, ext: u16, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 24];
    b[..2].copy_from_slice(&channel.to_le_bytes());
    b[4..8].copy_from_slice(&flags.to_le_bytes());
    b[8] = ecc;
    b[10] = data.len() as u8;
    b[16..20].copy_from_slice(&id.to_le_bytes());
    b[20..22].copy_from_slice(&ext.to_le_bytes());
    b.extend_from_slice(data);
    b
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A log container of `data` with compression `method` (0 or 2), padded as python-can does.
fn container_with(method: u16, payload: &[u8], declared: u32) -> Vec<u8> {
    let size = 32 + payload.len();
    let mut c = Vec::new();
    c.extend_from_slice(b"LOBJ");
    c.extend_from_slice(&16u16.to_le_bytes());
    c.extend_from_slice(&1u16.to_le_bytes());
    c.extend_from_slice(&(size as u32).to_le_bytes());
    c.extend_from_slice(&ot::LOG_CONTAINER.to_le_bytes());
    c.extend_from_slice(&method.to_le_bytes());
    c.extend_from_slice(&[0; 6]);
    c.extend_from_slice(&declared.to_le_bytes());
    c.extend_from_slice(&[0; 4]);
    c.extend_from_slice(payload);
    c.extend_from_slice(&[0; 4][..size % 4]);
    c
}

fn zcontainer(data: &[u8]) -> Vec<u8> {
    container_with(COMPRESSION_ZLIB, &zlib(data), data.len() as u32)
}

fn rawcontainer(data: &[u8]) -> Vec<u8> {
    container_with(COMPRESSION_NONE, data, data.len() as u32)
}

fn file_header(start: [u16; 8]) -> Vec<u8> {
    let mut h = vec![0u8; 144];
    h[..4].copy_from_slice(b"LOGG");
    h[4..8].copy_from_slice(&144u32.to_le_bytes());
    for (i, v) in start.iter().enumerate() {
        h[40 + 2 * i..42 + 2 * i].copy_from_slice(&v.to_le_bytes());
    }
    h
}

fn blf(start: [u16; 8], parts: &[Vec<u8>]) -> Vec<u8> {
    let mut f = file_header(start);
    for p in parts {
        f.extend_from_slice(p);
    }
    f
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

// ---------------------------------------------------------------------------------------------
// Reading helpers

#[derive(Debug, PartialEq)]
enum Out {
    Rec(OwnedRecord),
    Other(String),
    Skipped(String),
    Bad(ErrorKind, Location),
}

fn kind_of(e: &ReadError) -> (ErrorKind, Location) {
    match e {
        ReadError::Format(FormatError {
            kind: FormatErrorKind::Blf(k),
            location,
            ..
        }) => (k.clone(), *location),
        other => panic!("not a BLF error: {other:?}"),
    }
}

/// Every item of `bytes` (read through a tiny buffer to exercise refills), and the error that
/// ended the read, if any.
fn read_with_cap(bytes: &[u8], cap: usize) -> (Vec<Out>, Option<(ErrorKind, Location)>, Stats) {
    let mut r = Reader::new(io::BufReader::with_capacity(cap, bytes));
    let mut out = Vec::new();
    let end = loop {
        match r.read_item() {
            Ok(None) => break None,
            Ok(Some(Item::Record(rec))) => out.push(Out::Rec(rec.to_owned_record())),
            Ok(Some(Item::Other(t))) => out.push(Out::Other(t.to_owned())),
            Ok(Some(Item::Skipped(n))) => out.push(Out::Skipped(n.to_owned())),
            Ok(Some(Item::Bad(e))) => {
                let (k, l) = kind_of(&e);
                out.push(Out::Bad(k, l));
            }
            Err(e) => break Some(kind_of(&e)),
        }
    };
    assert!(matches!(r.read_item(), Ok(None)), "done after the end");
    (out, end, r.stats())
}

fn read(bytes: &[u8]) -> (Vec<Out>, Option<(ErrorKind, Location)>, Stats) {
    let a = read_with_cap(bytes, 8192);
    let b = read_with_cap(bytes, 7);
    assert_eq!(a.0, b.0, "the buffer size changes nothing");
    assert_eq!(a.1, b.1);
    a
}

fn recs(out: &[Out]) -> Vec<OwnedRecord> {
    out.iter()
        .filter_map(|o| match o {
            Out::Rec(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn frames(out: &[Out]) -> Vec<Frame> {
    recs(out).into_iter().map(|r| r.frame).collect()
}

fn rec(nanos: u64, iface: &str, frame: Frame, dir: Option<Direction>) -> OwnedRecord {
    OwnedRecord {
        timestamp: Timestamp::from_nanos(nanos),
        precision: Precision::Nanos,
        interface: iface.to_owned(),
        frame,
        direction: dir,
    }
}

fn classic(id: Id, data: &[u8]) -> Frame {
    Frame::classic(id, data).unwrap()
}

fn fd(id: Id, data: &[u8], bits: u8) -> Frame {
    Frame::Fd(FdFrame::new(id, data, FdFlags::from_bits(bits | FdFlags::FDF).unwrap()).unwrap())
}

fn err_frame(class: u32, data: [u8; 8]) -> Frame {
    Frame::Error(ErrorFrame::new(class, data).unwrap())
}

const RX: Option<Direction> = Some(Direction::Rx);
const TX: Option<Direction> = Some(Direction::Tx);

// ---------------------------------------------------------------------------------------------
// File header, time

#[test]
fn test_sniff() {
    let f = blf(START, &[]);
    assert!(sniff(&f));
    assert!(sniff(&f[..8]));
    assert!(!sniff(&f[..6]));
    assert!(!sniff(b"LOGG\x00\x00\x00\x00"), "header size 0");
    assert!(!sniff(b"(1700000000.000000) can0 123#11\n"));
    assert!(!sniff(b"date Tue Dec 31 14:09:40.222 2024\n"));
    assert!(!sniff(b""));
}

#[test]
fn test_systemtime_conversions() {
    for (st, ms) in [
        ([1970, 1, 4, 1, 0, 0, 0, 0], 0u64),
        ([2000, 2, 2, 29, 23, 59, 59, 999], 951_868_799_999),
        ([2024, 12, 2, 31, 14, 9, 40, 222], 1_735_654_180_222),
        ([2100, 3, 1, 1, 0, 0, 0, 0], 4_107_542_400_000),
    ] {
        let t = SystemTime(st);
        assert_eq!(t.to_unix_nanos(), Some(ms * 1_000_000), "{t}");
        assert_eq!(SystemTime::from_unix_millis(ms), Some(t), "{t}");
    }
    for bad in [
        [2023, 2, 0, 29, 0, 0, 0, 0],
        [2024, 13, 0, 1, 0, 0, 0, 0],
        [2024, 1, 0, 0, 0, 0, 0, 0],
        [2024, 1, 0, 1, 24, 0, 0, 0],
        [2024, 1, 0, 1, 0, 0, 0, 1000],
        [1969, 12, 0, 31, 0, 0, 0, 0],
        [1601, 1, 1, 1, 0, 0, 0, 0],
    ] {
        assert_eq!(SystemTime(bad).to_unix_nanos(), None, "{bad:?}");
    }
    assert_eq!(SystemTime(START).to_string(), "2024-12-31 14:09:40.222");
}

#[test]
fn test_parse_file_header_and_absolute_timestamps() {
    let mut f = blf(
        START,
        &[zcontainer(&cat(&[
            can_msg(1, 0x123, &[1, 2], 1_500),
            obj_v(
                ot::CAN_MESSAGE,
                1,
                TIME_TEN_MICS,
                7,
                &can_body(2, 0, 1, 0x7FF, [9; 8]),
            ),
        ]))],
    );
    f[12] = 2; // CANoe
    f[32..36].copy_from_slice(&2u32.to_le_bytes());
    let mut r = Reader::new(f.as_slice());
    assert!(
        r.header().is_none(),
        "nothing is read before the first item"
    );
    let Some(Item::Record(first)) = r.read_item().unwrap() else {
        panic!("a record")
    };
    assert_eq!(first.timestamp.as_nanos(), START_NANOS + 1_500);
    assert_eq!(first.precision, Precision::Nanos);
    assert_eq!(first.interface, "can0");
    let Some(Item::Record(second)) = r.read_item().unwrap() else {
        panic!("a record")
    };
    assert_eq!(second.timestamp.as_nanos(), START_NANOS + 70_000);
    assert_eq!(second.precision, Precision::Micros);
    assert_eq!(second.interface, "can1", "channels are 1-based");
    assert!(r.read_item().unwrap().is_none());
    let h = r.header().unwrap();
    assert_eq!(h.application_id, 2);
    assert_eq!(h.object_count, 2);
    assert_eq!(h.start, SystemTime(START));
    assert_eq!(
        r.start_time(),
        Some(Timestamp::from_nanos(START_NANOS)),
        "the start time"
    );
    assert_eq!(r.format(), Format::Blf);
}

#[test]
fn test_parse_zero_start_time_counts_from_zero() {
    let f = blf([0; 8], &[zcontainer(&can_msg(1, 0x1, &[], 42))]);
    let (out, end, _) = read(&f);
    assert_eq!(end, None);
    assert_eq!(recs(&out)[0].timestamp.as_nanos(), 42);
}

#[test]
fn test_parse_invalid_start_time_is_reported_and_counts_from_zero() {
    let f = blf(
        [2024, 13, 0, 40, 0, 0, 0, 0],
        &[zcontainer(&can_msg(1, 0x1, &[], 42))],
    );
    let (out, _, stats) = read(&f);
    assert!(matches!(
        &out[0],
        Out::Bad(ErrorKind::StartTime(_), Location::Offset(40))
    ));
    assert_eq!(recs(&out)[0].timestamp.as_nanos(), 42);
    assert_eq!(stats.bad, 1);
}

#[test]
fn test_parse_not_blf_is_an_error() {
    for bytes in [&b""[..], b"LOG", b"(1700000000.000000) can0 123#11\n"] {
        let (_, end, _) = read(bytes);
        assert_eq!(end, Some((ErrorKind::NotBlf, Location::Offset(0))));
    }
    let mut f = file_header(START);
    f[4..8].copy_from_slice(&10u32.to_le_bytes());
    assert_eq!(read(&f).1.unwrap().0, ErrorKind::FileHeaderSize(10));
    let f = file_header(START);
    assert_eq!(
        read(&f[..100]).1.unwrap().0,
        ErrorKind::Truncated("the file header")
    );
}

#[test]
fn test_parse_empty_file_has_no_items() {
    let (out, end, stats) = read(&file_header(START));
    assert!(out.is_empty() && end.is_none());
    assert_eq!(stats, Stats::default());
}

// ---------------------------------------------------------------------------------------------
// CAN objects

#[test]
fn test_parse_can_message_kinds() {
    let data = [1, 2, 3, 4, 5, 6, 7, 8];
    let objects = cat(&[
        obj(ot::CAN_MESSAGE, 1, &can_body(1, 0, 3, 0x123, data)),
        obj(
            ot::CAN_MESSAGE,
            2,
            &can_body(1, 1, 8, 0x8000_0000 | 0x1ABC_DEF0, data),
        ),
        obj(ot::CAN_MESSAGE, 3, &can_body(1, 0, 0, 0x7FF, data)),
        obj(ot::CAN_MESSAGE, 4, &can_body(1, 0, 9, 0x10, data)),
        obj(ot::CAN_MESSAGE, 5, &can_body(1, 0x80, 5, 0x10, data)),
        obj(
            ot::CAN_MESSAGE,
            6,
            &can_body(1, 0x81, 15, 0x8000_0010, [0; 8]),
        ),
        obj(ot::CAN_MESSAGE, 7, &can_body(3, 0, 2, 0x800, data)),
    ]);
    let (out, end, stats) = read(&blf([0; 8], &[zcontainer(&objects)]));
    assert_eq!(end, None);
    assert_eq!(
        recs(&out),
        vec![
            rec(1, "can0", classic(sid(0x123), &[1, 2, 3]), RX),
            rec(2, "can0", classic(xid(0x1ABC_DEF0), &data), TX),
            rec(3, "can0", classic(sid(0x7FF), &[]), RX),
            rec(
                4,
                "can0",
                Frame::Classic(ClassicFrame::with_raw_dlc(sid(0x10), data, 9).unwrap()),
                RX
            ),
            rec(
                5,
                "can0",
                Frame::Remote(RemoteFrame::new(sid(0x10), 5).unwrap()),
                RX
            ),
            rec(
                6,
                "can0",
                Frame::Remote(RemoteFrame::with_raw_dlc(xid(0x10), 15).unwrap()),
                TX
            ),
        ]
    );
    assert!(matches!(
        out.last(),
        Some(Out::Bad(ErrorKind::StandardId(0x800), Location::Inner { offset, .. })) if *offset == 6 * 48
    ));
    assert_eq!(stats.records, 6);
    assert_eq!(stats.bad, 1);
}

#[test]
fn test_parse_can_message2_with_header_v2() {
    let mut body = can_body(2, 1, 2, 0x321, [0xAA, 0xBB, 0, 0, 0, 0, 0, 0]);
    body.extend_from_slice(&[0x10, 0, 0, 0, 0x40, 0, 0, 0]); // frame length, bit count
    let o = obj_v(ot::CAN_MESSAGE2, 2, TIME_ONE_NANS, 99, &body);
    assert_eq!(o.len(), 40 + 24);
    let (out, end, _) = read(&blf(START, &[zcontainer(&o)]));
    assert_eq!(end, None);
    assert_eq!(
        recs(&out),
        vec![rec(
            START_NANOS + 99,
            "can1",
            classic(sid(0x321), &[0xAA, 0xBB]),
            TX
        )]
    );
}

/// python-can#1950: CANoe 15 writes objects with header version 3; python-can rejected them.
#[test]
fn test_parse_header_v3_objects() {
    let mut trigger = vec![0u8; 12];
    trigger.extend_from_slice(b"TriggerBlock_TriggerCondition");
    let objects = cat(&[
        obj_v(
            ot::CAN_MESSAGE,
            3,
            TIME_ONE_NANS,
            5,
            &can_body(1, 0, 1, 0x55, [7; 8]),
        ),
        obj_v(128, 3, TIME_ONE_NANS, 6, &trigger),
        obj_v(124, 3, TIME_ONE_NANS, 7, &[0; 20]),
        can_msg(1, 0x56, &[8], 8),
    ]);
    let (out, end, stats) = read(&blf([0; 8], &[zcontainer(&objects)]));
    assert_eq!(end, None);
    assert_eq!(
        out,
        vec![
            Out::Rec(rec(5, "can0", classic(sid(0x55), &[7]), RX)),
            Out::Skipped("trigger condition".into()),
            Out::Skipped("function bus object".into()),
            Out::Rec(rec(8, "can0", classic(sid(0x56), &[8]), RX)),
        ]
    );
    assert_eq!(stats.skipped, 2);
}

#[test]
fn test_parse_unknown_header_version_is_bad_and_reading_goes_on() {
    let objects = cat(&[
        obj_v(
            ot::CAN_MESSAGE,
            7,
            TIME_ONE_NANS,
            5,
            &can_body(1, 0, 1, 0x55, [7; 8]),
        ),
        can_msg(1, 0x56, &[8], 8),
    ]);
    let (out, _, _) = read(&blf([0; 8], &[zcontainer(&objects)]));
    assert!(matches!(out[0], Out::Bad(ErrorKind::HeaderVersion(7), _)));
    assert_eq!(frames(&out), vec![classic(sid(0x56), &[8])]);
}

#[test]
fn test_parse_can_fd_message_64_flags_and_direction() {
    let data: Vec<u8> = (0..64).collect();
    let objects = cat(&[
        // FD, BRS, 12 bytes, Rx
        obj(
            ot::CAN_FD_MESSAGE_64,
            1,
            &fd64_body(1, 9, 12, 0x123, 0x3000, 0, 0, &data[..12]),
        ),
        // FD, ESI, 64 bytes, extended, Tx
        obj(
            ot::CAN_FD_MESSAGE_64,
            2,
            &fd64_body(2, 15, 64, 0x8000_0000 | 0x1234, 0x5000, 1, 0, &data),
        ),
        // FD, BRS|ESI, 0 bytes, Tx request
        obj(
            ot::CAN_FD_MESSAGE_64,
            3,
            &fd64_body(1, 0, 0, 0x1, 0x7000, 2, 0, &[]),
        ),
        // Classic frame in an FD object, and a remote frame
        obj(
            ot::CAN_FD_MESSAGE_64,
            4,
            &fd64_body(1, 3, 3, 0x2, 0, 0, 0, &[1, 2, 3, 0]),
        ),
        obj(
            ot::CAN_FD_MESSAGE_64,
            5,
            &fd64_body(1, 4, 0, 0x3, 0x10, 1, 0, &[]),
        ),
    ]);
    let (out, end, _) = read(&blf([0; 8], &[zcontainer(&objects)]));
    assert_eq!(end, None);
    assert_eq!(
        recs(&out),
        vec![
            rec(1, "can0", fd(sid(0x123), &data[..12], FdFlags::BRS), RX),
            rec(2, "can1", fd(xid(0x1234), &data, FdFlags::ESI), TX),
            rec(3, "can0", fd(sid(1), &[], FdFlags::BRS | FdFlags::ESI), TX),
            rec(4, "can0", classic(sid(2), &[1, 2, 3]), RX),
            rec(
                5,
                "can0",
                Frame::Remote(RemoteFrame::new(sid(3), 4).unwrap()),
                TX
            ),
        ]
    );
}

/// python-can#1905: TSMaster writes 64-byte CAN FD frames with only 48 data bytes in the
/// object (`validDataBytes` 64); CANoe pads them with zeros, and so does this reader (python-can
/// read the next object's bytes instead).
#[test]
fn test_parse_can_fd_message_64_short_payload_is_zero_padded() {
    let data: Vec<u8> = (1..=48).collect();
    let objects = cat(&[
        obj(
            ot::CAN_FD_MESSAGE_64,
            1,
            &fd64_body(7, 15, 64, 0x6A9, 0x3000, 0, 0, &data),
        ),
        can_msg(1, 0x10, &[0xEE; 8], 2),
    ]);
    let (out, end, _) = read(&blf([0; 8], &[zcontainer(&objects)]));
    assert_eq!(end, None);
    let mut expected = data.clone();
    expected.resize(64, 0);
    assert_eq!(
        frames(&out),
        vec![
            fd(sid(0x6A9), &expected, FdFlags::BRS),
            classic(sid(0x10), &[0xEE; 8])
        ]
    );
    // validDataBytes below the DLC's length: zeros up to the DLC's length too.
    let o = obj(
        ot::CAN_FD_MESSAGE_64,
        1,
        &fd64_body(1, 9, 8, 0x1, 0x1000, 0, 0, &[5; 12]),
    );
    let (out, _, _) = read(&blf([0; 8], &[zcontainer(&o)]));
    let mut twelve = vec![5u8; 8];
    twelve.extend_from_slice(&[0; 4]);
    assert_eq!(frames(&out), vec![fd(sid(1), &twelve, 0)]);
}

#[test]
fn test_parse_can_fd_message_64_ext_data_offset() {
    // 8 data bytes, then the extended frame data (bit timings) at object offset 32+40+8.
    let mut data = vec![1, 2, 3, 4, 5, 6, 7, 8];
    data.extend_from_slice(&[0xFF; 8]);
    let o = obj(
        ot::CAN_FD_MESSAGE_64,
        1,
        &fd64_body(1, 9, 12, 0x1, 0x1000, 0, 80, &data),
    );
    let (out, _, _) = read(&blf([0; 8], &[zcontainer(&o)]));
    assert_eq!(
        frames(&out),
        vec![fd(sid(1), &[1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0], 0)],
        "the data ends at the ext data offset"
    );
}

#[test]
fn test_parse_can_fd_message() {
    let mut body = can_body(2, 1, 13, 0x8000_0000 | 0xABCDE, [0; 8]);
    body.truncate(8);
    body.extend_from_slice(&[0; 4]); // frame length
    body.push(0); // arbitration bit count
    body.push(FD_FLAG_EDL | FD_FLAG_BRS);
    body.push(32);
    body.extend_from_slice(&[0; 5]);
    let data: Vec<u8> = (100..164).collect();
    body.extend_from_slice(&data);
    body.extend_from_slice(&[0; 4]);
    let classic_body = {
        let mut b = can_body(1, 0x80, 2, 0x5, [0; 8]);
        b.truncate(8);
        b.extend_from_slice(&[0; 12]);
        b.extend_from_slice(&[0; 68]);
        b
    };
    let objects = cat(&[
        obj(ot::CAN_FD_MESSAGE, 1, &body),
        obj(ot::CAN_FD_MESSAGE, 2, &classic_body),
    ]);
    let (out, end, _) = read(&blf([0; 8], &[zcontainer(&objects)]));
    assert_eq!(end, None);
    assert_eq!(
        recs(&out),
        vec![
            rec(1, "can1", fd(xid(0xABCDE), &data[..32], FdFlags::BRS), TX),
            rec(
                2,
                "can0",
                Frame::Remote(RemoteFrame::new(sid(5), 2).unwrap()),
                RX
            ),
        ]
    );
}

#[test]
fn test_parse_error_frames() {
    let details = [1, 2, 3, 4, 5, 6, 7, 8];
    let objects = cat(&[
        // python-can's convention: the SocketCAN class in the id, the details in the data.
        obj(
            ot::CAN_ERROR_EXT,
            1,
            &error_ext_body(1, 0, 0, 0x0000_0044, 0, &details),
        ),
        // ... with this module's direction bits.
        obj(
            ot::CAN_ERROR_EXT,
            2,
            &error_ext_body(2, 0, 0, 0x0000_0004, 0x3000, &details),
        ),
        // CAN-Core: stuff error (code 2) on Rx.
        obj(
            ot::CAN_ERROR_EXT,
            3,
            &error_ext_body(1, 2, 0, 0x123, (2 << 6) | 0x2000, &[]),
        ),
        // CAN-Core: CRC error (code 4) on Tx.
        obj(
            ot::CAN_ERROR_EXT,
            4,
            &error_ext_body(1, 2, 0, 0x123, (4 << 6) | 0x3000, &[]),
        ),
        // CAN-Core: not acknowledged (Tx NAK).
        obj(
            ot::CAN_ERROR_EXT,
            5,
            &error_ext_body(1, 2, 0, 0x123, 0x1000, &[]),
        ),
        // SJA1000: form error in segment 0x18 (CRC delimiter), Rx.
        obj(
            ot::CAN_ERROR_EXT,
            6,
            &error_ext_body(1, 1, 0x40 | 0x20 | 0x18, 0, 0, &[]),
        ),
        // Only the frame length valid: no details.
        obj(ot::CAN_ERROR_EXT, 7, &error_ext_body(1, 8, 0, 0x55, 0, &[])),
        // CAN_ERROR and CAN_OVERLOAD.
        obj(ot::CAN_ERROR, 8, &[3, 0, 0, 0]),
        obj(ot::CAN_OVERLOAD, 9, &[1, 0, 0, 0]),
    ]);
    let mut fd_error = vec![0u8; 44];
    fd_error[0] = 2;
    fd_error[4] = 2; // CAN-Core valid
    fd_error[6..8].copy_from_slice(&0x3000u16.to_le_bytes()); // bit error (code 0), Tx
    let mut fd_error_plain = vec![0u8; 44];
    fd_error_plain[0] = 1;
    let objects = cat(&[
        objects,
        obj(ot::CAN_FD_ERROR_64, 10, &fd_error),
        obj(ot::CAN_FD_ERROR_64, 11, &fd_error_plain),
    ]);
    let (out, end, _) = read(&blf([0; 8], &[zcontainer(&objects)]));
    assert_eq!(end, None);
    let busy = can_err::PROT | can_err::BUSERROR;
    assert_eq!(
        recs(&out),
        vec![
            rec(1, "can0", err_frame(0x44, details), None),
            rec(2, "can1", err_frame(0x04, details), TX),
            rec(3, "can0", err_frame(busy, [0, 0, 0x04, 0, 0, 0, 0, 0]), RX),
            rec(
                4,
                "can0",
                err_frame(busy, [0, 0, 0x80, 0x08, 0, 0, 0, 0]),
                TX
            ),
            rec(
                5,
                "can0",
                err_frame(
                    can_err::ACK | can_err::BUSERROR,
                    [0, 0, 0x80, 0x19, 0, 0, 0, 0]
                ),
                TX
            ),
            rec(
                6,
                "can0",
                err_frame(busy, [0, 0, 0x02, 0x18, 0, 0, 0, 0]),
                RX
            ),
            rec(7, "can0", err_frame(UNSPECIFIED_ERROR_CLASS, [0; 8]), None),
            rec(8, "can2", err_frame(UNSPECIFIED_ERROR_CLASS, [0; 8]), None),
            rec(
                9,
                "can0",
                err_frame(can_err::PROT, [0, 0, 0x20, 0, 0, 0, 0, 0]),
                None
            ),
            rec(10, "can1", err_frame(busy, [0, 0, 0x81, 0, 0, 0, 0, 0]), TX),
            rec(11, "can0", err_frame(UNSPECIFIED_ERROR_CLASS, [0; 8]), None),
        ]
    );
}

#[test]
fn test_parse_text_objects() {
    let mut app = Vec::new();
    app.extend_from_slice(&1u32.to_le_bytes()); // source: channel info
    app.extend_from_slice(&0x0001_0101u32.to_le_bytes());
    app.extend_from_slice(&22u32.to_le_bytes());
    app.extend_from_slice(&0u32.to_le_bytes());
    app.extend_from_slice(b"C:\\car\\body.dbc;Body\0\0\0");
    let mut comment = Vec::new();
    comment.extend_from_slice(&0u32.to_le_bytes());
    comment.extend_from_slice(&6u32.to_le_bytes());
    comment.extend_from_slice(&0u64.to_le_bytes());
    comment.extend_from_slice(b"M\xFCnzen");
    let mut marker = vec![0u8; 16];
    marker.extend_from_slice(&5u32.to_le_bytes());
    marker.extend_from_slice(&4u32.to_le_bytes());
    marker.extend_from_slice(&0u32.to_le_bytes());
    marker.extend_from_slice(&[0; 12]);
    marker.extend_from_slice(b"groupmark");
    let objects = cat(&[
        obj(ot::APP_TEXT, 0, &app),
        obj(ot::EVENT_COMMENT, 0, &comment),
        obj(ot::GLOBAL_MARKER, 0, &marker),
    ]);
    let (out, end, stats) = read(&blf([0; 8], &[zcontainer(&objects)]));
    assert_eq!(end, None);
    assert_eq!(
        out,
        vec![
            Out::Other("C:\\car\\body.dbc;Body".into()),
            Out::Other("Münzen".into()),
            Out::Other("group: mark".into()),
        ]
    );
    assert_eq!(stats.other, 3);
}

#[test]
fn test_parse_other_objects_are_skipped_with_a_name() {
    let objects = cat(&[
        obj(11, 0, &[0; 20]),
        obj(71, 0, &[0; 40]),
        obj(4, 0, &[0; 40]),
        obj(999, 0, &[]),
        obj(115, 0, &[0; 24]),
        can_msg(1, 0x1, &[], 1),
    ]);
    let (out, end, stats) = read(&blf([0; 8], &[zcontainer(&objects)]));
    assert_eq!(end, None);
    assert_eq!(
        out[..5],
        [
            Out::Skipped("LIN message".into()),
            Out::Skipped("Ethernet event".into()),
            Out::Skipped("CAN driver statistics".into()),
            Out::Skipped("BLF object of an unknown type".into()),
            Out::Skipped("restore point index".into()),
        ]
    );
    assert_eq!((stats.skipped, stats.records), (5, 1));
}

#[test]
fn test_parse_short_objects_are_bad_and_reading_goes_on() {
    let objects = cat(&[
        obj(ot::CAN_MESSAGE, 1, &[1, 0, 0, 8, 0, 0, 0, 0, 1, 2]),
        obj(ot::CAN_FD_MESSAGE_64, 2, &[0; 20]),
        obj(ot::CAN_ERROR_EXT, 3, &[0; 4]),
        can_msg(1, 0x1, &[], 4),
    ]);
    let (out, _, stats) = read(&blf([0; 8], &[zcontainer(&objects)]));
    assert!(matches!(
        out[0],
        Out::Bad(
            ErrorKind::ObjectTooShort {
                what: "CAN message",
                size: 42
            },
            Location::Inner { offset: 0, .. }
        )
    ));
    assert!(matches!(
        out[1],
        Out::Bad(ErrorKind::ObjectTooShort { .. }, _)
    ));
    assert!(matches!(
        out[2],
        Out::Bad(ErrorKind::ObjectTooShort { .. }, _)
    ));
    assert_eq!(stats.records, 1);
}

// ---------------------------------------------------------------------------------------------
// Containers, padding, damage

fn numbered(n: u32, from: u32) -> Vec<Vec<u8>> {
    (from..from + n)
        .map(|i| can_msg(1, i & 0x7FF, &i.to_le_bytes(), u64::from(i)))
        .collect()
}

fn numbered_frames(n: u32, from: u32) -> Vec<Frame> {
    (from..from + n)
        .map(|i| classic(sid((i & 0x7FF) as u16), &i.to_le_bytes()))
        .collect()
}

#[test]
fn test_parse_uncompressed_container() {
    let f = blf([0; 8], &[rawcontainer(&cat(&numbered(3, 0)))]);
    let (out, end, _) = read(&f);
    assert_eq!(end, None);
    assert_eq!(frames(&out), numbered_frames(3, 0));
}

#[test]
fn test_parse_objects_straddling_containers() {
    let stream = cat(&numbered(10, 0));
    // Cut inside a signature, inside a base header, inside a body; compressed and not.
    let cuts = [2usize, 48 + 10, 96 + 40, 250, 400];
    let mut parts = Vec::new();
    let mut from = 0;
    for (i, &c) in cuts.iter().enumerate() {
        let chunk = &stream[from..c];
        parts.push(if i % 2 == 0 {
            zcontainer(chunk)
        } else {
            rawcontainer(chunk)
        });
        from = c;
    }
    parts.push(zcontainer(&stream[from..]));
    let (out, end, stats) = read(&blf([0; 8], &parts));
    assert_eq!(end, None);
    assert_eq!(frames(&out), numbered_frames(10, 0));
    assert_eq!(stats.bad, 0);
}

#[test]
fn test_parse_objects_outside_containers() {
    let stream = cat(&numbered(4, 0));
    let mut text = Vec::new();
    text.extend_from_slice(&2u32.to_le_bytes());
    text.extend_from_slice(&0u32.to_le_bytes());
    text.extend_from_slice(&4u32.to_le_bytes());
    text.extend_from_slice(&0u32.to_le_bytes());
    text.extend_from_slice(b"meta");
    let f = blf(
        [0; 8],
        &[
            obj(ot::APP_TEXT, 0, &text),
            zcontainer(&stream[..70]),
            // A lone object while the second CAN message straddles two containers.
            can_msg(5, 0x77, &[7], 77),
            zcontainer(&stream[70..]),
            can_msg(5, 0x78, &[8], 78),
        ],
    );
    let (out, end, stats) = read(&f);
    assert_eq!(end, None);
    assert_eq!(out[0], Out::Other("meta".into()));
    let mut expected = numbered_frames(1, 0);
    expected.push(classic(sid(0x77), &[7]));
    expected.extend(numbered_frames(3, 1));
    expected.push(classic(sid(0x78), &[8]));
    assert_eq!(frames(&out), expected);
    assert_eq!(stats.bad, 0);
    // Errors in a lone object name its file offset.
    let lone = obj(ot::CAN_MESSAGE, 0, &can_body(1, 0, 1, 0x900, [0; 8]));
    let f = blf([0; 8], &[lone]);
    let (out, _, _) = read(&f);
    assert_eq!(
        out,
        vec![Out::Bad(
            ErrorKind::StandardId(0x900),
            Location::Offset(144)
        )]
    );
}

#[test]
fn test_parse_padding_variants_and_garbage() {
    let a = can_msg(1, 1, &[1], 1);
    let b = can_msg(1, 2, &[2], 2);
    let mut odd = obj(200, 0, &[0xAB; 3]); // 35 bytes
    let mut stream = Vec::new();
    stream.extend_from_slice(&a);
    stream.extend_from_slice(&odd); // no padding
    stream.extend_from_slice(&odd);
    stream.extend_from_slice(&[0; 3]); // size % 4 = 3 bytes
    odd.push(0); // padded to 36
    stream.extend_from_slice(&odd);
    stream.extend_from_slice(&b);
    let garbage_at = stream.len();
    stream.extend_from_slice(b"junk junk");
    stream.extend_from_slice(&a);
    let f = blf([0; 8], &[zcontainer(&stream)]);
    let (out, end, stats) = read(&f);
    assert_eq!(end, None);
    assert_eq!(
        frames(&out),
        vec![
            classic(sid(1), &[1]),
            classic(sid(2), &[2]),
            classic(sid(1), &[1])
        ]
    );
    assert_eq!(stats.skipped, 3);
    assert!(out.iter().any(|o| matches!(o,
        Out::Bad(ErrorKind::Garbage(9), Location::Inner { container: 144, offset }) if *offset == garbage_at as u64)));
    assert_eq!(stats.bad, 1);
}

#[test]
fn test_parse_garbage_between_containers_is_reported() {
    let first = zcontainer(&cat(&numbered(2, 0)));
    let size = u64::from(u32_at(&first, 8));
    let mut f = blf([0; 8], &[first]);
    f.extend_from_slice(&[0xFF; 10]);
    f.extend_from_slice(&zcontainer(&cat(&numbered(2, 2))));
    let (out, end, _) = read(&f);
    assert_eq!(end, None);
    assert_eq!(frames(&out), numbered_frames(4, 0));
    // The container's padding (size % 4 bytes) is counted with the garbage after it.
    assert!(out.contains(&Out::Bad(
        ErrorKind::Garbage(10 + size % 4),
        Location::Offset(144 + size)
    )));
    // Trailing garbage at the end of the file.
    let mut f = blf([0; 8], &[zcontainer(&cat(&numbered(2, 0)))]);
    f.extend_from_slice(b"trailing");
    let (out, end, _) = read(&f);
    assert_eq!(end, None);
    assert!(matches!(out.last(), Some(Out::Bad(ErrorKind::Garbage(n), _)) if (8..=11).contains(n)));
    // Zero padding at the end is not garbage.
    let mut f = blf([0; 8], &[zcontainer(&cat(&numbered(2, 0)))]);
    f.extend_from_slice(&[0; 3]);
    let (out, end, _) = read(&f);
    assert_eq!((out.len(), end), (2, None));
}

#[test]
fn test_parse_truncated_container_delivers_complete_objects_then_an_error() {
    let data = cat(&numbered(50, 0));
    for (make, name) in [
        (zcontainer as fn(&[u8]) -> Vec<u8>, "zlib"),
        (rawcontainer, "raw"),
    ] {
        let first = make(&cat(&numbered(3, 100)));
        let c = make(&data);
        let at = (144 + first.len()) as u64;
        let mut f = blf([0; 8], &[first, c]);
        f.truncate(f.len() - 30);
        let (out, end, _) = read(&f);
        assert_eq!(
            end,
            Some((
                ErrorKind::Truncated("a log container"),
                Location::Offset(at)
            )),
            "{name}"
        );
        let got = frames(&out);
        assert!(
            got.len() > 3 + 30,
            "{name}: complete objects delivered: {}",
            got.len()
        );
        let mut expected = numbered_frames(3, 100);
        expected.extend(numbered_frames(50, 0));
        assert_eq!(got[..], expected[..got.len()], "{name}");
        assert!(out.iter().all(|o| matches!(o, Out::Rec(_))), "{name}");
    }
}

#[test]
fn test_parse_truncated_object_at_the_end_of_the_data() {
    let stream = cat(&numbered(3, 0));
    let f = blf([0; 8], &[zcontainer(&stream[..120])]);
    let (out, end, _) = read(&f);
    assert_eq!(frames(&out), numbered_frames(2, 0));
    assert_eq!(
        end,
        Some((
            ErrorKind::Truncated("an object"),
            Location::Inner {
                container: 144,
                offset: 96
            }
        ))
    );
    // A file cut inside a file-level object header.
    let mut f = blf([0; 8], &[zcontainer(&stream)]);
    let at = f.len() as u64;
    f.extend_from_slice(&zcontainer(&stream)[..10]);
    let (out, end, _) = read(&f);
    assert_eq!(frames(&out).len(), 3);
    assert_eq!(
        end,
        Some((
            ErrorKind::Truncated("an object header"),
            Location::Offset(at)
        ))
    );
}

/// A zlib stream of stored blocks, the second with a broken length check.
fn broken_zlib(first: &[u8], second: &[u8]) -> Vec<u8> {
    let mut z = vec![0x78, 0x01];
    z.push(0x00); // stored, not final
    z.extend_from_slice(&(first.len() as u16).to_le_bytes());
    z.extend_from_slice(&(!(first.len() as u16)).to_le_bytes());
    z.extend_from_slice(first);
    z.push(0x01); // stored, final
    z.extend_from_slice(&(second.len() as u16).to_le_bytes());
    z.extend_from_slice(&(second.len() as u16).to_le_bytes()); // should be its complement
    z.extend_from_slice(second);
    z
}

#[test]
fn test_parse_corrupt_zlib_delivers_objects_before_the_damage_then_goes_on() {
    let stream = cat(&numbered(20, 0));
    // Damage after 10 objects and a half; the next container continues mid-object.
    let broken = container_with(
        COMPRESSION_ZLIB,
        &broken_zlib(&stream[..500], &stream[500..700]),
        700,
    );
    let f = blf(
        [0; 8],
        &[
            zcontainer(&cat(&numbered(2, 100))),
            broken,
            zcontainer(&stream[700..]),
        ],
    );
    let container_at = 144 + zcontainer(&cat(&numbered(2, 100))).len() as u64;
    let (out, end, stats) = read(&f);
    assert_eq!(end, None);
    let position = out
        .iter()
        .position(|o| matches!(o, Out::Bad(..)))
        .expect("the damage is reported");
    assert!(matches!(
        &out[position],
        Out::Bad(ErrorKind::Zlib(_), Location::Offset(at)) if *at == container_at
    ));
    let mut before = numbered_frames(2, 100);
    before.extend(numbered_frames(10, 0));
    assert_eq!(frames(&out[..position]), before);
    // After the damage: the objects that start in the next container (700 / 48 -> 15 on).
    assert_eq!(frames(&out[position + 1..]), numbered_frames(5, 15));
    assert_eq!(stats.bad, 1);
}

#[test]
fn test_parse_bad_containers() {
    // Unknown compression method, then a good container.
    let f = blf(
        [0; 8],
        &[
            container_with(7, &[1, 2, 3, 4], 4),
            zcontainer(&cat(&numbered(1, 0))),
        ],
    );
    let (out, _, _) = read(&f);
    assert_eq!(
        out[0],
        Out::Bad(ErrorKind::Compression(7), Location::Offset(144))
    );
    assert_eq!(frames(&out), numbered_frames(1, 0));
    // A declared size that differs from the data.
    let data = cat(&numbered(1, 0));
    let f = blf(
        [0; 8],
        &[container_with(COMPRESSION_ZLIB, &zlib(&data), 4096)],
    );
    let (out, _, _) = read(&f);
    assert!(out.contains(&Out::Bad(
        ErrorKind::ContainerSize {
            declared: 4096,
            actual: 48
        },
        Location::Offset(144)
    )));
    assert_eq!(frames(&out), numbered_frames(1, 0));
    // A container inside a container.
    let inner = zcontainer(&cat(&numbered(1, 0)));
    let f = blf([0; 8], &[zcontainer(&inner)]);
    let (out, _, _) = read(&f);
    assert!(matches!(out[0], Out::Bad(ErrorKind::NestedContainer, _)));
    // An object whose size is smaller than its header: reported, reading goes on.
    let mut broken = can_msg(1, 1, &[1], 1);
    broken[8..12].copy_from_slice(&8u32.to_le_bytes());
    let f = blf(
        [0; 8],
        &[zcontainer(&cat(&[broken, can_msg(1, 2, &[2], 2)]))],
    );
    let (out, _, _) = read(&f);
    assert!(matches!(
        out[0],
        Out::Bad(
            ErrorKind::ObjectHeader {
                header: 32,
                size: 8
            },
            _
        )
    ));
    assert_eq!(frames(&out), vec![classic(sid(2), &[2])]);
}

// ---------------------------------------------------------------------------------------------
// Writer

fn owned(nanos: u64, iface: &str, frame: Frame, dir: Option<Direction>) -> OwnedRecord {
    rec(nanos, iface, frame, dir)
}

fn write_all(records: &[OwnedRecord], options: WriteOptions) -> (Vec<u8>, Vec<Loss>) {
    let mut w = Writer::with_options(Cursor::new(Vec::new()), options);
    for r in records {
        w.write_record(&r.as_record()).unwrap();
    }
    FrameWriter::finish(&mut w).unwrap();
    let losses = w.losses().to_vec();
    (w.into_inner().into_inner(), losses)
}

/// The objects of a file written with uncompressed containers, as one stream.
fn object_stream(file: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut p = 144;
    while p + 32 <= file.len() {
        assert_eq!(&file[p..p + 4], b"LOBJ");
        let size = u32_at(file, p + 8) as usize;
        assert_eq!(u32_at(file, p + 12), ot::LOG_CONTAINER);
        assert_eq!(u16_at(file, p + 16), COMPRESSION_NONE);
        out.extend_from_slice(&file[p + 32..p + size]);
        p += size + size % 4;
    }
    assert_eq!(p, file.len());
    out
}

const RAW: WriteOptions = WriteOptions {
    compression: None,
    classic_object: ClassicObject::CanMessage,
    container_size: DEFAULT_CONTAINER_SIZE,
};

#[test]
fn test_emit_can_message_bytes() {
    let t = START_NANOS + 1_234_567;
    let (file, losses) = write_all(
        &[owned(t, "can1", classic(xid(0x1234_5678), &[1, 2, 3]), TX)],
        RAW,
    );
    assert!(losses.is_empty());
    let o = object_stream(&file);
    let mut expected = Vec::new();
    expected.extend_from_slice(b"LOBJ");
    expected.extend_from_slice(&[32, 0, 1, 0, 48, 0, 0, 0, 1, 0, 0, 0]);
    expected.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]); // nanoseconds; client, version
    // The start is the first record's millisecond, 14:09:40.223.
    expected.extend_from_slice(&234_567u64.to_le_bytes());
    expected.extend_from_slice(&[2, 0, 1, 3]); // channel 2, Tx, DLC 3
    expected.extend_from_slice(&(0x8000_0000u32 | 0x1234_5678).to_le_bytes());
    expected.extend_from_slice(&[1, 2, 3, 0, 0, 0, 0, 0]);
    assert_eq!(o, expected);
}

#[test]
fn test_emit_can_message2_remote_and_raw_dlc() {
    let options = WriteOptions {
        classic_object: ClassicObject::CanMessage2,
        ..RAW
    };
    let (file, _) = write_all(
        &[
            owned(
                5,
                "can0",
                Frame::Remote(RemoteFrame::with_raw_dlc(sid(0x10), 12).unwrap()),
                RX,
            ),
            owned(
                6,
                "can0",
                Frame::Classic(ClassicFrame::with_raw_dlc(sid(0x11), [9; 8], 9).unwrap()),
                RX,
            ),
        ],
        options,
    );
    let o = object_stream(&file);
    assert_eq!(o.len(), 2 * 56);
    assert_eq!(u32_at(&o, 12), ot::CAN_MESSAGE2);
    assert_eq!(&o[32..36], &[1, 0, 0x80, 12]);
    assert_eq!(&o[56 + 32..56 + 36], &[1, 0, 0, 9]);
}

#[test]
fn test_emit_can_fd_message_64_bytes() {
    let data: Vec<u8> = (1..=5).collect();
    let (file, _) = write_all(
        &[owned(
            7,
            "can0",
            fd(sid(0x321), &data, FdFlags::BRS | FdFlags::ESI),
            RX,
        )],
        RAW,
    );
    let o = object_stream(&file);
    assert_eq!(
        o.len(),
        32 + 40 + 8,
        "the data is padded to 4 bytes inside the object"
    );
    assert_eq!(u32_at(&o, 8) as usize, o.len());
    assert_eq!(u32_at(&o, 12), ot::CAN_FD_MESSAGE_64);
    let b = &o[32..];
    assert_eq!(&b[..4], &[1, 5, 5, 0]);
    assert_eq!(u32_at(b, 4), 0x321);
    assert_eq!(u32_at(b, 12), 0x7000);
    assert_eq!((b[34], b[35]), (0, 0));
    assert_eq!(&b[40..48], &[1, 2, 3, 4, 5, 0, 0, 0]);
}

#[test]
fn test_emit_can_error_ext_bytes() {
    let (file, _) = write_all(
        &[owned(
            7,
            "can0",
            err_frame(0x0000_0044, [0, 4, 0, 0, 0, 0, 0, 0]),
            TX,
        )],
        RAW,
    );
    let o = object_stream(&file);
    assert_eq!(o.len(), 64);
    assert_eq!(u32_at(&o, 12), ot::CAN_ERROR_EXT);
    let b = &o[32..];
    assert_eq!(u16_at(b, 0), 1, "channel");
    assert_eq!(u32_at(b, 4), 0, "no Vector detail valid");
    assert_eq!(b[10], 8, "DLC");
    assert_eq!(u32_at(b, 16), 0x44, "the class in the id field");
    assert_eq!(u16_at(b, 20), 0x3000, "Tx");
    assert_eq!(&b[24..32], &[0, 4, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn test_emit_file_header_statistics_on_a_seekable_output() {
    let records: Vec<_> = (0..1000u64)
        .map(|i| {
            owned(
                START_NANOS + 500_000 + i * 1_000_000,
                "can0",
                classic(sid(1), &[1]),
                RX,
            )
        })
        .collect();
    let options = WriteOptions {
        container_size: 4096,
        ..WriteOptions::default()
    };
    let (file, _) = write_all(&records, options);
    let h = FileHeader::parse(&file);
    assert_eq!(&file[..4], b"LOGG");
    assert_eq!(h.header_size, 144);
    assert_eq!(h.api_number, API_NUMBER);
    assert_eq!(h.compression_level, 6);
    assert_eq!(h.file_size, file.len() as u64);
    let containers = (1000usize * 48).div_ceil(4096) as u64;
    assert_eq!(h.uncompressed_size, 144 + 1000 * 48 + containers * 32);
    assert_eq!(h.object_count, 1000);
    assert_eq!(h.start, SystemTime(START), "the first record's millisecond");
    assert_eq!(
        h.end.to_unix_nanos(),
        Some(START_NANOS + 999_000_000),
        "the last record's millisecond"
    );
    // Every object reads back, with its timestamp to the nanosecond.
    let (out, end, _) = read(&file);
    assert_eq!(end, None);
    assert_eq!(records_of(&out), records);
}

fn records_of(out: &[Out]) -> Vec<OwnedRecord> {
    recs(out)
}

#[test]
fn test_emit_streaming_header_has_zero_statistics() {
    let mut w = Writer::streaming(Vec::new());
    w.write_record(&owned(START_NANOS + 5, "can0", classic(sid(1), &[]), RX).as_record())
        .unwrap();
    FrameWriter::flush(&mut w).unwrap();
    let flushed = w.get_ref().len();
    assert!(flushed > 144, "flush writes a container");
    FrameWriter::finish(&mut w).unwrap();
    let file = w.into_inner();
    assert_eq!(file.len(), flushed, "nothing left to write");
    let h = FileHeader::parse(&file);
    assert_eq!(
        (h.file_size, h.uncompressed_size, h.object_count),
        (0, 0, 0)
    );
    assert_eq!(h.start, SystemTime(START));
    assert!(h.end.is_zero());
    let (out, end, _) = read(&file);
    assert_eq!(end, None);
    assert_eq!(recs(&out)[0].timestamp.as_nanos(), START_NANOS + 5);
}

#[test]
fn test_emit_objects_split_across_containers() {
    let records: Vec<_> = (0..100u64)
        .map(|i| owned(i, "can0", classic(sid(1), &[i as u8]), RX))
        .collect();
    let options = WriteOptions {
        container_size: 100,
        ..RAW
    };
    let (file, _) = write_all(&records, options);
    let stream = object_stream(&file);
    assert_eq!(
        stream.len(),
        100 * 48,
        "containers of 100 bytes hold split objects"
    );
    let (out, end, _) = read(&file);
    assert_eq!(end, None);
    assert_eq!(recs(&out), records);
}

#[test]
fn test_emit_losses_direction_early_timestamps_and_channels() {
    let (file, losses) = write_all(
        &[
            owned(START_NANOS + 10, "can0", classic(sid(1), &[]), None),
            owned(START_NANOS - 5_000_000, "can0", classic(sid(2), &[]), RX),
            owned(START_NANOS + 20, "can70000", classic(sid(3), &[]), RX),
        ],
        RAW,
    );
    assert_eq!(
        losses,
        vec![
            Loss {
                what: LOSS_DIRECTION,
                count: 1,
                dropped: false
            },
            Loss {
                what: LOSS_EARLY,
                count: 1,
                dropped: false
            },
            Loss {
                what: LOSS_CHANNEL,
                count: 1,
                dropped: true
            },
        ]
    );
    let (out, _, _) = read(&file);
    assert_eq!(
        recs(&out),
        vec![
            rec(START_NANOS + 10, "can0", classic(sid(1), &[]), RX),
            rec(START_NANOS, "can0", classic(sid(2), &[]), RX),
        ]
    );
}

#[test]
fn test_emit_relative_capture_keeps_its_timestamps() {
    let records = vec![
        owned(1_500, "can0", classic(sid(1), &[]), RX),
        owned(60_000_000_123, "vcan7", classic(sid(2), &[]), TX),
    ];
    let (file, _) = write_all(&records, WriteOptions::default());
    assert!(FileHeader::parse(&file).start.is_zero());
    let (out, _, _) = read(&file);
    let back = recs(&out);
    assert_eq!(back[0], records[0]);
    assert_eq!(back[1].timestamp, records[1].timestamp);
    assert_eq!(back[1].interface, "can1", "vcan7 took channel 2");
}

#[test]
fn test_emit_fd_frame_on_a_channel_above_255_uses_can_fd_message() {
    let records = vec![owned(
        9,
        "can299",
        fd(xid(0x1F), &[0xA5; 48], FdFlags::BRS),
        TX,
    )];
    let (file, _) = write_all(&records, RAW);
    let o = object_stream(&file);
    assert_eq!(u32_at(&o, 12), ot::CAN_FD_MESSAGE);
    assert_eq!(o.len(), 32 + 88);
    let (out, _, _) = read(&file);
    assert_eq!(recs(&out), records);
}

#[test]
fn test_write_after_finish_is_an_error() {
    let mut w = Writer::new(Cursor::new(Vec::new()));
    FrameWriter::finish(&mut w).unwrap();
    FrameWriter::finish(&mut w).unwrap();
    let r = owned(1, "can0", classic(sid(1), &[]), RX);
    assert!(w.write_record(&r.as_record()).is_err());
    let file = w.into_inner().into_inner();
    assert_eq!(file.len(), 144, "an empty capture is a header");
    let (out, end, _) = read(&file);
    assert!(out.is_empty() && end.is_none());
}

/// A capture of 100k frames streams through the reader with its buffer bounded by one
/// container (plus one object), whatever the file size.
#[test]
fn test_long_capture_streams_with_flat_memory() {
    let n = 100_000u64;
    let mut w = Writer::new(Cursor::new(Vec::new()));
    for i in 0..n {
        let r = owned(
            START_NANOS + i * 100_000,
            if i % 2 == 0 { "can0" } else { "can1" },
            classic(sid((i % 0x800) as u16), &i.to_le_bytes()),
            RX,
        );
        w.write_record(&r.as_record()).unwrap();
    }
    FrameWriter::finish(&mut w).unwrap();
    let file = w.into_inner().into_inner();
    let mut r = Reader::new(file.as_slice());
    let mut count = 0u64;
    let mut max_capacity = 0;
    while let Some(item) = r.read_item().unwrap() {
        if let Item::Record(rec) = item {
            assert_eq!(rec.frame.data(), &count.to_le_bytes());
            count += 1;
        }
        max_capacity = max_capacity.max(r.buf.len());
    }
    assert_eq!(count, n);
    assert!(
        max_capacity <= 2 * DEFAULT_CONTAINER_SIZE,
        "buffer capacity {max_capacity}"
    );
}

// ---------------------------------------------------------------------------------------------
// Properties

fn arb_record() -> impl Strategy<Value = OwnedRecord> {
    (
        crate::frame::arb::frame(),
        0u64..2_000_000_000,
        prop_oneof![Just("can0"), Just("can1"), Just("can3"), Just("vcan9")],
        prop_oneof![Just(Direction::Rx), Just(Direction::Tx)],
    )
        .prop_map(|(frame, offset, iface, dir)| OwnedRecord {
            timestamp: Timestamp::from_nanos(offset),
            precision: Precision::Nanos,
            interface: iface.to_owned(),
            frame,
            direction: Some(dir),
        })
}

/// What reading back gives: FD frames with FDF set (BLF's EDL), interface names by channel.
fn normalized(r: &OwnedRecord, map: &mut ChannelMap) -> OwnedRecord {
    let mut r = without_flag_8(r);
    if let Frame::Fd(f) = r.frame {
        let bits = f.flags().bits() | FdFlags::FDF;
        r.frame =
            Frame::Fd(FdFrame::new(f.id(), f.data(), FdFlags::from_bits(bits).unwrap()).unwrap());
    }
    r.interface = channel_interface(map.channel(&r.interface));
    r
}

/// The record without the undefined CAN FD flag bit 0x8 (counted as a loss: see
/// `test_emit_undefined_fd_flag_is_a_loss`).
fn without_flag_8(r: &OwnedRecord) -> OwnedRecord {
    let mut r = r.clone();
    if let Frame::Fd(f) = r.frame {
        let bits = f.flags().bits() & !0x8;
        r.frame =
            Frame::Fd(FdFrame::new(f.id(), f.data(), FdFlags::from_bits(bits).unwrap()).unwrap());
    }
    r
}

#[test]
fn test_emit_undefined_fd_flag_is_a_loss() {
    let f = Frame::Fd(FdFrame::new(sid(1), &[1], FdFlags::from_bits(0xD).unwrap()).unwrap());
    let (file, losses) = write_all(&[owned(1, "can0", f, RX)], RAW);
    assert_eq!(
        losses,
        vec![Loss {
            what: LOSS_FD_FLAG,
            count: 1,
            dropped: false
        }]
    );
    let (out, _, _) = read(&file);
    assert_eq!(frames(&out), vec![fd(sid(1), &[1], FdFlags::BRS)]);
}

proptest! {
    #[test]
    fn test_roundtrip_write_then_read(
        mut records in proptest::collection::vec(arb_record(), 1..40),
        absolute in any::<bool>(),
        compressed in any::<bool>(),
        message2 in any::<bool>(),
        container_size in prop_oneof![Just(DEFAULT_CONTAINER_SIZE), 1usize..300],
        streaming in any::<bool>(),
    ) {
        // Timestamps in order from the first, on an absolute or relative time line.
        let base = if absolute { START_NANOS } else { 0 };
        records.sort_by_key(|r| r.timestamp);
        records = records.iter().map(without_flag_8).collect();
        for r in &mut records {
            r.timestamp = Timestamp::from_nanos(base + r.timestamp.as_nanos());
        }
        let options = WriteOptions {
            compression: compressed.then_some(6),
            classic_object: if message2 { ClassicObject::CanMessage2 } else { ClassicObject::CanMessage },
            container_size,
        };
        let file = if streaming {
            let mut w = Writer::streaming_with_options(Vec::new(), options);
            for r in &records {
                w.write_record(&r.as_record()).unwrap();
            }
            FrameWriter::finish(&mut w).unwrap();
            prop_assert!(w.losses().is_empty());
            w.into_inner()
        } else {
            let (file, losses) = write_all(&records, options);
            prop_assert!(losses.is_empty());
            file
        };
        let (out, end, stats) = read_with_cap(&file, 4096);
        prop_assert_eq!(end, None);
        prop_assert_eq!(stats.bad, 0);
        let mut map = ChannelMap::new();
        let expected: Vec<_> = records.iter().map(|r| normalized(r, &mut map)).collect();
        // The measurement start is the first record's millisecond; timestamps are exact.
        prop_assert_eq!(recs(&out), expected);
    }

    #[test]
    fn test_reader_never_panics(input in proptest::collection::vec(any::<u8>(), 0..3000), cap in 1usize..64) {
        let mut bytes = file_header(START);
        bytes.extend_from_slice(&input);
        let (out, _, stats) = read_with_cap(&bytes, cap);
        prop_assert_eq!(out.len() as u64, stats.records + stats.other + stats.skipped + stats.bad);
    }

    #[test]
    fn test_reader_never_panics_on_damaged_files(
        records in proptest::collection::vec(arb_record(), 1..30),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        compressed in any::<bool>(),
    ) {
        let options = WriteOptions { compression: compressed.then_some(6), container_size: 200, ..RAW };
        let (mut file, _) = write_all(&records, options);
        for (at, byte) in flips {
            let i = at.index(file.len());
            file[i] ^= byte;
        }
        file.truncate(144 + cut.index(file.len() - 143));
        let (out, _, stats) = read_with_cap(&file, 17);
        prop_assert_eq!(out.len() as u64, stats.records + stats.other + stats.skipped + stats.bad);
        prop_assert!(stats.records <= records.len() as u64 + 64);
    }
}

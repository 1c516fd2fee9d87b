//! Unit tests of the python-can CSV reader and writer.

use super::*;
use crate::log::OwnedRecord;
use proptest::prelude::*;
use std::io::{BufReader, Cursor};

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

fn xid(raw: u32) -> Id {
    Id::extended(raw).unwrap()
}

fn at(secs: u64, nanos: u32) -> Timestamp {
    Timestamp::from_secs_nanos(secs, nanos).unwrap()
}

#[derive(Debug, Default)]
struct Read {
    records: Vec<OwnedRecord>,
    other: Vec<String>,
    bad: Vec<String>,
}

fn read(text: &str) -> (Read, Stats) {
    let mut r = Reader::new(Cursor::new(text.as_bytes().to_vec()));
    let mut out = Read::default();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Record(rec) => out.records.push(rec.to_owned_record()),
            Item::Other(s) => out.other.push(s.to_owned()),
            Item::Skipped(s) => panic!("skipped {s}"),
            Item::Bad(e) => out.bad.push(e.to_string()),
        }
    }
    (out, r.stats())
}

/// `column: message` of one bad row.
fn bad(line: &str) -> String {
    let mut r = Reader::new(line.as_bytes());
    match r.read_item().unwrap() {
        Some(Item::Bad(ReadError::Format(e))) => match e.location {
            Location::Line { column, .. } => format!("{column}: {}", e.kind),
            other => panic!("{other:?}"),
        },
        other => panic!("{line:?} read as {other:?}"),
    }
}

fn ts_of(text: &str) -> (Timestamp, Precision) {
    parse_timestamp(text.as_bytes(), 0).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
}

#[test]
fn test_parse_timestamps_exactly() {
    assert_eq!(
        ts_of("1700000000.123456"),
        (at(1_700_000_000, 123_456_000), Precision::Micros)
    );
    assert_eq!(
        ts_of("1700000000.1234567"),
        (at(1_700_000_000, 123_456_700), Precision::Nanos)
    );
    assert_eq!(ts_of("0.0"), (at(0, 0), Precision::Micros));
    assert_eq!(ts_of("12"), (at(12, 0), Precision::Micros));
    assert_eq!(ts_of("5."), (at(5, 0), Precision::Micros));
    assert_eq!(ts_of(".5"), (at(0, 500_000_000), Precision::Micros));
    assert_eq!(ts_of("+1.5"), (at(1, 500_000_000), Precision::Micros));
    assert_eq!(ts_of("-0.0"), (at(0, 0), Precision::Micros));
    // Python's repr of small and large floats.
    assert_eq!(ts_of("1e-05"), (at(0, 10_000), Precision::Micros));
    assert_eq!(ts_of("1.5e-07"), (at(0, 150), Precision::Nanos));
    assert_eq!(ts_of("1e+09"), (at(1_000_000_000, 0), Precision::Micros));
    assert_eq!(ts_of("1.7e9"), (at(1_700_000_000, 0), Precision::Micros));
    assert_eq!(ts_of("17E-1"), (at(1, 700_000_000), Precision::Micros));
    // Digits below the nanosecond are truncated, not rounded.
    assert_eq!(
        ts_of("0.9999999999"),
        (at(0, 999_999_999), Precision::Nanos)
    );
    assert_eq!(ts_of("1e-400"), (at(0, 0), Precision::Micros));
    // Digits below the nanosecond do not make it a nanosecond time.
    assert_eq!(ts_of("1.0000000001"), (at(1, 0), Precision::Micros));
    assert_eq!(ts_of("0e999999999999"), (at(0, 0), Precision::Micros));
    // What f64 would not keep: 19 significant digits.
    assert_eq!(
        ts_of("1700000000.123456789"),
        (at(1_700_000_000, 123_456_789), Precision::Nanos)
    );
    assert_eq!(ts_of(" 1.5 "), (at(1, 500_000_000), Precision::Micros));
    for bad_ts in [
        "", "-", ".", "e5", "1e", "1e+", "inf", "nan", "1.2.3", "0x10", "1_000", "1 2",
    ] {
        assert_eq!(
            parse_timestamp(bad_ts.as_bytes(), 0).map_err(|e| e.kind),
            Err(ErrorKind::TimestampSyntax),
            "{bad_ts:?}"
        );
    }
    assert_eq!(
        parse_timestamp(b"-1.5", 0).map_err(|e| e.kind),
        Err(ErrorKind::NegativeTimestamp)
    );
    for big in ["18446744074", "1e20", "99999999999999999999999.0"] {
        assert_eq!(
            parse_timestamp(big.as_bytes(), 0).map_err(|e| e.kind),
            Err(ErrorKind::TimestampOutOfRange),
            "{big}"
        );
    }
}

/// Found by fuzzing: digits below the nanosecond made the time "nanosecond precision" though
/// the nanoseconds kept were whole microseconds, so a write and a read changed the precision.
#[test]
fn test_regression_precision_ignores_digits_below_the_nanosecond() {
    let (r, _) = read("1700000000.021700000000224,0x7ff,0,1,0,0,\n");
    let rec = &r.records[0];
    assert_eq!(rec.timestamp, at(1_700_000_000, 21_700_000));
    assert_eq!(rec.precision, Precision::Micros);
    let mut w = Writer::new(Vec::new());
    w.write_record(&rec.as_record()).unwrap();
    let text = String::from_utf8(w.into_inner()).unwrap();
    let (again, _) = read(&text);
    assert_eq!(again.records, r.records);
}

#[test]
fn test_parse_rows_of_every_kind() {
    let (r, stats) = read(concat!(
        "timestamp,arbitration_id,extended,remote,error,dlc,data\n",
        "1700000000.123456,0x123,0,0,0,4,ESIzRA==\n",
        "1700000000.2,0x18daf110,1,0,0,0,\n",
        "1700000000.3,0x7ff,0,1,0,5,\n",
        "1700000000.4,0x1,1,1,0,9,\n",
        "1700000000.5,0x4,0,0,1,8,AAQAAAAAAAA=\r\n",
        "1700000000.6,0x7e8,0,0,0,12,AAECAwQFBgcICQoL\n",
        "1700000000.7,0x7e8,0,0,0,11,AAECAwQFBgcICQoLDA0ODxAREhM=\n",
        "1700000000.8,0x100,0,0,0,11,AAECAwQFBgc=\n",
        "1700000000.9,0x20000080,0,0,1,8,AAAAAAAAAAA=\n",
        "1700000001.0,0x80,1,0,1,0,\n",
        "1700000001.1,0x12,0,1,0,3,AAEC\n",
        "\n",
    ));
    assert!(r.bad.is_empty(), "{:?}", r.bad);
    let fdf = FdFlags::from_bits(FdFlags::FDF).unwrap();
    let frames: Vec<Frame> = r.records.iter().map(|r| r.frame).collect();
    assert_eq!(
        frames,
        [
            Frame::classic(sid(0x123), &[0x11, 0x22, 0x33, 0x44]).unwrap(),
            Frame::classic(xid(0x18DA_F110), &[]).unwrap(),
            Frame::Remote(RemoteFrame::new(sid(0x7FF), 5).unwrap()),
            Frame::Remote(RemoteFrame::with_raw_dlc(xid(1), 9).unwrap()),
            Frame::Error(ErrorFrame::new(4, [0, 4, 0, 0, 0, 0, 0, 0]).unwrap()),
            Frame::Fd(FdFrame::new(sid(0x7E8), &(0..12).collect::<Vec<u8>>(), fdf).unwrap()),
            // The DLC code of a CAN FD length is accepted too.
            Frame::Fd(FdFrame::new(sid(0x7E8), &(0..20).collect::<Vec<u8>>(), fdf).unwrap()),
            // A raw DLC, as python-can's BLF reader passes it through.
            Frame::Classic(
                ClassicFrame::with_raw_dlc(sid(0x100), [0, 1, 2, 3, 4, 5, 6, 7], 11).unwrap()
            ),
            Frame::Error(ErrorFrame::new(0x80, [0; 8]).unwrap()),
            Frame::Error(ErrorFrame::new(0x80, [0; 8]).unwrap()),
            // Remote frames are read without the bytes python-can may leave in them.
            Frame::Remote(RemoteFrame::new(sid(0x12), 3).unwrap()),
        ]
    );
    assert!(
        r.records
            .iter()
            .all(|r| r.interface == "can0" && r.direction.is_none())
    );
    assert_eq!(r.records[0].timestamp, at(1_700_000_000, 123_456_000));
    assert_eq!(r.other, [HEADER, ""]);
    assert_eq!(
        stats,
        Stats {
            records: 11,
            other: 2,
            skipped: 0,
            bad: 0
        }
    );
}

#[test]
fn test_parse_row_errors_with_columns() {
    assert_eq!(
        bad("1,0x1,0,0,0,0"),
        "1: expected 7 comma-separated fields, found 6"
    );
    assert_eq!(
        bad("1,0x1,0,0,0,0,,"),
        "1: expected 7 comma-separated fields, found 8"
    );
    assert_eq!(
        bad("x,0x1,0,0,0,0,"),
        "1: timestamp is not a decimal number of seconds"
    );
    assert_eq!(bad("-1,0x1,0,0,0,0,"), "1: timestamp is negative");
    assert_eq!(
        bad("1,0xg,0,0,0,0,"),
        "5: arbitration id is not hexadecimal (found 'g')"
    );
    assert_eq!(bad("1,,0,0,0,0,"), "3: arbitration id is empty");
    assert_eq!(
        bad("1,0x800,0,0,0,0,"),
        "3: id 0x800 does not fit in 11 bits (extended is 0)"
    );
    assert_eq!(
        bad("1,0x20000000,1,0,0,0,"),
        "3: id 0x20000000 does not fit in 29 bits"
    );
    assert_eq!(
        bad("1,0x100000000,1,0,0,0,"),
        "5: arbitration id does not fit in 32 bits"
    );
    assert_eq!(
        bad("1,0x1,True,0,0,0,"),
        "7: the extended column must be 0 or 1"
    );
    assert_eq!(
        bad("1,0x1,0,1,1,0,"),
        "9: a frame cannot be both remote and an error frame"
    );
    assert_eq!(
        bad("1,0x1,0,0,0,x,"),
        "13: dlc is not a number from 0 to 64"
    );
    assert_eq!(
        bad("1,0x1,0,0,0,65,"),
        "13: dlc is not a number from 0 to 64"
    );
    assert_eq!(
        bad("1,0x1,0,0,0,2,AA=="),
        "13: dlc 2 does not match the 1 data bytes"
    );
    assert_eq!(
        bad("1,0x1,0,0,0,9,AA=="),
        "13: dlc 9 does not match the 1 data bytes"
    );
    assert_eq!(
        bad("1,0x1,0,0,0,13,AAECAwQFBgcICQoL"),
        "13: dlc 13 does not match the 12 data bytes"
    );
    assert_eq!(bad("1,0x1,0,1,0,16,"), "13: remote frame dlc 16 exceeds 15");
    assert_eq!(
        bad("1,0x1,0,0,0,1,A*=="),
        "16: invalid base64 in the data ('*')"
    );
    assert_eq!(
        bad("1,0x1,0,0,0,1,AA="),
        "15: base64 data length is not a multiple of 4"
    );
    assert_eq!(
        bad("1,0x1,0,0,0,1,A==="),
        "16: invalid base64 in the data ('=')"
    );
    assert_eq!(
        bad("1,0x1,0,0,0,1,AA==AA=="),
        "17: invalid base64 in the data ('=')"
    );
    assert_eq!(
        bad(&format!("1,0x1,0,0,0,64,{}", "A".repeat(92))),
        "16: data longer than 64 bytes"
    );
    assert_eq!(
        bad("1,0x1,0,0,0,9,AAECAwQFBgcI"),
        "15: 9 data bytes is not a CAN FD length"
    );
    assert_eq!(
        bad("1,0x4,0,0,1,12,AAECAwQFBgcICQoL"),
        "16: an error frame has at most 8 data bytes, not 12"
    );
    assert_eq!(
        bad("1,0x4,0,0,1,8,AAEC"),
        "13: dlc 8 does not match the 3 data bytes"
    );
}

#[test]
fn test_reader_long_lines_resync_and_names_the_source() {
    let mut text = Vec::new();
    text.extend_from_slice(b"1,0x1,0,0,0,0,\n");
    text.extend_from_slice(&[b'7'; 5000]);
    text.extend_from_slice(b"\n1,0x1,\xff,0,0,0,\n2,0x2,0,0,0,0,");
    let mut r = Reader::new(BufReader::with_capacity(5, &text[..])).with_source_name("cap.csv");
    let mut seen = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        seen.push(match item {
            Item::Record(rec) => format!("{:?}", rec.frame),
            Item::Bad(e) => e.to_string(),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(
        seen,
        [
            "Frame(001#)",
            "cap.csv:2:4097: line longer than 4096 bytes",
            "cap.csv:3:7: the extended column must be 0 or 1",
            "Frame(002#)"
        ]
    );
    assert_eq!(r.stats().bad, 2);
    assert_eq!(r.format(), Format::Csv);
}

#[test]
fn test_sniff_header_only() {
    assert!(sniff(
        b"timestamp,arbitration_id,extended,remote,error,dlc,data\n1,0x1,0,0,0,0,\n"
    ));
    assert!(sniff(
        b"timestamp,arbitration_id,extended,remote,error,dlc,data\r\n"
    ));
    assert!(sniff(
        b"timestamp,arbitration_id,extended,remote,error,dlc,data"
    ));
    assert!(!sniff(b"1,0x1,0,0,0,0,\n"));
    assert!(!sniff(b"timestamp,arbitration_id\n"));
    assert!(!sniff(b"(1700000000.000000) can0 123#11\n"));
    assert!(!sniff(b"  can0  123   [1]  11\n"));
    assert!(!sniff(b""));
}

#[test]
fn test_emit_rows_as_python_can() {
    let fdf = FdFlags::from_bits(FdFlags::FDF).unwrap();
    let cases: [(Timestamp, Frame, &str); 7] = [
        (
            at(1_700_000_000, 123_456_000),
            Frame::classic(sid(0x123), &[0x11, 0x22, 0x33, 0x44]).unwrap(),
            "1700000000.123456,0x123,0,0,0,4,ESIzRA==",
        ),
        (
            at(12, 0),
            Frame::classic(xid(0x18DA_F110), &[]).unwrap(),
            "12.0,0x18daf110,1,0,0,0,",
        ),
        (
            at(0, 5),
            Frame::Remote(RemoteFrame::new(sid(0), 8).unwrap()),
            "0.000000005,0x0,0,1,0,8,",
        ),
        (
            at(1, 500_000_000),
            Frame::Remote(RemoteFrame::with_raw_dlc(sid(0x7FF), 12).unwrap()),
            "1.5,0x7ff,0,1,0,12,",
        ),
        (
            at(1, 0),
            Frame::Classic(ClassicFrame::with_raw_dlc(sid(1), [0xFF; 8], 15).unwrap()),
            "1.0,0x1,0,0,0,15,//////////8=",
        ),
        (
            at(1, 0),
            Frame::Fd(FdFrame::new(sid(0x7E8), &[0xAB; 12], fdf).unwrap()),
            "1.0,0x7e8,0,0,0,12,q6urq6urq6urq6ur",
        ),
        (
            at(1, 0),
            Frame::Error(ErrorFrame::new(0x204, [0, 4, 0, 0, 0, 0, 0x7F, 0x80]).unwrap()),
            "1.0,0x204,0,0,1,8,AAQAAAAAf4A=",
        ),
    ];
    for (t, f, want) in cases {
        let mut out = Vec::new();
        format_row(&mut out, t, &f);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{want}\n"),
            "{f:?}"
        );
    }
}

fn rec(interface: &str, frame: Frame) -> OwnedRecord {
    OwnedRecord {
        timestamp: at(1, 0),
        precision: Precision::Micros,
        interface: interface.to_owned(),
        frame,
        direction: None,
    }
}

#[test]
fn test_writer_header_and_losses() {
    let mut w = Writer::new(Vec::new());
    w.finish().unwrap();
    assert_eq!(w.into_inner(), format!("{HEADER}\n").into_bytes());

    let flags = |b| FdFlags::from_bits(b).unwrap();
    let mut w = Writer::new(Vec::new());
    let mut r = rec("vcan0", Frame::classic(sid(1), &[1]).unwrap());
    r.direction = Some(crate::log::Direction::Tx);
    w.write_record(&r.as_record()).unwrap();
    for f in [
        Frame::Fd(FdFrame::new(sid(2), &[2; 8], flags(FdFlags::FDF)).unwrap()),
        Frame::Fd(FdFrame::new(sid(2), &[2; 12], flags(FdFlags::FDF | FdFlags::BRS)).unwrap()),
        Frame::Fd(FdFrame::new(sid(2), &[2; 64], flags(FdFlags::BRS | FdFlags::ESI)).unwrap()),
    ] {
        w.write_record(&rec("vcan0", f).as_record()).unwrap();
    }
    w.write_record(&rec("vcan1", Frame::classic(sid(3), &[]).unwrap()).as_record())
        .unwrap();
    w.flush().unwrap();
    let losses: Vec<(&str, u64, bool)> = w
        .losses()
        .iter()
        .map(|l| (l.what, l.count, l.dropped))
        .collect();
    assert_eq!(
        losses,
        [
            (
                "direction (python-can CSV has no direction column)",
                1,
                false
            ),
            (
                "CAN FD format of frames of 8 bytes or fewer (python-can CSV reads them as classic)",
                1,
                false
            ),
            (
                "CAN FD bit rate switch flag (not in python-can CSV)",
                2,
                false
            ),
            (
                "CAN FD error state indicator flag (not in python-can CSV)",
                1,
                false
            ),
            ("interface (python-can CSV holds one bus)", 1, false),
        ]
    );
    w.finish().unwrap();
    assert!(w.write_record(&r.as_record()).is_err(), "after finish");
    let text = String::from_utf8(w.into_inner()).unwrap();
    assert_eq!(text.lines().count(), 6, "{text}");
    assert_eq!(text.lines().next(), Some(HEADER));
}

#[test]
fn test_long_capture_streams_with_flat_memory() {
    // 100k rows written and read back through a pipe-sized buffer.
    let mut w = Writer::new(Vec::new());
    for i in 0..100_000u32 {
        let mut r = rec(
            "can0",
            Frame::classic(sid((i % 0x800) as u16), &i.to_le_bytes()).unwrap(),
        );
        r.timestamp = Timestamp::from_nanos(u64::from(i) * 1_000_123);
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    let bytes = w.into_inner();
    let mut r = Reader::new(BufReader::with_capacity(4096, &bytes[..]));
    let mut n = 0u32;
    while let Some(item) = r.read_item().unwrap() {
        if let Item::Record(rec) = item {
            assert_eq!(rec.frame.data(), n.to_le_bytes());
            assert_eq!(
                rec.timestamp,
                Timestamp::from_nanos(u64::from(n) * 1_000_123)
            );
            n += 1;
        }
    }
    assert_eq!(n, 100_000);
    assert!(r.lines.line.capacity() <= 4096 + 256);
}

/// What a frame reads back as from CSV: FD frames of up to 8 bytes as classic, FD flags as FDF.
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

proptest! {
    #[test]
    fn test_roundtrip_write_then_read(
        frames in proptest::collection::vec((crate::frame::arb::frame(), any::<u64>()), 0..50),
    ) {
        let mut w = Writer::new(Vec::new());
        for (f, t) in &frames {
            let mut r = rec("can0", *f);
            r.timestamp = Timestamp::from_nanos(*t);
            w.write_record(&r.as_record()).unwrap();
        }
        w.finish().unwrap();
        let bytes = w.into_inner();
        let (r, stats) = read(core::str::from_utf8(&bytes).unwrap());
        prop_assert!(r.bad.is_empty(), "{:?}", r.bad);
        prop_assert_eq!(stats.records as usize, frames.len());
        for (got, (f, t)) in r.records.iter().zip(&frames) {
            prop_assert_eq!(got.frame, through_csv(*f));
            prop_assert_eq!(got.timestamp, Timestamp::from_nanos(*t));
            prop_assert_eq!(
                got.precision,
                if t % 1000 == 0 { Precision::Micros } else { Precision::Nanos }
            );
        }
    }

    #[test]
    fn test_reader_never_panics(input in proptest::collection::vec(any::<u8>(), 0..2000), cap in 1usize..64) {
        let mut r = Reader::new(BufReader::with_capacity(cap, &input[..])).with_max_line_len(300);
        let mut items = 0u64;
        while let Ok(Some(_)) = r.read_item() {
            items += 1;
        }
        let s = r.stats();
        prop_assert_eq!(items, s.records + s.other + s.skipped + s.bad);
    }

    #[test]
    fn test_timestamp_parse_matches_integer_arithmetic(
        secs in 0u64..10_000_000_000,
        nanos in 0u32..1_000_000_000,
        exp in -12i32..12,
    ) {
        // `secs.nanos` written as mantissa * 10^exp must read back as the same time (where it
        // is a whole number of nanoseconds).
        let digits = format!("{secs}{nanos:09}");
        let shift = 9 + exp; // decimal point moves left by 9, right by exp
        let text = format!("{digits}e-{shift}").replace("e--", "e");
        let value_nanos = u128::from(secs) * 1_000_000_000 + u128::from(nanos);
        let scaled = if exp >= 0 {
            value_nanos / 10u128.pow(exp as u32)
        } else {
            value_nanos * 10u128.pow((-exp) as u32)
        };
        match parse_timestamp(text.as_bytes(), 0) {
            Ok((t, _)) => prop_assert_eq!(u128::from(t.as_nanos()), scaled, "{}", text),
            Err(e) => prop_assert!(
                e.kind == ErrorKind::TimestampOutOfRange && scaled > u128::from(u64::MAX),
                "{} {:?}", text, e
            ),
        }
    }
}

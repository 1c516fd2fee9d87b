//! Unit tests of the candump line grammar, its errors, the writer and the reader.

use super::*;
use proptest::prelude::*;

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

fn xid(raw: u32) -> Id {
    Id::extended(raw).unwrap()
}

fn record(line: &str) -> Record<'_> {
    match parse_line(line.as_bytes()) {
        Ok(Line::Record(r)) => r,
        other => panic!("{line:?} is not a record: {other:?}"),
    }
}

fn frame(s: &str) -> Frame {
    parse_frame(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn line_err(line: &str) -> LineError {
    match parse_line(line.as_bytes()) {
        Err(e) => e,
        Ok(l) => panic!("{line:?} parsed as {l:?}"),
    }
}

fn frame_err(s: &str) -> (usize, String) {
    match parse_frame(s.as_bytes()) {
        Err(e) => (e.column, e.kind.to_string()),
        Ok(f) => panic!("{s:?} parsed as {f:?}"),
    }
}

fn formatted(f: &Frame) -> String {
    let mut out = Vec::new();
    format_frame(&mut out, f);
    String::from_utf8(out).unwrap()
}

#[test]
fn test_parse_classic_line() {
    let r = record("(1700000000.000211) can0 123#DEADBEEF");
    assert_eq!(
        r.timestamp,
        Timestamp::from_secs_nanos(1_700_000_000, 211_000).unwrap()
    );
    assert_eq!(r.precision, Precision::Micros);
    assert_eq!(r.interface, "can0");
    assert_eq!(
        r.frame,
        Frame::classic(sid(0x123), &[0xDE, 0xAD, 0xBE, 0xEF]).unwrap()
    );
    assert_eq!(r.direction, None);
}

#[test]
fn test_parse_nanosecond_and_zero_based_timestamps() {
    let r = record("(1700000000.123456789) can0 123#");
    assert_eq!(r.precision, Precision::Nanos);
    assert_eq!(r.timestamp.subsec_nanos(), 123_456_789);
    let r = record("(000.500000) vcan0 7FF#00");
    assert_eq!(r.timestamp, Timestamp::from_nanos(500_000_000));
    let r = record("(0.000001) vcan0 7FF#00");
    assert_eq!(r.timestamp, Timestamp::from_nanos(1_000));
    let r = record("(12345678901.000000) x 001#");
    assert_eq!(r.timestamp.secs(), 12_345_678_901);
}

#[test]
fn test_parse_padded_interface_direction_and_trailing_blanks() {
    let r = record("(1700000000.000001)   can0 123#11 R\r\n");
    assert_eq!(r.interface, "can0");
    assert_eq!(r.direction, Some(Direction::Rx));
    let r = record("(1700000000.000001) vcan10 123#11 T  \t");
    assert_eq!(r.direction, Some(Direction::Tx));
    let r = record("  (1700000000.000001) can0 123#11\r");
    assert_eq!(r.frame, Frame::classic(sid(0x123), &[0x11]).unwrap());
}

#[test]
fn test_parse_classic_frames() {
    assert_eq!(frame("123#"), Frame::classic(sid(0x123), &[]).unwrap());
    assert_eq!(
        frame("7ff#deadbeef"),
        Frame::classic(sid(0x7FF), &[0xDE, 0xAD, 0xBE, 0xEF]).unwrap()
    );
    assert_eq!(
        frame("123#11.22.33.44.55.66.77.88"),
        Frame::classic(
            sid(0x123),
            &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
        )
        .unwrap()
    );
    assert_eq!(
        frame("123#11.2233.44556677.88"),
        frame("123#1122334455667788"),
        "separators between any bytes, as can-utils accepts"
    );
    assert_eq!(
        frame("1FFFFFFF#01"),
        Frame::classic(xid(0x1FFF_FFFF), &[1]).unwrap()
    );
    assert_eq!(frame("00000123#"), Frame::classic(xid(0x123), &[]).unwrap());
}

#[test]
fn test_parse_raw_dlc() {
    let f = frame("123#1122334455667788_E");
    assert_eq!(
        f,
        Frame::Classic(
            ClassicFrame::with_raw_dlc(
                sid(0x123),
                [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88],
                14
            )
            .unwrap()
        )
    );
    assert_eq!(
        frame("123#0000000000000000_9"),
        frame("123#0000000000000000_9")
    );
    assert_eq!(
        frame_err("123#11_9"),
        (
            7,
            "raw DLC suffix '_' needs exactly 8 data bytes, found 1".into()
        )
    );
    assert_eq!(
        frame_err("123#0000000000000000_8"),
        (22, "raw DLC must be 9 to F, found 8".into())
    );
    assert_eq!(
        frame_err("123#0000000000000000_"),
        (22, "expected a raw DLC hex digit after '_'".into())
    );
    assert_eq!(
        frame_err("123#0000000000000000_9A"),
        (23, "unexpected 'A' in the frame".into())
    );
}

#[test]
fn test_parse_remote_frames() {
    assert_eq!(
        frame("123#R"),
        Frame::Remote(RemoteFrame::new(sid(0x123), 0).unwrap())
    );
    assert_eq!(
        frame("123#r"),
        Frame::Remote(RemoteFrame::new(sid(0x123), 0).unwrap())
    );
    assert_eq!(
        frame("123#R0"),
        Frame::Remote(RemoteFrame::new(sid(0x123), 0).unwrap())
    );
    assert_eq!(
        frame("123#R5"),
        Frame::Remote(RemoteFrame::new(sid(0x123), 5).unwrap())
    );
    assert_eq!(
        frame("12345678#R8_9"),
        Frame::Remote(RemoteFrame::with_raw_dlc(xid(0x1234_5678), 9).unwrap())
    );
    assert_eq!(
        frame_err("123#R9"),
        (6, "remote frame length 9 exceeds 8".into())
    );
    assert_eq!(
        frame_err("123#R5_9"),
        (
            7,
            "raw DLC suffix '_' needs exactly 8 data bytes, found 5".into()
        )
    );
    assert_eq!(
        frame_err("123#RX"),
        (6, "unexpected 'X' in the frame".into())
    );
    assert_eq!(
        frame_err("123#R55"),
        (7, "unexpected '5' in the frame".into())
    );
}

#[test]
fn test_parse_fd_frames() {
    let f = frame("123##1AABB");
    let Frame::Fd(fd) = f else { panic!("{f:?}") };
    assert_eq!(fd.flags().bits(), 1);
    assert_eq!(fd.data(), &[0xAA, 0xBB]);
    for digit in "0123456789ABCDEFabcdef".chars() {
        let f = frame(&format!("123##{digit}"));
        let Frame::Fd(fd) = f else { panic!("{f:?}") };
        assert_eq!(u32::from(fd.flags().bits()), digit.to_digit(16).unwrap());
    }
    let data = "11".repeat(64);
    let f = frame(&format!("12345678##5{data}"));
    assert_eq!(f.data().len(), 64);
    assert!(f.is_fd());
    assert_eq!(
        frame("123##1.AA.BB"),
        frame("123##1AABB"),
        "candump's separator style"
    );
    for len in [0usize, 1, 8, 12, 16, 20, 24, 32, 48, 64] {
        assert_eq!(
            frame(&format!("123##4{}", "AB".repeat(len))).data().len(),
            len
        );
    }
    for len in [9usize, 10, 11, 13, 63] {
        assert_eq!(
            frame_err(&format!("123##4{}", "AB".repeat(len))),
            (7, format!("FD length {len} is not a valid CAN FD length"))
        );
    }
    assert_eq!(
        frame_err(&format!("123##4{}", "AB".repeat(65))),
        (7 + 128, "more than 64 data bytes in a CAN FD frame".into())
    );
    assert_eq!(
        frame_err("123##"),
        (6, "expected a CAN FD flags hex digit after '##'".into())
    );
    assert_eq!(
        frame_err("123##G11"),
        (6, "expected a CAN FD flags hex digit after '##'".into())
    );
    assert_eq!(
        frame_err("123##1AA_9"),
        (9, "unexpected '_' in the frame".into())
    );
}

#[test]
fn test_parse_error_frames() {
    let f = frame("20000044#0004000000000000");
    let Frame::Error(e) = f else { panic!("{f:?}") };
    assert_eq!(e.class(), 0x44);
    assert_eq!(e.data(), &[0, 4, 0, 0, 0, 0, 0, 0]);
    let f = frame("20000004#0004");
    assert_eq!(
        f.data(),
        &[0, 4, 0, 0, 0, 0, 0, 0],
        "short error data is zero-padded"
    );
    assert_eq!(
        frame_err("20000004#R"),
        (10, "an error frame cannot be a remote frame".into())
    );
    assert_eq!(
        frame_err("20000004##1"),
        (10, "an error frame cannot be a CAN FD frame".into())
    );
    assert_eq!(
        frame_err("20000004#0000000000000000_9"),
        (26, "an error frame has no raw DLC".into())
    );
    assert_eq!(
        frame_err("60000004#00"),
        (
            1,
            "error frame id 0x60000004 has bits set above CAN_ERR_FLAG".into()
        )
    );
}

#[test]
fn test_parse_id_errors() {
    assert_eq!(
        frame_err("800#11"),
        (1, "id 0x800 does not fit in 11 bits".into())
    );
    assert_eq!(
        frame_err("FFF#"),
        (1, "id 0xFFF does not fit in 11 bits".into())
    );
    assert_eq!(
        frame_err("80000000#"),
        (1, "id 0x80000000 does not fit in 29 bits".into())
    );
    assert_eq!(
        frame_err("1234#11"),
        (
            1,
            "CAN id has 4 hex digits, expected 3 (standard) or 8 (extended)".into()
        )
    );
    assert_eq!(
        frame_err("#11"),
        (
            1,
            "CAN id has 0 hex digits, expected 3 (standard) or 8 (extended)".into()
        )
    );
    assert_eq!(
        frame_err("123456789#11"),
        (
            1,
            "CAN id has 9 hex digits, expected 3 (standard) or 8 (extended)".into()
        )
    );
    assert_eq!(
        frame_err("12G#11"),
        (3, "invalid hex digit 'G' in the CAN id".into())
    );
    assert_eq!(
        frame_err("123"),
        (4, "expected '#' after the CAN id".into())
    );
}

#[test]
fn test_parse_data_errors() {
    assert_eq!(frame_err("123#112"), (7, "odd number of hex digits".into()));
    assert_eq!(frame_err("123#1.1"), (5, "odd number of hex digits".into()));
    assert_eq!(
        frame_err("123#11Z2"),
        (7, "invalid hex digit 'Z' in the data".into())
    );
    assert_eq!(
        frame_err("123#1Z"),
        (6, "invalid hex digit 'Z' in the data".into())
    );
    assert_eq!(
        frame_err("123#11..22"),
        (8, "invalid hex digit '.' in the data".into())
    );
    assert_eq!(
        frame_err("123#112233445566778899"),
        (21, "more than 8 data bytes in a classic CAN frame".into())
    );
    assert_eq!(
        frame_err("123#\u{e9}"),
        (5, "invalid hex digit byte 0xC3 in the data".into())
    );
}

#[test]
fn test_parse_line_errors_with_columns() {
    let cases: &[(&str, usize, &str)] = &[
        ("(", 2, "expected seconds digits after '('"),
        (
            "(x.000000) can0 123#",
            2,
            "expected seconds digits after '('",
        ),
        (
            "(1700000000) can0 123#",
            12,
            "expected '.' between the seconds and the fraction of the timestamp",
        ),
        (
            "(1700000000.0001) can0 123#",
            13,
            "timestamp fraction has 4 digits, expected 6 (microseconds) or 9 (nanoseconds)",
        ),
        (
            "(1700000000.0000001) can0 123#",
            13,
            "timestamp fraction has 7 digits, expected 6 (microseconds) or 9 (nanoseconds)",
        ),
        (
            "(1700000000.000001 can0 123#",
            19,
            "expected ')' after timestamp",
        ),
        (
            "(99999999999999999999.000001) can0 123#",
            2,
            "timestamp does not fit in 64-bit nanoseconds",
        ),
        (
            "(18446744074.000000) can0 123#",
            2,
            "timestamp does not fit in 64-bit nanoseconds",
        ),
        (
            "(1700000000.000001)can0 123#",
            20,
            "expected a space after the timestamp",
        ),
        ("(1700000000.000001)", 20, "missing interface name"),
        ("(1700000000.000001)   ", 20, "missing interface name"),
        (
            "(1700000000.000001) can0",
            25,
            "missing CAN frame after the interface name",
        ),
        (
            "(1700000000.000001) can0 800#",
            26,
            "id 0x800 does not fit in 11 bits",
        ),
        (
            "(1700000000.000001) can0 123##4112233445566778899",
            32,
            "FD length 9 is not a valid CAN FD length",
        ),
        (
            "(1700000000.000001) can0 123#11 X",
            33,
            "unexpected text after the frame (only ' R' or ' T' may follow)",
        ),
        (
            "(1700000000.000001) can0 123#11 R T",
            33,
            "unexpected text after the frame (only ' R' or ' T' may follow)",
        ),
        (
            "(1700000000.000001) can0 123#11 r",
            33,
            "unexpected text after the frame (only ' R' or ' T' may follow)",
        ),
    ];
    for &(line, column, message) in cases {
        let e = line_err(line);
        assert_eq!(
            (e.column, e.kind.to_string().as_str()),
            (column, message),
            "{line:?}"
        );
    }
    let e = parse_line(b"(1700000000.000001) c\xffn0 123#").unwrap_err();
    assert_eq!((e.column, e.kind), (22, ParseErrorKind::InterfaceNotUtf8));
    let e = parse_line(b"DROP\xfe").unwrap_err();
    assert_eq!((e.column, e.kind), (5, ParseErrorKind::NotUtf8));
}

#[test]
fn test_parse_other_lines() {
    for (line, text) in [
        ("", ""),
        ("\r\n", ""),
        (
            "DROPCOUNT: dropped 3 CAN frames on 'can0' socket (total drops 7)\r",
            "DROPCOUNT: dropped 3 CAN frames on 'can0' socket (total drops 7)",
        ),
        ("# comment  ", "# comment"),
        ("   ", ""),
        (
            "1700000000.000001 can0 123#11",
            "1700000000.000001 can0 123#11",
        ),
    ] {
        assert_eq!(
            parse_line(line.as_bytes()),
            Ok(Line::Other(text)),
            "{line:?}"
        );
    }
}

#[test]
fn test_parse_error_display_with_and_without_source() {
    let e = ParseError {
        source_name: Some(Arc::from("capture.log")),
        line: 17,
        column: 24,
        kind: ParseErrorKind::OddHexDigits,
    };
    assert_eq!(e.to_string(), "capture.log:17:24: odd number of hex digits");
    for (kind, message) in [
        (
            ParseErrorKind::LineTooLong(65536),
            "line longer than 65536 bytes",
        ),
        (ParseErrorKind::NotUtf8, "line is not valid UTF-8"),
        (
            ParseErrorKind::InterfaceNotUtf8,
            "interface name is not valid UTF-8",
        ),
        (
            ParseErrorKind::UnexpectedInFrame(Found(0x07)),
            "unexpected byte 0x07 in the frame",
        ),
    ] {
        assert_eq!(kind.to_string(), message);
    }
    let e = ParseError {
        source_name: None,
        ..e
    };
    assert_eq!(
        e.to_string(),
        "line 17, column 24: odd number of hex digits"
    );
}

#[test]
fn test_emit_frames_as_candump() {
    let cases = [
        ("123#", "123#"),
        ("7ff#deadbeef", "7FF#DEADBEEF"),
        ("123#11.22.33", "123#112233"),
        ("00000abc#01", "00000ABC#01"),
        ("123#1122334455667788_e", "123#1122334455667788_E"),
        ("123#r", "123#R"),
        ("123#R0", "123#R"),
        ("123#R5", "123#R5"),
        ("1abcdef0#R8_9", "1ABCDEF0#R8_9"),
        ("123##0", "123##0"),
        ("123##f.aa.bb", "123##FAABB"),
        ("20000044#0004000000000000", "20000044#0004000000000000"),
        ("20000004#04", "20000004#0400000000000000"),
    ];
    for (input, expected) in cases {
        assert_eq!(formatted(&frame(input)), expected, "{input}");
    }
}

#[test]
fn test_emit_records_as_candump() {
    let rec = |line: &str, opts: WriteOptions| {
        let mut out = Vec::new();
        format_record(&mut out, &record(line), &opts);
        String::from_utf8(out).unwrap()
    };
    let d = WriteOptions::default();
    assert_eq!(
        rec("(1700000000.000211) can0 123#11", d),
        "(1700000000.000211) can0 123#11\n"
    );
    assert_eq!(
        rec("(1.000211) can0 123#11", d),
        "(0000000001.000211) can0 123#11\n"
    );
    assert_eq!(
        rec("(000.123456789) can0 123#11 T", d),
        "(0000000000.123456789) can0 123#11 T\n"
    );
    let tz = WriteOptions { secs_width: 3, ..d };
    assert_eq!(
        rec("(0.500000) can0 123#11", tz),
        "(000.500000) can0 123#11\n"
    );
    assert_eq!(
        rec("(1234.500000) can0 123#11", tz),
        "(1234.500000) can0 123#11\n"
    );
    let micros = WriteOptions {
        precision: Some(Precision::Micros),
        ..d
    };
    assert_eq!(
        rec("(1700000000.123456789) can0 123#11", micros),
        "(1700000000.123456) can0 123#11\n",
        "nanoseconds are truncated like candump does"
    );
    let nanos = WriteOptions {
        precision: Some(Precision::Nanos),
        ..d
    };
    assert_eq!(
        rec("(1700000000.123456) can0 123#11", nanos),
        "(1700000000.123456000) can0 123#11\n"
    );
    let padded = WriteOptions {
        interface_width: 5,
        ..d
    };
    assert_eq!(
        rec("(1700000000.000001) can0 123#11 R", padded),
        "(1700000000.000001)  can0 123#11 R\n"
    );
    assert_eq!(
        rec("(1700000000.000001) vcan10 123#R", padded),
        "(1700000000.000001) vcan10 123#R\n"
    );
}

#[test]
fn test_emit_writer_reuses_buffer_and_writes_other_lines() {
    let mut w = Writer::new(Vec::new());
    w.write_record(&record("(1700000000.000001) can0 123#1122"))
        .unwrap();
    w.write_other("DROPCOUNT: dropped 1 CAN frame on 'can0' socket (total drops 1)")
        .unwrap();
    w.write_record(&record("(1700000000.000002) can1 12345678##1AA"))
        .unwrap();
    w.flush().unwrap();
    assert_eq!(
        String::from_utf8(w.into_inner()).unwrap(),
        "(1700000000.000001) can0 123#1122\n\
         DROPCOUNT: dropped 1 CAN frame on 'can0' socket (total drops 1)\n\
         (1700000000.000002) can1 12345678##1AA\n"
    );
}

const MIXED: &str = "(1700000000.000001) can0 123#11\n\
DROPCOUNT: dropped 1 CAN frame on 'can0' socket (total drops 1)\n\
\n\
(1700000000.000002) can0 123#112\n\
(1700000000.000003)  vcan1 12345678##5AABB R\r\n\
(1700000000.000004) can0 800#\n\
(1700000000.000005) can0 123#R\n";

#[test]
fn test_reader_items_lenient() {
    let mut r = Reader::new(MIXED.as_bytes()).with_source_name("mixed.log");
    let mut kinds = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        kinds.push(match item {
            Item::Record(rec) => format!("record {} {}", rec.interface, rec.frame),
            Item::Other(text) => format!("other {text:?}"),
            Item::Bad(e) => format!("bad {e}"),
        });
    }
    assert_eq!(
        kinds,
        [
            "record can0 123#11",
            "other \"DROPCOUNT: dropped 1 CAN frame on 'can0' socket (total drops 1)\"",
            "other \"\"",
            "bad mixed.log:4:32: odd number of hex digits",
            "record vcan1 12345678##5AABB",
            "bad mixed.log:6:26: id 0x800 does not fit in 11 bits",
            "record can0 123#R",
        ]
    );
    assert_eq!(
        r.stats(),
        Stats {
            lines: 7,
            records: 3,
            other_lines: 2,
            bad_lines: 2
        }
    );
}

#[test]
fn test_reader_next_record_lenient_and_strict() {
    let mut r = Reader::new(MIXED.as_bytes());
    let mut ids = Vec::new();
    while let Some(rec) = r.next_record() {
        ids.push(rec.unwrap().timestamp.subsec_micros());
    }
    assert_eq!(ids, [1, 3, 5]);
    assert_eq!(r.stats().bad_lines, 2);

    let mut r = Reader::new(MIXED.as_bytes()).with_policy(Policy::Strict);
    assert_eq!(
        r.next_record().unwrap().unwrap().timestamp.subsec_micros(),
        1
    );
    match r.next_record() {
        Some(Err(ReadError::Parse(e))) => {
            assert_eq!(
                (e.line, e.column, e.kind),
                (4, 32, ParseErrorKind::OddHexDigits)
            );
            assert_eq!(e.to_string(), "line 4, column 32: odd number of hex digits");
        }
        other => panic!("{other:?}"),
    }
    let mut r = Reader::new(MIXED.as_bytes()).with_policy(Policy::Strict);
    let mut n = 0;
    loop {
        match r.read_item() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("strict mode must stop at the bad line"),
            Err(ReadError::Parse(e)) => {
                assert_eq!(e.line, 4);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(n, 3);
}

#[test]
fn test_reader_long_and_non_utf8_lines_resync() {
    let mut input = b"(1700000000.000001) can0 123#11\n".to_vec();
    input.extend(std::iter::repeat_n(b'A', 100));
    input.extend_from_slice(
        b"\n\xff\xfe\n(1700000000.000002) c\xe9 123#\n(1700000000.000003) can0 124#22\n",
    );
    // A small BufReader forces lines across several fill_buf calls.
    let reader = std::io::BufReader::with_capacity(7, input.as_slice());
    let mut r = Reader::new(reader).with_max_line_len(64);
    let mut seen = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        seen.push(match item {
            Item::Record(rec) => format!("{}", rec.frame),
            Item::Other(t) => format!("other {t}"),
            Item::Bad(e) => format!("{}:{} {:?}", e.line, e.column, e.kind),
        });
    }
    assert_eq!(
        seen,
        [
            "123#11",
            "2:65 LineTooLong(64)",
            "3:1 NotUtf8",
            "4:22 InterfaceNotUtf8",
            "124#22",
        ]
    );
    assert_eq!(
        r.stats(),
        Stats {
            lines: 5,
            records: 2,
            other_lines: 0,
            bad_lines: 3
        }
    );
}

#[test]
fn test_reader_io_error_is_distinct() {
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let mut r = Reader::new(std::io::BufReader::new(Failing)).with_source_name("x.log");
    match r.read_item() {
        Err(e @ ReadError::Io { .. }) => {
            assert_eq!(
                e.to_string(),
                "x.log: read error after line 0: disk on fire"
            )
        }
        other => panic!("{other:?}"),
    }
}

use crate::frame::arb::frame as arb_frame;

fn arb_record() -> impl Strategy<Value = OwnedRecord> {
    (
        any::<u64>(),
        prop_oneof![Just(Precision::Micros), Just(Precision::Nanos)],
        "[a-z][a-z0-9_.-]{0,14}",
        arb_frame(),
        prop_oneof![
            Just(None),
            Just(Some(Direction::Rx)),
            Just(Some(Direction::Tx))
        ],
    )
        .prop_map(|(nanos, precision, interface, frame, direction)| {
            let nanos = match precision {
                Precision::Micros => nanos - nanos % 1_000,
                Precision::Nanos => nanos,
            };
            OwnedRecord {
                timestamp: Timestamp::from_nanos(nanos),
                precision,
                interface,
                frame,
                direction,
            }
        })
}

proptest! {
    #[test]
    fn test_roundtrip_write_then_parse(
        records in proptest::collection::vec(arb_record(), 1..20),
        width in 0usize..20,
    ) {
        let mut w = Writer::with_options(Vec::new(), WriteOptions { interface_width: width, ..Default::default() });
        for r in &records {
            w.write_record(&r.as_record()).unwrap();
        }
        let text = w.into_inner();
        let mut reader = Reader::new(text.as_slice()).with_policy(Policy::Strict);
        let mut back = Vec::new();
        while let Some(r) = reader.next_record() {
            back.push(r.unwrap().to_owned_record());
        }
        prop_assert_eq!(&back, &records);
        // And each line is written back byte for byte.
        let mut again = Writer::new(Vec::new());
        for r in &back {
            again.write_record(&r.as_record()).unwrap();
        }
        if width == 0 {
            prop_assert_eq!(again.into_inner(), text);
        }
    }

    #[test]
    fn test_parse_line_never_panics(line in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_line(&line);
    }

    #[test]
    fn test_parse_line_never_panics_near_grammar(
        line in "[ (]?[0-9]{0,12}[.]?[0-9]{0,10}[)]? {0,3}[a-z0-9]{0,6} {0,2}[0-9A-Fa-fxR#_. ]{0,40}[ RT]{0,3}\r?"
    ) {
        if let Err(e) = parse_line(line.as_bytes()) {
            prop_assert!(e.column >= 1 && e.column <= line.len() + 1, "{:?} {:?}", line, e);
        }
    }

    #[test]
    fn test_reader_never_panics(input in proptest::collection::vec(any::<u8>(), 0..2000), cap in 1usize..64) {
        let mut r = Reader::new(std::io::BufReader::with_capacity(cap, input.as_slice())).with_max_line_len(100);
        let mut n = 0u64;
        while let Some(item) = r.read_item().unwrap() {
            let _ = item;
            n += 1;
        }
        let s = r.stats();
        prop_assert_eq!(n, s.lines);
        prop_assert_eq!(s.lines, s.records + s.other_lines + s.bad_lines);
    }
}

/// A line in the canonical shape, or near it: written by the writer, then maybe mutated.
fn arb_near_canonical_line() -> impl Strategy<Value = Vec<u8>> {
    (
        arb_record(),
        0usize..4,
        any::<proptest::sample::Index>(),
        prop_oneof![
            Just(b'0'),
            Just(b'#'),
            Just(b' '),
            Just(b'.'),
            Just(b'R'),
            Just(b'_'),
            Just(b'F'),
            Just(b'x'),
            Just(b'('),
            Just(b')'),
            Just(0xC3u8)
        ],
        0u8..3,
    )
        .prop_map(|(r, width, at, byte, op)| {
            let mut line = Vec::new();
            let options = WriteOptions {
                interface_width: width * 4,
                ..Default::default()
            };
            format_record(&mut line, &r.as_record(), &options);
            line.pop();
            if !line.is_empty() {
                let i = at.index(line.len());
                match op {
                    0 => line[i] = byte,
                    1 => line.insert(i, byte),
                    _ => {
                        line.remove(i);
                    }
                }
            }
            line
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    /// The fast path never disagrees with the general parser: whatever it accepts, the
    /// general parser accepts the same way.
    #[test]
    fn test_fast_path_agrees_with_the_general_parser(line in arb_near_canonical_line()) {
        let s = line.get(..trimmed_len(&line)).unwrap_or(&line);
        if let Some(fast) = parse_canonical(s) {
            match parse_raw_general(s) {
                Ok(RawLine::Record(general)) => prop_assert_eq!(fast, general),
                Ok(RawLine::Other { .. }) => prop_assert!(false, "general saw a non-frame line"),
                Err(e) => prop_assert!(false, "general refused: {e:?} for {:?}", String::from_utf8_lossy(s)),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    /// `scan_data_frame` answers only for lines `parse_line` reads as the same classic data
    /// frame, and it answers for the canonical lines the writer produces.
    #[test]
    fn test_scan_agrees_with_parse_line(line in arb_near_canonical_line()) {
        if let Some(scan) = scan_data_frame(&line) {
            match parse_line(&line) {
                Ok(Line::Record(r)) => {
                    prop_assert!(matches!(r.frame, Frame::Classic(_)), "{:?}", r.frame);
                    prop_assert_eq!(r.frame.id(), Some(scan.id));
                    prop_assert_eq!(r.frame.payload(), Some(scan.payload()));
                }
                other => prop_assert!(false, "parse_line gave {other:?} for {:?}", String::from_utf8_lossy(&line)),
            }
        }
    }

    /// `scan_data_frame_in` reads the first line of a text exactly as `scan_data_frame` reads
    /// that line, when it answers.
    #[test]
    fn test_scan_in_text_agrees_with_scan_of_the_line(
        line in arb_near_canonical_line(),
        next in prop_oneof![Just(&b""[..]), Just(&b"\n"[..]), Just(&b"\n(1.000000) can0 123#00\n"[..]), Just(&b"\r\n"[..]), Just(&b" \n"[..])],
    ) {
        let mut text = line.clone();
        text.extend_from_slice(next);
        if let Some((scan, len)) = scan_data_frame_in(&text) {
            prop_assert_eq!(len, line.len());
            prop_assert_eq!(scan_data_frame(&line), Some(scan));
        } else if next.first().is_none_or(|&b| b == b'\n') && scan_data_frame(&line).is_some() {
            // Only lines ending in a direction or blanks are left to the line scan.
            let last = line.last().copied();
            prop_assert!(matches!(last, Some(b'R' | b'T' | b' ' | b'\t' | b'\r')), "{:?}", String::from_utf8_lossy(&line));
        }
    }

    #[test]
    fn test_scan_takes_what_the_writer_writes(r in arb_record()) {
        let mut line = Vec::new();
        format_record(&mut line, &r.as_record(), &WriteOptions::default());
        line.pop();
        let common = matches!(r.frame, Frame::Classic(c) if c.raw_dlc().is_none())
            && r.timestamp.secs() < 10_000_000_000;
        prop_assert_eq!(scan_data_frame(&line).is_some(), common, "{:?}", String::from_utf8_lossy(&line));
    }
}

#[test]
fn test_swar_classes_match_the_byte_classes() {
    for b in 0..=255u8 {
        let x = u64::from_le_bytes([b, b'0', b, b'x', 0xFF, b, b'F', b]);
        let (d, h) = (digit_mask(x), hex_mask(x));
        for (i, &c) in x.to_le_bytes().iter().enumerate() {
            assert_eq!(d >> (8 * i + 7) & 1 == 1, c.is_ascii_digit(), "{c:#x}");
            assert_eq!(h >> (8 * i + 7) & 1 == 1, c.is_ascii_hexdigit(), "{c:#x}");
        }
    }
    assert_eq!(hex8(u64::from_le_bytes(*b"0aF19bC2")), 0xC29B_F10A);
}

#[test]
fn test_scan_of_edge_lines() {
    let scan = scan_data_frame(b"(1700000000.000105) vcan0 2F6#FEB9DC4B1EBE55E5\r").unwrap();
    assert_eq!(scan.id, Id::new(0x2F6, false).unwrap());
    assert_eq!(
        scan.payload(),
        [0xFE, 0xB9, 0xDC, 0x4B, 0x1E, 0xBE, 0x55, 0xE5]
    );
    assert_eq!(scan_data_frame(b"(0.000000) can0 123#").unwrap().len, 0);
    assert!(scan_data_frame(b"(1.000000000) can0 12345678#01 T  ").is_some());
    let text = b"(1.000000) can0 123#0102\n(2.000000) can0 124#03\n";
    let (scan, len) = scan_data_frame_in(text).unwrap();
    assert_eq!((scan.payload(), len), (&[1u8, 2][..], 24));
    let (scan, len) = scan_data_frame_in(&text[25..]).unwrap();
    assert_eq!((scan.payload(), len), (&[3u8][..], 22));
    assert!(scan_data_frame_in(b"(1.000000) can0 123#0102 R\n").is_none());
    // Data read 8 digits at a time: every length, and a 9th byte refused.
    for n in 0..=9usize {
        let hex: String = (0..n).map(|i| format!("{:02X}", 0xA0 + i)).collect();
        let line = format!("(1700000000.000000) can0 123#{hex}\n(1700000000.000001) can0 123#00\n");
        let got = scan_data_frame_in(line.as_bytes());
        if n <= 8 {
            let (scan, len) = got.unwrap();
            let want: Vec<u8> = (0..n).map(|i| 0xA0 + i as u8).collect();
            assert_eq!((scan.payload(), len), (&want[..], 29 + 2 * n));
            assert!(scan.data[n..].iter().all(|&b| b == 0));
        } else {
            assert!(got.is_none());
        }
    }
    assert!(scan_data_frame_in(b"(1.000000) can0 123#0102\r\n").is_none());
    for line in [
        &b"(1700000000.000105) vcan0 2F6#FEB9DC4B1EBE55E5E5"[..],
        b"(1700000000.000105) vcan0 2F6#FEB",
        b"(1700000000.000105) vcan0 2F6#FE R R",
        b"(1700000000.000105) vcan0 2F6#FE RT",
        b"(1700000000.000105) vcan0 2F6#FE X",
        b"(1700000000.000105) vcan0 2F6#FER",
        b"(1700000000.000105) vcan0 2F6#FE\tx",
        b"(1700000000.000105) vcan0 2F6#FEx",
        b"(1700000000.000105) vcan0 2F6##1FEB9",
        b"(1700000000.000105) vcan0 2F6#R",
        b"(1700000000.000105) vcan0 800#00",
        b"(17000000000.000105) vcan0 123#00",
        b"(1700000000.000105)vcan0 123#00",
        b"(1700000000.000105) vcan0 20000004#0004000000000000",
        b"(1700000000.0001) vcan0 123#00",
        b"(1700000000.000105) vcan0",
        b"1700000000.000105 vcan0 123#00",
    ] {
        assert!(
            scan_data_frame(line).is_none(),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn test_fast_path_takes_the_common_lines() {
    for line in [
        &b"(1700000000.000105) vcan0 2F6#FEB9DC4B1EBE55E5"[..],
        b"(0.000000) can0 123#",
        b"(1700000000.000000001) can1 12345678#00",
        b"(1.000000)   vcan10 7FF#0102 R",
    ] {
        assert!(
            parse_canonical(line).is_some(),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    for line in [
        &b"(1700000000.000105) vcan0 2F6##1FEB9"[..],
        b"(1700000000.000105) vcan0 2F6#R",
        b"(1700000000.000105) vcan0 2F6#01.02",
        b"(1700000000.000105) vcan0 20000004#0004000000000000",
        b"(1700000000.000105) vcan0 800#00",
        b"(1700000000.0001) vcan0 123#00",
        b"(99999999999999999999.000000) vcan0 123#00",
    ] {
        assert!(
            parse_canonical(line).is_none(),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
}

/// Regression: interface names from logs reached the terminal with escape sequences.
#[test]
fn test_parse_interface_with_control_characters_is_refused() {
    for line in [
        &b"(1.000000) can\x1b[2J0 123#11"[..],
        b"(1.000000) c\x07an0 123#11",
        b"(1.000000) can0\x7f 123#11",
    ] {
        let e = parse_line(line).unwrap_err();
        assert!(
            matches!(e.kind, ParseErrorKind::InterfaceControl(_)),
            "{e:?}"
        );
        assert!(scan_data_frame(line).is_none());
    }
}

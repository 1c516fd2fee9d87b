//! Unit tests of the ASC grammar, dates, event times, the reader and the writer.

use super::*;
use crate::frame::arb;
use crate::log::{FrameReader, FrameWriter, OwnedRecord};
use proptest::prelude::*;

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

fn xid(raw: u32) -> Id {
    Id::extended(raw).unwrap()
}

fn ts(secs: u64, nanos: u32) -> Timestamp {
    Timestamp::from_secs_nanos(secs, nanos).unwrap()
}

/// What one item of a reader was, owned.
#[derive(Clone, Debug, PartialEq)]
enum Got {
    Rec(OwnedRecord),
    Other(String),
    Skipped(String),
    Bad(u64, usize, ErrorKind),
}

fn items_of(text: &[u8]) -> (Vec<Got>, Stats) {
    let mut r = Reader::new(text).with_source_name("t.asc");
    let mut out = Vec::new();
    while let Some(item) = r.read_item().expect("no I/O error") {
        out.push(match item {
            Item::Record(rec) => Got::Rec(rec.to_owned_record()),
            Item::Other(t) => Got::Other(t.to_string()),
            Item::Skipped(w) => Got::Skipped(w.to_string()),
            Item::Bad(ReadError::Format(FormatError {
                location: Location::Line { line, column },
                kind: FormatErrorKind::Asc(kind),
                ..
            })) => Got::Bad(line, column, kind),
            Item::Bad(e) => panic!("unexpected error shape {e:?}"),
        });
    }
    (out, r.stats())
}

fn records(text: &str) -> Vec<OwnedRecord> {
    items_of(text.as_bytes())
        .0
        .into_iter()
        .filter_map(|g| match g {
            Got::Rec(r) => Some(r),
            Got::Bad(l, c, k) => panic!("line {l}:{c}: {k}"),
            _ => None,
        })
        .collect()
}

/// The single record of an event line in a `base hex  timestamps absolute` file without date.
fn one(line: &str) -> OwnedRecord {
    let text = format!("base hex  timestamps absolute\n{line}\n");
    let r = records(&text);
    assert_eq!(r.len(), 1, "{line:?}");
    r.into_iter().next().unwrap()
}

fn frame_of(line: &str) -> Frame {
    one(line).frame
}

/// The error of a bad event line (after the base line): column and kind.
fn err_of(line: &str) -> (usize, ErrorKind) {
    let text = format!("base hex  timestamps absolute\n{line}\n");
    let (items, _) = items_of(text.as_bytes());
    match items.as_slice() {
        [Got::Other(_), Got::Bad(2, c, k)] => (*c, *k),
        other => panic!("{line:?}: {other:?}"),
    }
}

fn classic(id: Id, data: &[u8]) -> Frame {
    Frame::classic(id, data).unwrap()
}

fn fd(id: Id, data: &[u8], bits: u8) -> Frame {
    Frame::Fd(FdFrame::new(id, data, FdFlags::from_bits(bits).unwrap()).unwrap())
}

fn bus_error() -> Frame {
    Frame::Error(ErrorFrame::new(ERROR_FRAME_CLASS, [0; 8]).unwrap())
}

// ---------------------------------------------------------------------------------------------
// Dates

fn date(text: &str) -> Result<AscDate, (usize, DateError)> {
    parse_date(text.as_bytes(), 0)
}

fn unix(text: &str) -> i128 {
    date(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
        .unix_nanos(0)
}

const S: i128 = 1_000_000_000;

#[test]
fn test_parse_dates_english_12h_and_24h() {
    // CANoe, English locale: 12 h with am/pm and milliseconds.
    assert_eq!(
        unix("Thu May 16 06:16:50.884 pm 2024"),
        1_715_883_410 * S + 884_000_000
    );
    assert_eq!(unix("Mon Dec 6 11:21:13 am 2021"), 1_638_789_673 * S);
    assert_eq!(unix("Mon Dec 6 11:21:13 AM 2021"), 1_638_789_673 * S);
    // Midnight and noon on the 12 h clock.
    assert_eq!(unix("Mon Jan 1 12:00:00 am 2024"), 1_704_067_200 * S);
    assert_eq!(
        unix("Mon Jan 1 12:30:00 pm 2024"),
        (1_704_067_200 + 45_000) * S
    );
    // ctime (log2asc): two spaces before a one-digit day, 24 h.
    assert_eq!(unix("Sat Nov  4 22:13:20 2023"), 1_699_136_000 * S);
    // python-can: 24 h with milliseconds.
    assert_eq!(
        unix("Thu May 16 18:16:50.884 2024"),
        1_715_883_410 * S + 884_000_000
    );
    // No weekday at all.
    assert_eq!(unix("May 16 18:16:50 2024"), 1_715_883_410 * S);
}

#[test]
fn test_parse_dates_german() {
    let mar = 1_709_543_107 * S;
    assert_eq!(unix("Mo Mär 4 09:05:07 2024"), mar);
    assert_eq!(unix("Mon Mrz 4 09:05:07 2024"), mar);
    assert_eq!(
        parse_date(b"Mo M\xe4r 4 09:05:07 2024", 0)
            .unwrap()
            .unix_nanos(0),
        mar,
        "Latin-1 (Windows-1252) umlaut"
    );
    assert_eq!(unix("Die Dez 21 11:29:01 2004"), 1_103_628_541 * S);
    assert_eq!(unix("Di Dez 21 11:29:01 2004"), 1_103_628_541 * S);
    for (d, m) in [
        ("Mi Mai 1 00:00:00 2024", 5),
        ("Do Okt 3 00:00:00 2024", 10),
    ] {
        assert_eq!(date(d).unwrap().month, m, "{d}");
    }
    for wd in [
        "Mo", "Di", "Mi", "Do", "Fr", "Sa", "So", "Son", "Mit", "Do.",
    ] {
        assert!(date(&format!("{wd} Jan 5 10:00:00 2025")).is_ok(), "{wd}");
    }
}

#[test]
fn test_parse_date_fractions() {
    let base = 1_715_883_410 * S;
    // 1 to 3 digits count milliseconds: python-can writes the count unpadded.
    assert_eq!(unix("Thu May 16 18:16:50.5 2024"), base + 5_000_000);
    assert_eq!(unix("Thu May 16 18:16:50.05 2024"), base + 5_000_000);
    assert_eq!(unix("Thu May 16 18:16:50.005 2024"), base + 5_000_000);
    assert_eq!(unix("Thu May 16 18:16:50.884 2024"), base + 884_000_000);
    // More digits are a decimal fraction (old python-can wrote microseconds).
    assert_eq!(unix("Thu May 16 18:16:50.103456 2024"), base + 103_456_000);
}

#[test]
fn test_parse_date_errors() {
    assert_eq!(
        date("Thu Foo 16 18:16:50 2024").unwrap_err().1,
        DateError::ExpectedMonth
    );
    assert_eq!(
        date("Thu May x 18:16:50 2024").unwrap_err().1,
        DateError::ExpectedDay
    );
    assert_eq!(
        date("Thu May 16 18-16-50 2024").unwrap_err().1,
        DateError::ExpectedTime
    );
    assert_eq!(
        date("Thu May 16 18:16:50").unwrap_err().1,
        DateError::ExpectedYear
    );
    assert_eq!(
        date("Thu May 16 18:16:50 24").unwrap_err().1,
        DateError::ExpectedYear
    );
    assert_eq!(
        date("Fri Feb 30 10:00:00 2024").unwrap_err().1,
        DateError::OutOfRange
    );
    assert_eq!(
        date("Thu May 16 13:00:00 pm 2024").unwrap_err().1,
        DateError::OutOfRange
    );
    assert_eq!(
        date("Thu May 16 24:00:00 2024").unwrap_err().1,
        DateError::OutOfRange
    );
    assert_eq!(
        date("Thu May 16 10:00:00 2024 x").unwrap_err().1,
        DateError::TrailingText
    );
    assert!(date("Thu Feb 29 10:00:00 2024").is_ok(), "leap day");
    assert_eq!(
        date("Thu Feb 29 10:00:00 2023").unwrap_err().1,
        DateError::OutOfRange
    );
}

#[test]
fn test_format_date_as_canoe_writes_it() {
    let mut out = Vec::new();
    format_date(&mut out, ts(1_715_883_410, 884_000_000), 0);
    assert_eq!(out, b"Thu May 16 06:16:50.884 pm 2024");
    out.clear();
    format_date(&mut out, ts(1_704_067_200, 7_000_000), 0);
    assert_eq!(out, b"Mon Jan 1 12:00:00.007 am 2024");
    out.clear();
    format_date(&mut out, ts(1_704_067_200 + 45_000, 0), 3600);
    assert_eq!(out, b"Mon Jan 1 01:30:00.000 pm 2024", "CET");
    out.clear();
    format_date(&mut out, Timestamp::ZERO, 0);
    assert_eq!(out, b"Thu Jan 1 12:00:00.000 am 1970");
    // What we write, we read back.
    for t in [86_400u64, 951_782_400, 1_715_883_410, 4_102_444_799] {
        out.clear();
        format_date(&mut out, ts(t, 123_000_000), -18_000);
        let d = parse_date(&out, 0).unwrap();
        assert_eq!(d.unix_nanos(-18_000), i128::from(t) * S + 123_000_000);
    }
}

// ---------------------------------------------------------------------------------------------
// Classic CAN lines

#[test]
fn test_parse_classic_data_frames() {
    let r = one("   2.500900 1  64              Tx   d 8 00 01 02 03 04 05 06 07");
    assert_eq!(r.timestamp, ts(2, 500_900_000));
    assert_eq!(r.precision, Precision::Micros);
    assert_eq!(r.interface, "can0");
    assert_eq!(r.direction, Some(Direction::Tx));
    assert_eq!(r.frame, classic(sid(0x64), &[0, 1, 2, 3, 4, 5, 6, 7]));

    let r = one("2.5010 2  C8x             Rx   d 8 09 08 07 06 05 04 03 02");
    assert_eq!(r.interface, "can1");
    assert_eq!(r.direction, Some(Direction::Rx));
    assert_eq!(r.frame, classic(xid(0xC8), &[9, 8, 7, 6, 5, 4, 3, 2]));
    assert_eq!(r.timestamp, ts(2, 501_000_000), "4 fraction digits");

    assert_eq!(frame_of("0.1 1 7ff Rx d 0"), classic(sid(0x7FF), &[]));
    assert_eq!(
        frame_of("0.1 1 1fffffffX Rx d 1 a"),
        classic(xid(0x1FFF_FFFF), &[0xA])
    );
    assert_eq!(
        frame_of("0.1\t1\t123\tRx\td\t2\tab\tCD"),
        classic(sid(0x123), &[0xAB, 0xCD])
    );
}

#[test]
fn test_parse_classic_raw_dlc_and_trailing_fields() {
    for (dlc, digit) in [(9u8, "9"), (12, "c"), (15, "F")] {
        let f = frame_of(&format!("0.1 1 123 Rx d {digit} 01 02 03 04 05 06 07 08"));
        assert_eq!(
            f,
            Frame::Classic(
                ClassicFrame::with_raw_dlc(sid(0x123), [1, 2, 3, 4, 5, 6, 7, 8], dlc).unwrap()
            )
        );
    }
    let f = frame_of(
        "   0.003040 1  123             Tx   d 2 00 00  Length = 768000 BitCount = 67 ID = 291",
    );
    assert_eq!(f, classic(sid(0x123), &[0, 0]));
    let f = frame_of("1.0 1 1C4D80A7x Rx d 1 5  Length = 278000 BitCount = 140 ID = 474841255x");
    assert_eq!(f, classic(xid(0x1C4D_80A7), &[5]));
    // Message flags (TE: transceiver error, WU: wake-up).
    assert_eq!(frame_of("1.0 1 12 Rx d 1 5 TE"), classic(sid(0x12), &[5]));
}

#[test]
fn test_parse_symbolic_names_take_the_id_field() {
    let f = frame_of("1.0 1 EngineData Rx d 2 01 02 Length = 1 BitCount = 2 ID = 291");
    assert_eq!(f, classic(sid(0x123), &[1, 2]));
    let f = frame_of("1.0 1 Cafe Rx d 0 ID = 100x");
    assert_eq!(
        f,
        classic(xid(100), &[]),
        "the ID field wins over a hex-looking name"
    );
    assert_eq!(
        err_of("1.0 1 EngineData Rx d 0"),
        (7, ErrorKind::SymbolicId)
    );
}

#[test]
fn test_parse_dec_base() {
    let text = "base dec  timestamps absolute\n   1.047413 1  1792            Tx   d 8   2  16   0   0   0   0   0 255  Length = 0 BitCount = 0 ID = 1792\n   1.1 1 536870911x Rx r 8\n";
    let r = records(text);
    assert_eq!(r[0].frame, classic(sid(1792), &[2, 16, 0, 0, 0, 0, 0, 255]));
    assert_eq!(
        r[1].frame,
        Frame::Remote(RemoteFrame::new(xid(0x1FFF_FFFF), 8).unwrap())
    );
    let (items, _) = items_of(b"base dec\n1.0 1 12 Rx d 1 256\n1.0 1 2048 Rx d 0\n");
    assert_eq!(
        items[1..],
        [
            Got::Bad(2, 17, ErrorKind::DataByteRange),
            Got::Bad(3, 7, ErrorKind::StandardIdRange(2048)),
        ]
    );
}

#[test]
fn test_parse_remote_frames() {
    let remote = |id, len| Frame::Remote(RemoteFrame::new(id, len).unwrap());
    assert_eq!(
        frame_of("   2.501000 1  200             Tx   r"),
        remote(sid(0x200), 0)
    );
    assert_eq!(frame_of("2.5 1 200 Tx r 5"), remote(sid(0x200), 5));
    assert_eq!(
        frame_of("2.5 1 200x Tx r 8 Length = 1"),
        remote(xid(0x200), 8)
    );
    assert_eq!(
        frame_of("2.5 1 200 Tx r a"),
        Frame::Remote(RemoteFrame::with_raw_dlc(sid(0x200), 10).unwrap())
    );
    assert_eq!(
        err_of("2.5 1 200 Tx r 5 00"),
        (18, ErrorKind::TooManyData(5))
    );
}

#[test]
fn test_parse_error_frames() {
    for line in [
        "   2.501000 1  ErrorFrame",
        "   1.592186 1  ErrorFrame\tECC: 10100010",
        "   1.592186 1  ErrorFrame Flags = 0xe CodeExt = 0x20a2 Code = 0x82 ID = 0 DLC = 0 Position = 5 Length = 11300",
    ] {
        let r = one(line);
        assert_eq!(r.frame, bus_error(), "{line}");
        assert_eq!(r.direction, None);
        assert_eq!(r.interface, "can0");
    }
    let r = one(
        "3.923364 CANFD 2 Tx ErrorFrame Not Acknowledge error, dominant error flag fffe c7 31ca Data 45 ff 1 0 f 64 aa aa",
    );
    assert_eq!(r.frame, bus_error());
    assert_eq!(r.direction, Some(Direction::Tx));
    assert_eq!(r.interface, "can1");
}

#[test]
fn test_parse_classic_errors_with_columns() {
    assert_eq!(
        err_of("1.0 1 12G Rx d 0"),
        (9, ErrorKind::InvalidId(Found(b'G')))
    );
    assert_eq!(
        err_of("1.0 1 800 Rx d 0"),
        (7, ErrorKind::StandardIdRange(0x800))
    );
    assert_eq!(
        err_of("1.0 1 20000000x Rx d 0"),
        (7, ErrorKind::ExtendedIdRange(0x2000_0000))
    );
    assert_eq!(
        err_of("1.0 1 12 Rt d 0"),
        (10, ErrorKind::ExpectedDirection)
    );
    assert_eq!(
        err_of("1.0 1 12 Rx q 0"),
        (13, ErrorKind::ExpectedFrameKind)
    );
    assert_eq!(err_of("1.0 1 12 Rx d"), (14, ErrorKind::InvalidDlc));
    assert_eq!(err_of("1.0 1 12 Rx d 10"), (15, ErrorKind::InvalidDlc));
    assert_eq!(
        err_of("1.0 1 12 Rx d 3 01 02"),
        (
            22,
            ErrorKind::MissingData {
                expected: 3,
                found: 2
            }
        )
    );
    assert_eq!(
        err_of("1.0 1 12 Rx d 2 01 0x"),
        (20, ErrorKind::InvalidDataByte(Found(b'x')))
    );
    assert_eq!(
        err_of("1.0 1 12 Rx d 2 01 100"),
        (20, ErrorKind::DataByteRange)
    );
    assert_eq!(
        err_of("1.0 1 12 Rx d 1 01 02"),
        (20, ErrorKind::TooManyData(1))
    );
    assert_eq!(err_of("1.0 1"), (6, ErrorKind::MissingChannelEvent));
    assert_eq!(err_of("1.0"), (4, ErrorKind::MissingEvent));
    assert_eq!(err_of("1.0x 1 12 Rx d 0"), (1, ErrorKind::InvalidTimestamp));
    assert_eq!(err_of("12 1 12 Rx d 0"), (1, ErrorKind::InvalidTimestamp));
    assert_eq!(err_of("1. 1 12 Rx d 0"), (1, ErrorKind::InvalidTimestamp));
    assert_eq!(
        err_of("1.0 1234567890 12 Rx d 0"),
        (5, ErrorKind::InvalidChannel)
    );
    // The message names the file, the line and the column.
    let (items, _) = items_of(b"1.0 1 12 Rx d 1 01 02\n");
    let mut r = Reader::new(&b"\n1.0 1 12 Rx d 1 01 02\n"[..]).with_source_name("x.asc");
    r.read_item().unwrap();
    match r.read_item().unwrap() {
        Some(Item::Bad(e)) => assert_eq!(
            e.to_string(),
            "x.asc:2:20: more data bytes than the DLC 1 announces"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(items[0], Got::Bad(1, 20, _)));
}

#[test]
fn test_parse_events_we_do_not_carry() {
    let text = "\
date Die Dez 21 11:29:01 2004
base hex  timestamps absolute
internal events logged
// version 7.0.0
Begin Triggerblock Mon Mar 7 01:21:51 pm 2005
   0.0000 Start der Messung
   0.0006 CAN 1 Status:chip status error active
   1.0100 1  Statistic: D 0 R 0 XD 0 XR 0 E 0 O 0 B 0.0%
   2.0000 log direct start (0ms)
   2.0000 log trigger event
   2.5010 1  200             TxRq d 0
   2.5158 1  OverloadFrame
   1.200000    SV: 2 0 0 ::NS1::IntVar = 4
0.073973 Li 2d Tx 8 00 f0 f0 ff ff ff ff ff checksum = 70
   5.0 1 J1939TP FEE3p 6 0 0 - Rx d 23 01 02
   59.171614 CANXL   2 Rx   XLFF   984438   4656      432  msgCanXlTest1 e0 0
   59.171615 CANXL   2 Rx   ABCD   1
   6.0 CANFD 1 BusStatistic 1 2 3
End TriggerBlock
";
    let (items, stats) = items_of(text.as_bytes());
    let skipped: Vec<_> = items
        .iter()
        .filter_map(|g| match g {
            Got::Skipped(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        skipped,
        [
            "CAN controller status",
            "CAN bus statistics",
            "CAN transmit request (TxRq)",
            "CAN overload frame",
            "system variable",
            "LIN event",
            "J1939 transport protocol message",
            "CAN XL frame",
            "CAN XL channel event",
            "CAN FD channel event",
        ]
    );
    assert_eq!(
        stats,
        Stats {
            records: 0,
            other: 9,
            skipped: 10,
            bad: 0
        }
    );
    assert_eq!(items[0], Got::Other("date Die Dez 21 11:29:01 2004".into()));
    assert_eq!(items[18], Got::Other("End TriggerBlock".into()));
}

// ---------------------------------------------------------------------------------------------
// CAN FD lines

#[test]
fn test_parse_canfd_python_can_layout() {
    // python-can's ASCWriter (flags 0x1000 FDF, 0x2000 BRS, 0x4000 ESI).
    let r = one(
        "   0.000100 CANFD   2 Rx        123                                   1 1 9 12 00 01 02 03 04 05 06 07 08 09 0A 0B        0    0     7000        0        0        0        0        0",
    );
    assert_eq!(r.interface, "can1");
    assert_eq!(r.direction, Some(Direction::Rx));
    assert_eq!(
        r.frame,
        fd(sid(0x123), &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 7)
    );
    let r = one(
        "0.1 CANFD   1 Tx 1234567x                                   0 0 0  0        0    0     1000        0        0        0        0        0",
    );
    assert_eq!(
        r.frame,
        fd(xid(0x0123_4567), &[], 4),
        "an empty FD frame is not a remote frame"
    );
}

#[test]
fn test_parse_canfd_canoe_layout() {
    // Vector's example: a symbolic name, lower-case hex.
    let r = one(
        "   8.151536 CANFD   2 Tx c9  ABSdata_FD_64Byte 0 0 9 12 29 00 00 00 0b 2a 00 00 00 00 00 00 164000 167 121200 7ca0 500a2041 460a4841",
    );
    assert_eq!(
        r.frame,
        fd(sid(0xC9), &[0x29, 0, 0, 0, 0x0B, 0x2A, 0, 0, 0, 0, 0, 0], 4)
    );
    let data: Vec<u8> = (1..=64).collect();
    let hex: Vec<String> = data.iter().map(|b| format!("{b:02x}")).collect();
    let r = one(&format!(
        "   0.248166 CANFD   2 Rx   1fffffffx 0 0 f 64 {}  1238000  111   101000    46518 46500250 46280250",
        hex.join(" ")
    ));
    assert_eq!(r.frame, fd(xid(0x1FFF_FFFF), &data, 4));
    // python-can#1788's file: CANoe 8.2, flags 3000 (FDF and BRS).
    let r = one(
        "   594680.670773 CANFD  1 Rx 168   1 0 8 08 95 0b 80 00 00 00 00 00 0 0 3000 0 0 0 0 0",
    );
    assert_eq!(
        r.frame,
        fd(sid(0x168), &[0x95, 0x0B, 0x80, 0, 0, 0, 0, 0], 5)
    );
}

#[test]
fn test_parse_canfd_lines_with_classic_frames() {
    // No FDF flag: a classic frame on a CAN FD channel (can-utils reads it so).
    assert_eq!(
        frame_of(
            "0.1 CANFD 1 Rx 750 0 0 8 8 01 02 03 04 05 06 07 08 244000 126 200000 7e04 51200550 4b140250"
        ),
        classic(sid(0x750), &[1, 2, 3, 4, 5, 6, 7, 8])
    );
    assert_eq!(
        frame_of("0.1 CANFD 1 Rx 750 0 0 b 8 01 02 03 04 05 06 07 08 0 0 0 0 0 0 0 0"),
        Frame::Classic(
            ClassicFrame::with_raw_dlc(sid(0x750), [1, 2, 3, 4, 5, 6, 7, 8], 11).unwrap()
        )
    );
    // log2asc -f: a classic remote frame in a CANFD line (flags 0x10).
    assert_eq!(
        frame_of(
            "0.1 CANFD   1 Rx         7Ax                                  0 0 5  0   130000  130       10 0 0 0 0 0"
        ),
        Frame::Remote(RemoteFrame::new(xid(0x7A), 5).unwrap())
    );
}

#[test]
fn test_parse_canfd_older_layout() {
    assert_eq!(
        frame_of(
            "   0.010460 CANFD 1  101             Tx   1 0 d 8 8 F1 F1 F1 F1 F1 F1 F1 F1  Length = 209000 BitCount = 128 ID = 257"
        ),
        fd(sid(0x101), &[0xF1; 8], 5)
    );
    assert_eq!(
        frame_of(
            "   0.010235 CANFD 1  100             Tx   1 0 r 8  Length = 138000 BitCount = 57 ID = 256"
        ),
        Frame::Remote(RemoteFrame::new(sid(0x100), 8).unwrap())
    );
}

#[test]
fn test_parse_canfd_errors() {
    let head = "0.1 CANFD 1 Rx 123";
    assert_eq!(
        err_of(&format!("{head} 2 0 1 1 00 0 0 1000")).1,
        ErrorKind::ExpectedBrsEsi
    );
    assert_eq!(
        err_of(&format!("{head} 1 0 g 1 00 0 0 1000")).1,
        ErrorKind::InvalidDlc
    );
    assert_eq!(
        err_of(&format!("{head} 1 0 9 x 0 0 1000")).1,
        ErrorKind::ExpectedDataLength
    );
    assert_eq!(
        err_of(&format!(
            "{head} 1 0 9 10 {} 0 0 1000",
            ["00"; 10].join(" ")
        ))
        .1,
        ErrorKind::FdLength(10)
    );
    assert_eq!(
        err_of(&format!(
            "{head} 1 0 a 12 {} 0 0 1000",
            ["00"; 12].join(" ")
        ))
        .1,
        ErrorKind::DlcMismatch { dlc: 10, len: 12 }
    );
    assert_eq!(
        err_of(&format!("{head} 1 0 1 1 00 0 0 zz00")).1,
        ErrorKind::InvalidFlags
    );
    assert_eq!(
        err_of(&format!("{head} 0 0 c 12 {} 0 0 0", ["00"; 12].join(" "))).1,
        ErrorKind::ClassicLength(12)
    );
    assert_eq!(
        err_of(&format!("{head} 1 0 2 2 00")).1,
        ErrorKind::MissingData {
            expected: 2,
            found: 1
        }
    );
    assert_eq!(
        err_of("0.1 CANFD 1 Rx 123 1 0 1 1 0x1 0 0 1000"),
        (28, ErrorKind::InvalidDataByte(Found(b'x')))
    );
    assert_eq!(
        err_of("0.1 CANFD x Rx 123"),
        (11, ErrorKind::InvalidChannel)
    );
    assert_eq!(
        err_of("0.1 CANFD 1 Rx"),
        (15, ErrorKind::MissingChannelEvent)
    );
}

#[test]
fn test_parse_canxl_classic_and_fd_frames() {
    // Vector's examples (ASC specification 1.4.17, as quoted by can-utils' asc2log).
    let timing = "000000050005000e 0000000000a00010 0000000a000a001d 0000000000a00002 000000100010000f 000000000a00001";
    let r = one(&format!(
        "59.171614 CANXL   2 Rx   CBFF   243215   176      432  msgCanCCTest1 f 8 e1 89 e8 c2 b9 6d 5a f1 174 00000000 00000000 {timing}"
    ));
    assert_eq!(r.interface, "can1");
    assert_eq!(
        r.frame,
        Frame::Classic(
            ClassicFrame::with_raw_dlc(
                sid(0x432),
                [0xE1, 0x89, 0xE8, 0xC2, 0xB9, 0x6D, 0x5A, 0xF1],
                15
            )
            .unwrap()
        )
    );
    let r = one(&format!(
        "59.171614 CANXL   2 Tx   FBFF   243215   176      432  msgCanFDTest2 9 12 e1 89 e8 c2 b9 6d 5a f1 11 22 33 44 a 12345 00001240 00000000 {timing}"
    ));
    assert_eq!(r.direction, Some(Direction::Tx));
    assert_eq!(
        r.frame,
        fd(
            sid(0x432),
            &[
                0xE1, 0x89, 0xE8, 0xC2, 0xB9, 0x6D, 0x5A, 0xF1, 0x11, 0x22, 0x33, 0x44
            ],
            4
        )
    );
    // What can-utils' log2asc -x writes: no name, extended ids with `x`, remote flag 0x10.
    assert_eq!(
        frame_of(&format!(
            "   0.000000 CANXL   1 Rx   CEFF   984438   4656  12345678x                                   5 0 123123 00000010 00000000 {timing}"
        )),
        Frame::Remote(RemoteFrame::new(xid(0x1234_5678), 5).unwrap())
    );
    assert_eq!(
        frame_of(&format!(
            "   0.000000 CANXL   1 Rx   FEFF   984438   4656  1abx                                   1 1 07 8 123123 00007000 00000000 {timing}"
        )),
        fd(xid(0x1AB), &[7], 7)
    );
    let (items, _) = items_of(
        b"59.171614 CANXL   2 Rx   XLFF   984438   4656      432  msgCanXlTest1 e0 0  1fe  511 1 1f96 00 00000000 e1\n",
    );
    assert_eq!(items, [Got::Skipped("CAN XL frame".into())]);
    assert_eq!(
        err_of("1.0 CANXL 1 Rx CBFF 1 2 800 1 1 00 0 00000000").1,
        ErrorKind::StandardIdRange(0x800)
    );
    assert_eq!(
        err_of("1.0 CANXL 1 Rx CBFF 1 2 80 1 1 00 0").1,
        ErrorKind::InvalidFlags
    );
}

// ---------------------------------------------------------------------------------------------
// Event times

#[test]
fn test_times_absolute_from_the_date_header() {
    let r = records(
        "date Sat Nov  4 22:13:20 2023\nbase hex  timestamps absolute\nno internal events logged\n   0.000000 1  123             Rx   d 1 11\n   1.250000 1  123             Rx   d 1 11\n",
    );
    assert_eq!(r[0].timestamp, ts(1_699_136_000, 0));
    assert_eq!(r[1].timestamp, ts(1_699_136_001, 250_000_000));
}

#[test]
fn test_regression_python_can_1788_triggerblock_date_is_the_start() {
    // python-can writes the time of writing in `date` and the first frame's time in the
    // trigger block, with offsets from it; CANoe writes the same time in both.
    let text = "date Thu May 16 06:16:50.884 pm 2024
base hex  timestamps absolute
internal events logged
// version 8.2.0
Begin Triggerblock Thu May 16 06:16:50.884 pm 2024
   0.000000 Start der Messung
   594680.670773 CANFD  1 Rx 168   1 0 8 08 95 0b 80 00 00 00 00 00 0 0 3000 0 0 0 0 0
   594680.670895  5  1af    Rx    d 8 d3 0b 1c 6a 00 00 00 00
End TriggerBlock
";
    let r = records(text);
    let start = 1_715_883_410 * S + 884_000_000;
    assert_eq!(
        i128::from(r[0].timestamp.as_nanos()),
        start + 594_680 * S + 670_773_000
    );
    assert_eq!(r[1].interface, "can4");
    let python_can = "date Sat Nov 21 20:00:00.000 2026
base hex  timestamps absolute
internal events logged
Begin Triggerblock Sat Nov 21 19:40:05.5 2026
 0.000000 Start of measurement
 0.000250 1  123             Rx   d 0 
";
    let r = records(python_can);
    assert_eq!(
        r[0].timestamp,
        ts(1_795_290_005, 5_250_000),
        "python-can's `.5` is 5 ms"
    );
}

#[test]
fn test_times_later_trigger_blocks_keep_the_start() {
    let text = "date Mon Jan 1 12:00:00.000 am 2024
base hex  timestamps absolute
Begin Triggerblock Mon Jan 1 12:00:00.000 am 2024
   1.000000 1 1 Rx d 0
End TriggerBlock
Begin Triggerblock Mon Jan 1 12:00:10.000 am 2024
   10.000000 1 1 Rx d 0
End TriggerBlock
";
    let r = records(text);
    assert_eq!(r[0].timestamp, ts(1_704_067_201, 0));
    assert_eq!(r[1].timestamp, ts(1_704_067_210, 0));
}

#[test]
fn test_regression_python_can_2022_relative_times_add_up_over_every_event() {
    let text = "date Mon Jan 1 12:00:00.000 am 2024
base hex  timestamps relative
internal events logged
Begin Triggerblock Mon Jan 1 12:00:00.000 am 2024
   0.000000 Start of measurement
   0.500000 1  1 Rx d 0
   0.250000 1  Statistic: D 0 R 0 XD 0 XR 0 E 0 O 0 B 0.0%
   0.250000 1  2 Rx d 0
   0.000000 1  3 Rx d 0
   1.0 1 4 Rx d 1 zz
   1.000000 1  5 Rx d 0
";
    let (items, stats) = items_of(text.as_bytes());
    let times: Vec<Timestamp> = items
        .iter()
        .filter_map(|g| match g {
            Got::Rec(r) => Some(r.timestamp),
            _ => None,
        })
        .collect();
    let t0 = 1_704_067_200;
    assert_eq!(
        times,
        [
            ts(t0, 500_000_000),
            ts(t0 + 1, 0),
            ts(t0 + 1, 0),
            ts(t0 + 3, 0)
        ],
        "the statistics line and the bad line count as events"
    );
    assert_eq!(stats.bad, 1);
}

#[test]
fn test_times_without_a_date_start_at_zero_and_keep_nanoseconds() {
    let r = records("base hex  timestamps absolute\n12.123456789 1 1 Rx d 0\n0.1 1 1 Rx d 0\n");
    assert_eq!(r[0].timestamp, ts(12, 123_456_789));
    assert_eq!(r[0].precision, Precision::Nanos);
    assert_eq!(r[1].timestamp, ts(0, 100_000_000));
    assert_eq!(r[1].precision, Precision::Micros);
    // No header at all: hex and absolute.
    let r = records("1.000000 1 10 Rx d 0\n");
    assert_eq!(
        (r[0].timestamp, r[0].frame),
        (ts(1, 0), classic(sid(0x10), &[]))
    );
}

#[test]
fn test_times_negative_offsets_and_the_utc_offset() {
    let text = b"date Mon Jan 1 01:00:00.000 am 2024\nbase hex  timestamps absolute\n-0.500000 1 1 Rx d 0\n";
    let mut r = Reader::new(&text[..]).with_utc_offset(3600);
    let mut got = None;
    while let Some(item) = r.read_item().unwrap() {
        if let Item::Record(rec) = item {
            got = Some(rec.timestamp);
        }
    }
    assert_eq!(
        got,
        Some(ts(1_704_067_199, 500_000_000)),
        "01:00 CET is 00:00 UTC"
    );
    assert_eq!(r.start(), Some(ts(1_704_067_200, 0)));
    // Before the time line starts: a bad record.
    let (items, _) = items_of(b"base hex\n-1.0 1 1 Rx d 0\n");
    assert_eq!(items[1], Got::Bad(2, 1, ErrorKind::TimestampOutOfRange));
}

#[test]
fn test_dates_before_1970_are_reported_and_ignored() {
    let (items, _) = items_of(b"date Mon Jan 1 10:00:00 1900\nBegin Triggerblock Mon Jan 1 10:00:00 1900\n1.0 1 1 Rx d 0\n");
    assert_eq!(
        items[0],
        Got::Bad(1, 6, ErrorKind::InvalidDate(DateError::BeforeEpoch))
    );
    assert_eq!(
        items[1],
        Got::Bad(2, 20, ErrorKind::InvalidDate(DateError::BeforeEpoch))
    );
    match &items[2] {
        Got::Rec(r) => assert_eq!(r.timestamp, ts(1, 0)),
        other => panic!("{other:?}"),
    }
    let (items, _) = items_of(b"date Mon Jon 1 10:00:00 2000\n");
    assert_eq!(
        items[0],
        Got::Bad(1, 10, ErrorKind::InvalidDate(DateError::ExpectedMonth))
    );
}

#[test]
fn test_regression_can_utils_348_busmaster_header() {
    // BusMaster writes no `timestamps` keyword and times of day; asc2log read the ids as
    // decimal and the times as relative.
    let text = "date Mon Dec 6 11:21:13 am 2021
base hex  no internal events logged
// version 7.1.0
40874.808200 1 122 Rx d 8 E3 0C 00 FE 07 00 00 28
40874.810800 1 16A954A6x Rx d 8 00 00 20 79 78 5A 5A A5
";
    let r = records(text);
    let midnight = 1_638_789_673 - (11 * 3600 + 21 * 60 + 13);
    assert_eq!(r[0].timestamp, ts(midnight + 40_874, 808_200_000));
    assert_eq!(
        r[0].frame,
        classic(sid(0x122), &[0xE3, 0x0C, 0, 0xFE, 7, 0, 0, 0x28])
    );
    assert_eq!(r[1].timestamp, ts(midnight + 40_874, 810_800_000));
    assert_eq!(r[1].frame.id(), Some(xid(0x16A9_54A6)));
    // With `timestamps absolute` declared, times count from the date.
    let declared = text.replace("base hex  no", "base hex  timestamps absolute\nno");
    let r = records(&declared);
    assert_eq!(r[0].timestamp, ts(1_638_789_673 + 40_874, 808_200_000));
}

// ---------------------------------------------------------------------------------------------
// Reader

#[test]
fn test_reader_header_items_crlf_bom_and_channels() {
    let text = b"\xEF\xBB\xBFdate Thu May 16 06:16:50.884 pm 2024\r\nbase hex  timestamps absolute\r\n// Kommentar \xfc\r\n\r\n   0.1 3 1 Rx d 0\r\n   0.2 1 1 Tx d 0\r\n   0.3 3 1 Rx d 0\r\n";
    let (items, stats) = items_of(text);
    assert_eq!(
        items[0],
        Got::Other("date Thu May 16 06:16:50.884 pm 2024".into())
    );
    assert_eq!(
        items[2],
        Got::Other("// Kommentar \u{fffd}".into()),
        "lossy text"
    );
    assert_eq!(items[3], Got::Other(String::new()));
    let names: Vec<_> = items
        .iter()
        .filter_map(|g| match g {
            Got::Rec(r) => Some(r.interface.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["can2", "can0", "can2"]);
    assert_eq!(
        stats,
        Stats {
            records: 3,
            other: 4,
            skipped: 0,
            bad: 0
        }
    );
}

#[test]
fn test_reader_long_lines_and_io_errors() {
    let mut text = b"base hex\n".to_vec();
    text.extend(std::iter::repeat_n(b'1', 300));
    text.extend_from_slice(b"\n1.0 1 1 Rx d 0\n");
    let mut r = Reader::new(std::io::BufReader::with_capacity(7, &text[..])).with_max_line_len(100);
    let mut got = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        got.push(match item {
            Item::Record(_) => "record".to_string(),
            Item::Bad(e) => e.to_string(),
            Item::Other(_) => "other".into(),
            Item::Skipped(_) => "skipped".into(),
        });
    }
    assert_eq!(
        got,
        [
            "other",
            "<input>:2:101: line longer than 100 bytes",
            "record"
        ]
    );
    assert_eq!(r.lines(), 3);

    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let mut r = Reader::new(std::io::BufReader::new(Failing));
    let e = r.read_item().unwrap_err();
    assert!(!e.is_malformed());
    assert_eq!(e.to_string(), "<input>: read error at 1:1: disk on fire");
    assert_eq!(r.format(), Format::Asc);
}

#[test]
fn test_sniff() {
    assert!(sniff(
        b"date Thu May 16 06:16:50.884 pm 2024\nbase hex  timestamps absolute\n"
    ));
    assert!(sniff(b"\xEF\xBB\xBF\r\ndate Die Dez 21 11:29:01 2004\r\n"));
    assert!(sniff(b"base hex  timestamps absolute\n   0.1 1 1 Rx d 0\n"));
    assert!(sniff(b"// made by hand\nBASE DEC\n"));
    assert!(
        sniff(b"date jeudi 16 mai 2024 18:16:50\nbase hex  timestamps absolute\n"),
        "a date we cannot read, with a base line"
    );
    assert!(!sniff(b"date jeudi 16 mai 2024 18:16:50\n"));
    assert!(!sniff(b"(1700000000.000000) can0 123#11\n"));
    assert!(!sniff(b";$FILEVERSION=2.1\n"));
    assert!(!sniff(
        b"timestamp,arbitration_id,extended,remote,error,dlc,data\n"
    ));
    assert!(!sniff(b"LOGG\x90\0\0\0"));
    assert!(!sniff(b"MDF     4.10    "));
    assert!(!sniff(b""));
    assert!(!sniff(b"date,value\n"));
    assert!(!sniff(b"   0.1 1 1 Rx d 0\n"));
}

// ---------------------------------------------------------------------------------------------
// Writer

fn rec(t: Timestamp, iface: &str, frame: Frame, dir: Option<Direction>) -> OwnedRecord {
    OwnedRecord {
        timestamp: t,
        precision: Precision::Micros,
        interface: iface.to_string(),
        frame,
        direction: dir,
    }
}

fn write_all(records: &[OwnedRecord], options: WriteOptions) -> (String, Vec<Loss>) {
    let mut w = Writer::with_options(Vec::new(), options);
    for r in records {
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    let losses = w.losses().to_vec();
    (String::from_utf8(w.into_inner()).unwrap(), losses)
}

fn sample_records() -> Vec<OwnedRecord> {
    let t0 = 1_795_290_005;
    vec![
        rec(
            ts(t0, 5_123_000),
            "can0",
            classic(sid(0x123), &[0x11, 0x22, 0xAB]),
            Some(Direction::Rx),
        ),
        rec(
            ts(t0, 6_000_000),
            "can1",
            classic(xid(0x18DA_F110), &[]),
            Some(Direction::Tx),
        ),
        rec(
            ts(t0, 7_000_000),
            "can0",
            Frame::Classic(ClassicFrame::with_raw_dlc(sid(0x7FF), [1; 8], 12).unwrap()),
            None,
        ),
        rec(
            ts(t0, 8_000_000),
            "can0",
            Frame::Remote(RemoteFrame::new(sid(0x10), 5).unwrap()),
            Some(Direction::Tx),
        ),
        rec(
            ts(t0, 9_000_000),
            "can1",
            fd(xid(0x1234), &[0xEE; 12], 7),
            Some(Direction::Rx),
        ),
        rec(
            ts(t0, 10_000_000),
            "can0",
            fd(sid(0x5), &[], 0),
            Some(Direction::Tx),
        ),
        rec(ts(t0 + 1, 0), "can0", bus_error(), None),
    ]
}

const SAMPLE_ASC: &str = "\
date Sat Nov 21 07:40:05.005 pm 2026
base hex  timestamps absolute
internal events logged
Begin Triggerblock Sat Nov 21 07:40:05.005 pm 2026
   0.000000 Start of measurement
   0.000123 1  123             Rx   d 3 11 22 AB
   0.001000 2  18DAF110x       Tx   d 0
   0.002000 1  7FF             Rx   d c 01 01 01 01 01 01 01 01
   0.003000 1  10              Tx   r 5
   0.004000 CANFD   2 Rx      1234x                                  1 1 9 12 EE EE EE EE EE EE EE EE EE EE EE EE        0    0     7000        0        0        0        0        0
   0.005000 CANFD   1 Tx          5                                  0 0 0  0         0    0     1000        0        0        0        0        0
   0.995000 1  ErrorFrame
End TriggerBlock
";

#[test]
fn test_emit_python_can_layout() {
    let (text, losses) = write_all(&sample_records(), WriteOptions::default());
    assert_eq!(text, SAMPLE_ASC);
    assert!(losses.is_empty(), "{losses:?}");
}

#[test]
fn test_emit_then_read_back_every_frame_kind() {
    let records_in = sample_records();
    let (text, _) = write_all(&records_in, WriteOptions::default());
    let back = records(&text);
    assert_eq!(back.len(), records_in.len());
    for (a, b) in records_in.iter().zip(&back) {
        assert_eq!(a.timestamp, b.timestamp);
        assert_eq!(a.interface, b.interface);
        assert_eq!(
            a.direction
                .or(Some(Direction::Rx))
                .filter(|_| !a.frame.is_error()),
            b.direction
        );
        match (a.frame, b.frame) {
            (Frame::Fd(x), Frame::Fd(y)) => {
                assert_eq!(
                    (x.id(), x.data(), x.flags().brs(), x.flags().esi()),
                    (y.id(), y.data(), y.flags().brs(), y.flags().esi())
                );
                assert!(y.flags().fdf());
            }
            (x, y) => assert_eq!(x, y),
        }
    }
}

#[test]
fn test_emit_relative_nanoseconds_and_utc_offset() {
    let t0 = 1_704_067_200;
    let records_in = vec![
        rec(
            ts(t0 + 1, 1),
            "can0",
            classic(sid(1), &[]),
            Some(Direction::Rx),
        ),
        rec(
            ts(t0 + 1, 500_000_002),
            "vcan7",
            classic(sid(2), &[]),
            Some(Direction::Rx),
        ),
    ];
    let options = WriteOptions {
        timestamps: TimestampsMode::Relative,
        precision: Precision::Nanos,
        utc_offset_secs: 3600,
        start: None,
    };
    let (text, losses) = write_all(&records_in, options);
    assert_eq!(
        text,
        "date Mon Jan 1 01:00:01.000 am 2024\nbase hex  timestamps relative\ninternal events logged\nBegin Triggerblock Mon Jan 1 01:00:01.000 am 2024\n   0.000000000 Start of measurement\n   0.000000001 1  1               Rx   d 0\n   0.500000001 2  2               Rx   d 0\n End TriggerBlock\n"
            .replace("\n End", "\nEnd")
    );
    assert!(losses.is_empty());
    let mut r = Reader::new(text.as_bytes()).with_utc_offset(3600);
    let mut back = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        if let Item::Record(rec) = item {
            back.push((rec.timestamp, rec.precision, rec.interface.to_string()));
        }
    }
    assert_eq!(
        back,
        [
            (ts(t0 + 1, 1), Precision::Nanos, "can0".to_string()),
            (
                ts(t0 + 1, 500_000_002),
                Precision::Nanos,
                "can1".to_string()
            ),
        ]
    );
}

#[test]
fn test_emit_counts_what_asc_cannot_carry() {
    let t0 = 1_000;
    let prot = Frame::Error(ErrorFrame::new(0x8, [0, 0, 2, 0, 0, 0, 0, 0]).unwrap());
    let records_in = vec![
        rec(ts(t0, 500_000_000), "can0", classic(sid(1), &[]), None),
        rec(ts(t0, 400_000_000), "can0", classic(sid(1), &[]), None),
        rec(ts(t0, 600_000_001), "can0", classic(sid(1), &[]), None),
        rec(ts(t0, 700_000_000), "can0", prot, Some(Direction::Rx)),
        rec(
            ts(t0, 800_000_000),
            "can0",
            bus_error(),
            Some(Direction::Tx),
        ),
    ];
    let (text, losses) = write_all(&records_in, WriteOptions::default());
    assert_eq!(
        losses,
        [
            Loss {
                what: "time before the start of the capture (written at the start)",
                count: 1,
                dropped: false
            },
            Loss {
                what: "time digits below a microsecond",
                count: 1,
                dropped: false
            },
            Loss {
                what: "error class and details (ASC error frames carry none)",
                count: 1,
                dropped: false
            },
            Loss {
                what: "direction of error frames (ASC error frames have none)",
                count: 2,
                dropped: false
            },
        ]
    );
    assert!(
        text.contains("   0.000000 1  1               Rx   d 0\n   0.000000 1  1 "),
        "{text}"
    );
    // Relative times cannot go back.
    let options = WriteOptions {
        timestamps: TimestampsMode::Relative,
        ..WriteOptions::default()
    };
    let back_in_time = [
        records_in[0].clone(),
        records_in[3].clone(),
        records_in[2].clone(),
    ];
    let (_, losses) = write_all(&back_in_time, options);
    assert!(
        losses.contains(&Loss {
            what: "time earlier than the previous record (relative times cannot go back: \
                   written at the previous time)",
            count: 1,
            dropped: false
        }),
        "{losses:?}"
    );
}

#[test]
fn test_emit_without_records_and_after_finish() {
    let mut w = Writer::with_options(
        Vec::new(),
        WriteOptions {
            start: Some(ts(1_715_883_410, 884_999_999)),
            ..WriteOptions::default()
        },
    );
    w.finish().unwrap();
    w.finish().unwrap();
    let r = rec(Timestamp::ZERO, "can0", classic(sid(1), &[]), None);
    assert!(w.write_record(&r.as_record()).is_err());
    assert_eq!(
        String::from_utf8(w.into_inner()).unwrap(),
        "date Thu May 16 06:16:50.884 pm 2024\nbase hex  timestamps absolute\ninternal events logged\nBegin Triggerblock Thu May 16 06:16:50.884 pm 2024\n   0.000000 Start of measurement\nEnd TriggerBlock\n"
    );
}

#[test]
fn test_emit_channel_map_keeps_can_numbers() {
    let t = ts(5, 0);
    let records_in = vec![
        rec(t, "vcan0", classic(sid(1), &[]), None),
        rec(t, "can3", classic(sid(1), &[]), None),
        rec(t, "vcan0", classic(sid(1), &[]), None),
    ];
    let mut w = Writer::new(Vec::new());
    for r in &records_in {
        w.write_record(&r.as_record()).unwrap();
    }
    assert_eq!(
        w.channel_map().assignments(),
        [("vcan0".to_string(), 1), ("can3".to_string(), 4)]
    );
}

// ---------------------------------------------------------------------------------------------
// Properties

/// A record as the writer can carry it exactly: error frames are bus errors without a
/// direction, FD frames have the FDF flag, times are whole microseconds after the start.
fn arb_record() -> impl Strategy<Value = OwnedRecord> {
    (
        0u64..4_000_000_000_000_000,
        0u32..4,
        arb::frame(),
        prop_oneof![Just(Direction::Rx), Just(Direction::Tx)],
    )
        .prop_map(|(micros, ch, frame, dir)| {
            let (frame, direction) = match frame {
                Frame::Error(_) => (bus_error(), None),
                Frame::Fd(f) => (
                    Frame::Fd(
                        FdFrame::new(
                            f.id(),
                            f.data(),
                            FdFlags::from_bits(
                                f.flags().bits() & (FdFlags::BRS | FdFlags::ESI) | FdFlags::FDF,
                            )
                            .unwrap(),
                        )
                        .unwrap(),
                    ),
                    Some(dir),
                ),
                f => (f, Some(dir)),
            };
            OwnedRecord {
                timestamp: Timestamp::from_micros(micros).unwrap(),
                precision: Precision::Micros,
                interface: format!("can{ch}"),
                frame,
                direction,
            }
        })
}

proptest! {
    #[test]
    fn prop_write_then_read_gives_the_records_back(
        mut records_in in proptest::collection::vec(arb_record(), 1..40),
        relative in any::<bool>(),
        nanos in any::<bool>(),
    ) {
        if relative {
            records_in.sort_by_key(|r| r.timestamp);
        }
        let options = WriteOptions {
            timestamps: if relative { TimestampsMode::Relative } else { TimestampsMode::Absolute },
            precision: if nanos { Precision::Nanos } else { Precision::Micros },
            ..WriteOptions::default()
        };
        let first = records_in[0].timestamp.as_nanos();
        let start = first - first % 1_000_000;
        let (text, losses) = write_all(&records_in, options);
        let back = records(&text);
        prop_assert_eq!(back.len(), records_in.len());
        let mut lost = 0u64;
        for (a, b) in records_in.iter().zip(&back) {
            let mut want = a.clone();
            want.precision = options.precision;
            if a.timestamp.as_nanos() < start {
                want.timestamp = Timestamp::from_nanos(start);
                lost += 1;
            }
            prop_assert_eq!(&want, b);
        }
        prop_assert_eq!(losses.iter().map(|l| l.count).sum::<u64>(), lost);
    }

    #[test]
    fn prop_lines_never_panic(line in proptest::collection::vec(any::<u8>(), 0..200), dec in any::<bool>()) {
        let _ = parse_line(&line, if dec { Base::Dec } else { Base::Hex });
    }

    #[test]
    fn prop_near_valid_lines_never_panic(
        words in proptest::collection::vec(prop_oneof![
            Just("CANFD".to_string()), Just("Rx".to_string()), Just("Tx".to_string()),
            Just("d".to_string()), Just("r".to_string()), Just("ErrorFrame".to_string()),
            Just("ID".to_string()), Just("=".to_string()), Just("1000".to_string()),
            "[0-9a-fA-FxX.:-]{1,12}",
        ], 0..30)
    ) {
        let line = format!("1.5 {}", words.join(" "));
        let _ = parse_line(line.as_bytes(), Base::Hex);
        let _ = parse_line(words.join(" ").as_bytes(), Base::Dec);
        let _ = sniff(line.as_bytes());
    }

    #[test]
    fn prop_reader_counts_every_line(text in proptest::collection::vec(any::<u8>(), 0..600), cap in 1usize..16) {
        let mut r = Reader::new(std::io::BufReader::with_capacity(cap, &text[..])).with_max_line_len(64);
        let mut n = 0u64;
        while r.read_item().unwrap().is_some() {
            n += 1;
        }
        let s = r.stats();
        prop_assert_eq!(n, r.lines());
        prop_assert_eq!(n, s.records + s.other + s.skipped + s.bad);
    }
}

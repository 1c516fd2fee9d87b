//! Unit tests of the candump screen grammar, its errors and the reader.

use super::*;
use crate::log::OwnedRecord;
use crate::log::candump;
use proptest::prelude::*;
use std::io::{BufReader, Cursor};

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

fn xid(raw: u32) -> Id {
    Id::extended(raw).unwrap()
}

fn ts(secs: u64, micros: u32) -> Timestamp {
    Timestamp::from_secs_nanos(secs, micros * 1_000).unwrap()
}

/// What a reader makes of `text`: records, and the other items as strings.
#[derive(Debug, Default)]
struct Read {
    records: Vec<OwnedRecord>,
    other: Vec<String>,
    skipped: Vec<String>,
    bad: Vec<String>,
}

fn read_with(text: &str, relative: RelativeTime) -> (Read, Stats) {
    let mut r = Reader::new(Cursor::new(text.as_bytes().to_vec())).with_relative_time(relative);
    let mut out = Read::default();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Record(rec) => out.records.push(rec.to_owned_record()),
            Item::Other(s) => out.other.push(s.to_owned()),
            Item::Skipped(s) => out.skipped.push(s.to_owned()),
            Item::Bad(e) => out.bad.push(e.to_string()),
        }
    }
    let stats = r.stats();
    (out, stats)
}

fn read(text: &str) -> Read {
    read_with(text, RelativeTime::Auto).0
}

/// The one record of a one-line text.
fn record(line: &str) -> OwnedRecord {
    let r = read(line);
    assert!(r.bad.is_empty(), "{line:?}: {:?}", r.bad);
    assert_eq!(r.records.len(), 1, "{line:?}: {r:?}");
    r.records.into_iter().next().unwrap()
}

fn frame(line: &str) -> Frame {
    record(line).frame
}

/// The error of a one-line text: `column: message`.
fn bad(line: &str) -> String {
    let mut r = Reader::new(line.as_bytes());
    match r.read_item().unwrap() {
        Some(Item::Bad(ReadError::Format(e))) => format!(
            "{}: {}",
            match e.location {
                Location::Line { column, .. } => column,
                _ => 0,
            },
            e.kind
        ),
        other => panic!("{line:?} read as {other:?}"),
    }
}

#[test]
fn test_parse_plain_classic_lines() {
    let r = record("  can0  123   [4]  11 22 33 44");
    assert_eq!(r.interface, "can0");
    assert_eq!(r.timestamp, Timestamp::ZERO);
    assert_eq!(r.direction, None);
    assert_eq!(
        r.frame,
        Frame::classic(sid(0x123), &[0x11, 0x22, 0x33, 0x44]).unwrap()
    );
    assert_eq!(
        frame("  can0  7FF   [0]"),
        Frame::classic(sid(0x7FF), &[]).unwrap()
    );
    assert_eq!(
        frame("  vcan0  1F334455   [8]  01 02 03 04 05 06 07 08"),
        Frame::classic(xid(0x1F33_4455), &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap()
    );
    // Standard ids shifted right once candump has seen an extended frame.
    assert_eq!(
        frame("  vcan0       0C8   [2]  F0 0D"),
        Frame::classic(sid(0xC8), &[0xF0, 0x0D]).unwrap()
    );
    // Lower-case hex, CRLF line ends and trailing blanks are accepted.
    assert_eq!(
        frame("  can0  1ab   [2]  de ad  \r\n"),
        Frame::classic(sid(0x1AB), &[0xDE, 0xAD]).unwrap()
    );
}

#[test]
fn test_parse_interface_alignment() {
    let r = read(concat!(
        "       vcan0  123   [1]  01\n",
        "   vcanlong1  123   [1]  02\n",
        "  vcanlong1  123   [1]  03\n",
    ));
    let names: Vec<_> = r.records.iter().map(|r| r.interface.as_str()).collect();
    assert_eq!(names, ["vcan0", "vcanlong1", "vcanlong1"]);
}

#[test]
fn test_parse_absolute_timestamps() {
    let r = record(" (1700000000.123456)  can0  123   [1]  11");
    assert_eq!(r.timestamp, ts(1_700_000_000, 123_456));
    assert_eq!(r.precision, Precision::Micros);
    let r = record(" (1700000000.123456789)  can0  123   [1]  11");
    assert_eq!(r.timestamp.subsec_nanos(), 123_456_789);
    assert_eq!(r.precision, Precision::Nanos);
    // `%010llu`: ten digits even near 1970.
    let r = record(" (0000000012.000001)  can0  123   [1]  11");
    assert_eq!(r.timestamp, ts(12, 1));
}

#[test]
fn test_parse_date_timestamps_as_utc_or_with_an_offset() {
    let line = " (2026-12-05 01:02:03.123456)  can0  123   [1]  11";
    // `date -u -d '2026-12-05 01:02:03' +%s` = 1796432523.
    assert_eq!(record(line).timestamp, ts(1_796_432_523, 123_456));
    let mut r = Reader::new(line.as_bytes()).with_utc_offset(3600);
    match r.read_item().unwrap() {
        Some(Item::Record(rec)) => assert_eq!(rec.timestamp, ts(1_796_432_523 - 3600, 123_456)),
        other => panic!("{other:?}"),
    }
    let r = record(" (2024-02-29 23:59:59.999999999)  can0  123   [1]  11");
    // `date -u -d '2024-02-29 23:59:59' +%s` = 1709251199.
    assert_eq!(r.timestamp.secs(), 1_709_251_199);
    assert_eq!(r.precision, Precision::Nanos);
    assert_eq!(
        bad(" (2023-02-29 00:00:00.000000)  can0  123   [1]  11"),
        "3: invalid calendar date or time in the timestamp"
    );
    assert_eq!(
        bad(" (2023-01-01 24:00:00.000000)  can0  123   [1]  11"),
        "3: invalid calendar date or time in the timestamp"
    );
    assert_eq!(
        bad(" (1969-12-31 23:59:59.000000)  can0  123   [1]  11"),
        "2: timestamp does not fit in 64-bit nanoseconds since 1970"
    );
    assert_eq!(
        bad(" (2023-01-01T00:00:00.000000)  can0  123   [1]  11"),
        "13: timestamp is neither SECONDS.FRACTION nor YYYY-MM-DD HH:MM:SS.FRACTION"
    );
}

#[test]
fn test_parse_zero_based_timestamps() {
    let text = concat!(
        " (000.000000)  can0  123   [1]  01\n",
        " (000.010000)  can0  123   [1]  02\n",
        " (000.020002)  can0  123   [1]  03\n",
        " (000.030000)  can0  123   [1]  04\n",
        " (1234.500000)  can0  123   [1]  05\n",
    );
    let (r, _) = read_with(text, RelativeTime::Auto);
    let times: Vec<_> = r.records.iter().map(|r| r.timestamp).collect();
    assert_eq!(
        times,
        [
            ts(0, 0),
            ts(0, 10_000),
            ts(0, 20_002),
            ts(0, 30_000),
            ts(1234, 500_000)
        ]
    );
    let mut reader = Reader::new(text.as_bytes());
    assert_eq!(reader.relative_time(), RelativeTime::Auto);
    reader.read_item().unwrap();
    assert_eq!(reader.relative_time(), RelativeTime::Zero);
}

#[test]
fn test_parse_delta_timestamps_accumulate() {
    let text = concat!(
        " (000.000000)  can0  123   [1]  01\n",
        " (000.010000)  can0  123   [1]  02\n",
        " (000.009000)  can0  123   [1]  03\n",
        " (000.011000)  can0  123   [1]  04\n",
        " (002.000000)  can0  123   [1]  05\n",
    );
    let (r, _) = read_with(text, RelativeTime::Auto);
    let times: Vec<_> = r.records.iter().map(|r| r.timestamp).collect();
    assert_eq!(
        times,
        [
            ts(0, 0),
            ts(0, 10_000),
            ts(0, 19_000),
            ts(0, 30_000),
            ts(2, 30_000)
        ]
    );
    let mut reader = Reader::new(text.as_bytes());
    reader.read_item().unwrap();
    assert_eq!(reader.relative_time(), RelativeTime::Delta);
    // Told explicitly, no detection: the same text zero-based.
    let (r, _) = read_with(text, RelativeTime::Zero);
    assert_eq!(r.records[2].timestamp, ts(0, 9_000));
}

#[test]
fn test_relative_detection_follows_each_interface() {
    // Zero-based times of two interfaces interleaved out of order (two sockets): each
    // interface alone never goes back, so this is -t z.
    let mut text = String::new();
    for i in 0..50u32 {
        text.push_str(&format!(" (000.{:06})  vcan0  123   [0]\n", i * 1000 + 500));
        text.push_str(&format!(" (000.{:06})  vcan1  456   [0]\n", i * 1000));
    }
    let mut reader = Reader::new(text.as_bytes());
    reader.read_item().unwrap();
    assert_eq!(reader.relative_time(), RelativeTime::Zero);
    // Deltas with jitter: they go back often.
    let mut text = String::new();
    for i in 0..50u32 {
        text.push_str(&format!(
            " (000.{:06})  vcan0  123   [0]\n",
            1000 + (i * 7919) % 200
        ));
    }
    let mut reader = Reader::new(text.as_bytes());
    reader.read_item().unwrap();
    assert_eq!(reader.relative_time(), RelativeTime::Delta);
}

#[test]
fn test_parse_extra_columns() {
    let r = record(" (1700000000.000001)  can0  TX - -  123   [1]  11");
    assert_eq!(r.direction, Some(Direction::Tx));
    let r = record("  can0  RX B E  123  [12]  00 01 02 03 04 05 06 07 08 09 0A 0B");
    assert_eq!(r.direction, Some(Direction::Rx));
    let Frame::Fd(f) = r.frame else {
        panic!("{:?}", r.frame)
    };
    assert!(f.flags().brs() && f.flags().esi() && f.flags().fdf());
    assert_eq!(f.data().len(), 12);
    let Frame::Fd(f) = frame("  can0  RX B -  123  [00]") else {
        panic!()
    };
    assert_eq!(f.flags().bits(), FdFlags::FDF | FdFlags::BRS);
    assert_eq!(
        bad("  can0  RX X -  123   [0]"),
        "12: expected the CAN FD flags 'B'/'-' and 'E'/'-' after TX/RX"
    );
    assert_eq!(
        bad("  can0  TX -  123   [0]"),
        "15: expected the CAN FD flags 'B'/'-' and 'E'/'-' after TX/RX"
    );
}

#[test]
fn test_parse_fd_lengths_and_flags_without_x() {
    let data: Vec<String> = (0..64).map(|i| format!("{i:02X}")).collect();
    for len in [0usize, 1, 8, 12, 16, 20, 24, 32, 48, 64] {
        let line = format!("  can0  12345678  [{len:02}]  {}", data[..len].join(" "));
        let Frame::Fd(f) = frame(line.trim_end()) else {
            panic!("{line}")
        };
        assert_eq!(f.id(), xid(0x1234_5678));
        assert_eq!(f.data(), (0..len as u8).collect::<Vec<_>>().as_slice());
        // Without -x the line does not say BRS/ESI.
        assert_eq!(f.flags().bits(), FdFlags::FDF);
    }
    assert_eq!(
        bad("  can0  123  [09]"),
        "15: length 9 is not a CAN FD length"
    );
    assert_eq!(
        bad("  can0  123  [12]  00 01"),
        "25: expected 12 data bytes, found 2"
    );
}

#[test]
fn test_parse_remote_frames() {
    assert_eq!(
        frame("  can0  123   [0]  remote request"),
        Frame::Remote(RemoteFrame::new(sid(0x123), 0).unwrap())
    );
    assert_eq!(
        frame("  can0  12345678   [5]  remote request"),
        Frame::Remote(RemoteFrame::new(xid(0x1234_5678), 5).unwrap())
    );
    // `-8`: a raw DLC on a remote frame.
    assert_eq!(
        frame("  can0  123   {9}  remote request"),
        Frame::Remote(RemoteFrame::with_raw_dlc(sid(0x123), 9).unwrap())
    );
    assert_eq!(
        bad("  can0  123  [08]  remote request"),
        "20: a CAN FD frame cannot be a remote request"
    );
    assert_eq!(
        bad("  can0  123   [0]  remote request x"),
        "34: unexpected text after the frame"
    );
}

#[test]
fn test_parse_raw_dlc_view() {
    assert_eq!(
        frame("  can0  123   {9}  01 02 03 04 05 06 07 08"),
        Frame::Classic(
            ClassicFrame::with_raw_dlc(sid(0x123), [1, 2, 3, 4, 5, 6, 7, 8], 9).unwrap()
        )
    );
    assert_eq!(
        frame("  can0  123   {F}  01 02 03 04 05 06 07 08"),
        Frame::Classic(
            ClassicFrame::with_raw_dlc(sid(0x123), [1, 2, 3, 4, 5, 6, 7, 8], 15).unwrap()
        )
    );
    assert_eq!(
        frame("  can0  123   {3}  01 02 03"),
        Frame::classic(sid(0x123), &[1, 2, 3]).unwrap()
    );
    assert_eq!(
        bad("  can0  20000004   {9}  00 00 00 00 00 00 00 00   ERRORFRAME"),
        "20: an error frame has no raw DLC"
    );
}

#[test]
fn test_parse_error_frames_and_details() {
    let text = concat!(
        "  can0  20000004   [8]  00 04 00 00 00 00 00 00   ERRORFRAME\n",
        "\tcontroller-problem{rx-error-warning}\n",
        "  can0  20000088   [8]  00 00 08 00 00 00 00 00   ERRORFRAME\n",
        "\tprotocol-violation{{frame-format-error}{}}\n",
        "\tbus-error\n",
        "  can0  20000200   [8]  00 00 00 00 00 00 7F 80   ERRORFRAME\n",
        "\terror-counter-tx-rx{{127}{128}}\n",
        "  can0  20000004   [2]  00 04                     ERRORFRAME\n",
    );
    let (r, stats) = read_with(text, RelativeTime::Auto);
    assert!(r.bad.is_empty(), "{:?}", r.bad);
    assert_eq!(
        r.records.iter().map(|r| r.frame).collect::<Vec<_>>(),
        [
            Frame::Error(ErrorFrame::new(0x4, [0, 4, 0, 0, 0, 0, 0, 0]).unwrap()),
            Frame::Error(ErrorFrame::new(0x88, [0, 0, 8, 0, 0, 0, 0, 0]).unwrap()),
            Frame::Error(ErrorFrame::new(0x200, [0, 0, 0, 0, 0, 0, 0x7F, 0x80]).unwrap()),
            Frame::Error(ErrorFrame::new(0x4, [0, 4, 0, 0, 0, 0, 0, 0]).unwrap()),
        ]
    );
    assert_eq!(
        r.other,
        [
            "\tcontroller-problem{rx-error-warning}",
            "\tprotocol-violation{{frame-format-error}{}}",
            "\tbus-error",
            "\terror-counter-tx-rx{{127}{128}}"
        ]
    );
    assert_eq!(stats.records, 4);
    assert_eq!(stats.other, 4);
    assert_eq!(
        bad("  can0  20000004   [8]  00 04 00 00 00 00 00 00"),
        "48: an error frame must be marked ERRORFRAME"
    );
    assert_eq!(
        bad("  can0  10000004   [8]  00 04 00 00 00 00 00 00   ERRORFRAME"),
        "51: ERRORFRAME on a frame whose id is not an error frame's"
    );
    assert_eq!(
        bad("  can0  60000004   [8]  00 04 00 00 00 00 00 00   ERRORFRAME"),
        "9: error frame id 0x60000004 has bits set above CAN_ERR_FLAG"
    );
    assert_eq!(
        bad("  can0  20000004  [08]  00 04 00 00 00 00 00 00"),
        "19: an error frame cannot be a CAN FD frame"
    );
}

#[test]
fn test_parse_ascii_column() {
    let r = record("  can0  123   [4]  41 00 7E 7F               'A.~.'");
    assert_eq!(
        r.frame,
        Frame::classic(sid(0x123), &[0x41, 0, 0x7E, 0x7F]).unwrap()
    );
    // Quotes and spaces inside the column.
    assert_eq!(
        frame("  can0  123   [3]  27 20 27                  '' ''"),
        Frame::classic(sid(0x123), b"' '").unwrap()
    );
    assert_eq!(
        frame("  can0  123   [0]                            ''"),
        Frame::classic(sid(0x123), &[]).unwrap()
    );
    // FD frames of up to 8 bytes have the column too.
    assert!(frame("  can0  123  [02]  41 42                     'AB'").is_fd());
    assert_eq!(
        bad("  can0  123   [2]  41 42                     'AC'"),
        "48: the ASCII column does not match the data bytes"
    );
    assert_eq!(
        bad("  can0  123   [2]  41 42                     'AB"),
        "46: the ASCII column does not match the data bytes"
    );
    assert_eq!(
        bad("  can0  123   [2]  41 42 x"),
        "26: unexpected text after the frame"
    );
    assert_eq!(
        bad("  can0  123   [2]  41 42'AB'"),
        "25: unexpected text after the frame"
    );
}

#[test]
fn test_parse_swapped_and_binary_views() {
    // -S: bytes in reverse order, joined by '`'.
    assert_eq!(
        frame("  can0  123   [4]  44`33`22`11               `D3\".`"),
        Frame::classic(sid(0x123), &[0x11, 0x22, 0x33, 0x44]).unwrap()
    );
    assert_eq!(
        frame("  can0  123   [3]  03`02`01"),
        Frame::classic(sid(0x123), &[1, 2, 3]).unwrap()
    );
    // One byte: the same either way; the back-quoted column says swapped.
    assert_eq!(
        frame("  can0  123   [1]  41                        `A`"),
        Frame::classic(sid(0x123), b"A").unwrap()
    );
    // -i: binary octets.
    assert_eq!(
        frame("  can0  123   [2]  00010001 10000000"),
        Frame::classic(sid(0x123), &[0x11, 0x80]).unwrap()
    );
    assert_eq!(
        frame("  can0  123   [2]  10000000`00010001"),
        Frame::classic(sid(0x123), &[0x11, 0x80]).unwrap()
    );
    assert_eq!(
        bad("  can0  123   [3]  03`02 01"),
        "26: data bytes are separated by both spaces and '`'"
    );
    assert_eq!(
        bad("  can0  123   [2]  00010001 11"),
        "29: expected a data byte (two hex digits or eight binary digits), found '1'"
    );
}

#[test]
fn test_parse_ansi_colours_are_stripped() {
    // -c: colour at the interface; -c -c: reset at the end; -c -c -c: colour from the start.
    let text = concat!(
        "  \x1b[1m\x1b[34mcan0\x1b[0m  123   [1]  11\n",
        " \x1b[1m\x1b[31m(1700000000.000001)  can1  123   [1]  22\x1b[0m\n",
        "  \x1b[1m\x1b[34mcan0  20000004   [8]  00 04 00 00 00 00 00 00   ERRORFRAME\n",
        "\tcontroller-problem{rx-error-warning}\x1b[0m\n",
    );
    let r = read(text);
    assert!(r.bad.is_empty(), "{:?}", r.bad);
    assert_eq!(r.records.len(), 3);
    assert_eq!(r.records[0].interface, "can0");
    assert_eq!(r.records[1].interface, "can1");
    assert_eq!(r.records[1].timestamp, ts(1_700_000_000, 1));
    assert_eq!(r.other, ["\tcontroller-problem{rx-error-warning}"]);
    // Columns count the raw bytes, escapes included.
    assert_eq!(
        bad("  \x1b[1m\x1b[34mcan0\x1b[0m  12G   [1]  11"),
        "24: invalid character 'G' in the CAN id"
    );
}

#[test]
fn test_parse_log2long_layout() {
    // can-utils log2long: `(time)  iface  frame`, no leading blank, no alignment.
    let r = read(concat!(
        "(1700000000.000001)  can0       123   [4]  11 22 33 44               '.\"3D'\n",
        "(1700000000.000002)  can0  12345678   [5]  remote request\n",
    ));
    assert!(r.bad.is_empty(), "{:?}", r.bad);
    assert_eq!(r.records.len(), 2);
}

#[test]
fn test_parse_other_and_skipped_lines() {
    let (r, stats) = read_with(
        concat!(
            "\n",
            "DROPCOUNT: dropped 3 CAN frames on 'vcan1' socket (total drops 3)\n",
            "   \n",
            "  can0  123 [0064] (00|11:22:12345678)  00 01 02\n",
            "  can0  TX S -  123 [0002] (00|81:22:12345678)  00 01\n",
        ),
        RelativeTime::Auto,
    );
    assert_eq!(
        r.other,
        [
            "",
            "DROPCOUNT: dropped 3 CAN frames on 'vcan1' socket (total drops 3)",
            ""
        ]
    );
    assert_eq!(r.skipped, ["CAN XL frame", "CAN XL frame"]);
    assert_eq!(
        stats,
        Stats {
            records: 0,
            other: 3,
            skipped: 2,
            bad: 0
        }
    );
}

#[test]
fn test_parse_errors_with_columns() {
    assert_eq!(
        bad(" (1700000000.123456  can0  123   [1]  11"),
        "20: expected ')' to close the timestamp"
    );
    assert_eq!(
        bad(" (1700000000.1234)  can0  123   [1]  11"),
        "14: timestamp fraction has 4 digits, expected 6 (microseconds) or 9 (nanoseconds)"
    );
    assert_eq!(
        bad(" (99999999999999999999.000000)  can0  123   [1]  11"),
        "3: timestamp does not fit in 64-bit nanoseconds since 1970"
    );
    assert_eq!(
        bad(" (1.000000)can0  123   [1]  11"),
        "12: expected a blank after the timestamp"
    );
    assert_eq!(bad(" (1.000000)  "), "12: missing interface name");
    assert_eq!(bad("  can0"), "7: missing CAN id");
    assert_eq!(
        bad("  can0  1234   [1]  11"),
        "9: CAN id has 4 hex digits, expected 3 (standard) or 8 (extended)"
    );
    assert_eq!(
        bad("  can0  800   [1]  11"),
        "9: id 0x800 does not fit in 11 bits"
    );
    assert_eq!(
        bad("  can0  123  1  11"),
        "14: expected the length in brackets: [8], {9} or [64]"
    );
    assert_eq!(
        bad("  can0  123   [9]  11"),
        "16: classic CAN length 9 exceeds 8"
    );
    assert_eq!(
        bad("  can0  123   [3]  11 22"),
        "25: expected 3 data bytes, found 2"
    );
    assert_eq!(
        bad("  can0  123   [2]  11 2"),
        "24: expected 2 data bytes, found 1"
    );
    assert_eq!(
        bad("  can0  123   [1]  1G"),
        "21: expected a data byte (two hex digits or eight binary digits), found 'G'"
    );
}

#[test]
fn test_reader_error_display_names_the_source() {
    let mut r = Reader::new(&b"  can0  12G   [1]  11\n"[..]).with_source_name("cap.txt");
    match r.read_item().unwrap() {
        Some(Item::Bad(e)) => {
            assert!(e.is_malformed());
            assert_eq!(
                e.to_string(),
                "cap.txt:1:11: invalid character 'G' in the CAN id"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.format(), Format::CandumpScreen);
}

#[test]
fn test_reader_long_and_non_utf8_lines_resync() {
    let mut text = Vec::new();
    text.extend_from_slice(b"  can0  123   [1]  11\n");
    text.extend_from_slice(&[b'x'; 300]);
    text.push(b'\n');
    text.extend_from_slice(b"  can\xff  123   [1]  11\n");
    text.extend_from_slice(b"\t\xff\n");
    text.extend_from_slice(b"  can0  123   [1]  22");
    let mut r = Reader::new(BufReader::with_capacity(7, &text[..])).with_max_line_len(100);
    let mut kinds = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        kinds.push(match item {
            Item::Record(rec) => format!("{:?}", rec.frame.data()),
            Item::Bad(e) => e.to_string(),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(
        kinds,
        [
            "[17]",
            "<input>:2:101: line longer than 100 bytes",
            "<input>:3:6: interface name is not valid UTF-8",
            "<input>:4:2: line is not valid UTF-8",
            "[34]"
        ]
    );
    assert_eq!(r.stats().bad, 3);
}

#[test]
fn test_reader_io_error_is_distinct() {
    struct Failing;
    impl io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let mut r = Reader::new(BufReader::new(Failing));
    let e = r.read_item().unwrap_err();
    assert!(!e.is_malformed());
    assert!(e.to_string().contains("disk on fire"), "{e}");
}

#[test]
fn test_sniff_screen_and_not_logs() {
    assert!(sniff(b"  can0  123   [4]  11 22 33 44\n  can0  1"));
    assert!(sniff(
        b" (1700000000.123456)  can0  123   [4]  11 22 33 44\n"
    ));
    assert!(sniff(b"\n (000.000000)  vcan0  TX - -  12345678   [0]\n"));
    assert!(sniff(
        b" \x1b[1m\x1b[31m(1700000000.000001)  can1  123   [1]  22\x1b[0m\n"
    ));
    assert!(sniff(
        b"(1700000000.000001)  can0       123   [4]  11 22 33 44               '.\"3D'\n"
    ));
    assert!(!sniff(b"(1700000000.123456) can0 123#11223344\n"));
    assert!(!sniff(
        b"timestamp,arbitration_id,extended,remote,error,dlc,data\n"
    ));
    assert!(!sniff(
        b"date Mon Jan 1 00:00:00.000 2024\nbase hex  timestamps absolute\n"
    ));
    assert!(!sniff(b";$FILEVERSION=2.1\n"));
    assert!(!sniff(b""));
    assert!(!sniff(b"\x89PNG\r\n"));
    // And the log sniffer no longer takes timestamped screen output for a log.
    assert!(!candump::sniff(
        b" (1700000000.123456)  can0  123   [4]  11 22 33 44\n"
    ));
    assert!(candump::sniff(b"(1700000000.123456) can0 123#11223344\n"));
    assert!(candump::sniff(b"\n(000.000000)  vcan0 123##5AA R\n"));
}

#[test]
fn test_long_capture_streams_with_flat_memory() {
    // 100k frames through a reader over a generator: nothing but the line buffer grows.
    struct Gen {
        n: u32,
        buf: Vec<u8>,
        pos: usize,
    }
    impl io::Read for Gen {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.buf.len() {
                if self.n == 100_000 {
                    return Ok(0);
                }
                self.buf.clear();
                self.pos = 0;
                let i = self.n;
                self.n += 1;
                use std::io::Write;
                writeln!(
                    self.buf,
                    " (000.{:06})  can{}  {:03X}   [2]  {:02X} {:02X}",
                    i % 1_000_000,
                    i % 2,
                    i % 0x800,
                    i & 0xFF,
                    (i >> 8) & 0xFF
                )?;
            }
            let n = out.len().min(self.buf.len() - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }
    let mut r = Reader::new(BufReader::new(Gen {
        n: 0,
        buf: Vec::new(),
        pos: 0,
    }));
    let mut count = 0u32;
    while let Some(item) = r.read_item().unwrap() {
        let Item::Record(rec) = item else {
            panic!("{item:?}")
        };
        assert_eq!(
            rec.frame.data(),
            [(count & 0xFF) as u8, ((count >> 8) & 0xFF) as u8]
        );
        count += 1;
    }
    assert_eq!(count, 100_000);
    assert_eq!(r.relative_time(), RelativeTime::Zero);
    assert!(r.lines.line.capacity() < 1024);
}

// ---------------------------------------------------------------------------------------------
// Property tests: a screen line written the way candump's lib.c writes it reads back as the
// frame.

/// `snprintf_long_canframe` of `frame` with the given views (our own rendering of the C code).
fn long_frame(frame: &Frame, indent: bool, ascii: bool, len8: bool, swap: bool) -> String {
    let mut s = String::new();
    let (id_text, width) = match frame {
        Frame::Error(e) => (format!("{:08X}", e.class() | CAN_ERR_FLAG), 10),
        _ => {
            let id = frame.id().unwrap();
            if id.is_extended() {
                (format!("{:08X}", id.raw()), 10)
            } else if indent {
                (format!("     {:03X}", id.raw()), 10)
            } else {
                (format!("{:03X}", id.raw()), 5)
            }
        }
    };
    s.push_str(&id_text);
    while s.len() < width {
        s.push(' ');
    }
    let data: Vec<u8> = frame.data().to_vec();
    match frame {
        Frame::Fd(f) => s.push_str(&format!("[{:02}]", f.data().len())),
        Frame::Remote(r) => {
            if len8 {
                s.push_str(&format!(" {{{:X}}}", r.dlc()));
            } else {
                s.push_str(&format!(" [{}]", r.len()));
            }
            s.push_str("  remote request");
            return s;
        }
        Frame::Classic(c) if len8 => s.push_str(&format!(" {{{:X}}}", c.dlc())),
        _ => s.push_str(&format!(" [{}]", data.len())),
    }
    s.push(' ');
    let order: Vec<u8> = if swap {
        data.iter().rev().copied().collect()
    } else {
        data.clone()
    };
    for (i, b) in order.iter().enumerate() {
        s.push(if swap && i > 0 { '`' } else { ' ' });
        s.push_str(&format!("{b:02X}"));
    }
    if data.len() > 8 {
        return s;
    }
    let pad = 3 * (8 - data.len());
    if frame.is_error() {
        s.push_str(&format!("{:>w$}", "ERRORFRAME", w = pad + 13));
    } else if ascii {
        let q = if swap { '`' } else { '\'' };
        s.push_str(&format!("{:>w$}", q, w = pad + 4));
        for b in &order {
            s.push(if (0x20..0x7F).contains(b) {
                *b as char
            } else {
                '.'
            });
        }
        s.push(q);
    }
    s
}

fn arb_screen_frame() -> impl Strategy<Value = Frame> {
    // Screen output knows no FD flags beyond -x's BRS/ESI; FDF is always set on reading.
    crate::frame::arb::frame().prop_map(|f| match f {
        Frame::Fd(fd) => Frame::Fd(
            FdFrame::new(
                fd.id(),
                fd.data(),
                FdFlags::from_bits(
                    fd.flags().bits() & (FdFlags::BRS | FdFlags::ESI) | FdFlags::FDF,
                )
                .unwrap(),
            )
            .unwrap(),
        ),
        other => other,
    })
}

proptest! {
    #[test]
    fn test_written_lines_read_back(
        f in arb_screen_frame(),
        secs in 0u64..4_000_000_000,
        micros in 0u32..1_000_000,
        indent: bool,
        ascii: bool,
        len8: bool,
        swap: bool,
        extra: bool,
        tx: bool,
        iface in "[a-z]{1,6}[0-9]{0,2}",
        pad in 0usize..4,
    ) {
        // Raw DLCs show only with -8; without it candump prints the length.
        let raw_dlc_shown = len8 || !matches!(
            f,
            Frame::Classic(c) if c.raw_dlc().is_some()
        ) && !matches!(f, Frame::Remote(r) if r.raw_dlc().is_some());
        let mut line = format!(" ({secs:010}.{micros:06}) {}{iface}", " ".repeat(pad + 1));
        if extra {
            let (b, e) = match f {
                Frame::Fd(fd) => (fd.flags().brs(), fd.flags().esi()),
                _ => (false, false),
            };
            line.push_str(if tx { "  TX " } else { "  RX " });
            line.push(if b { 'B' } else { '-' });
            line.push(' ');
            line.push(if e { 'E' } else { '-' });
        }
        line.push_str("  ");
        line.push_str(&long_frame(&f, indent, ascii, len8, swap));
        let r = read(&line);
        prop_assert!(r.bad.is_empty(), "{line:?}: {:?}", r.bad);
        prop_assert_eq!(r.records.len(), 1);
        let rec = &r.records[0];
        prop_assert_eq!(rec.timestamp, ts(secs, micros));
        prop_assert_eq!(&rec.interface, &iface);
        let expected = match f {
            Frame::Fd(fd) if !extra => Frame::Fd(FdFrame::new(fd.id(), fd.data(), FdFlags::from_bits(FdFlags::FDF).unwrap()).unwrap()),
            Frame::Classic(c) if !raw_dlc_shown => Frame::classic(c.id(), c.data()).unwrap(),
            Frame::Remote(rf) if !raw_dlc_shown => Frame::Remote(RemoteFrame::new(rf.id(), rf.len()).unwrap()),
            other => other,
        };
        prop_assert_eq!(rec.frame, expected, "{}", line);
        prop_assert_eq!(rec.direction, extra.then_some(if tx { Direction::Tx } else { Direction::Rx }));
    }

    #[test]
    fn test_reader_never_panics(input in proptest::collection::vec(any::<u8>(), 0..2000), cap in 1usize..64) {
        let mut r = Reader::new(BufReader::with_capacity(cap, &input[..])).with_max_line_len(200);
        let mut items = 0u64;
        while let Ok(Some(_)) = r.read_item() {
            items += 1;
        }
        let s = r.stats();
        prop_assert_eq!(items, s.records + s.other + s.skipped + s.bad);
    }

    #[test]
    fn test_reader_never_panics_near_grammar(
        parts in proptest::collection::vec(
            prop_oneof![
                Just(" ".to_string()), Just("  ".to_string()), Just("(".to_string()),
                Just(")".to_string()), Just("000.000001".to_string()),
                Just("2026-01-02 03:04:05.000000".to_string()), Just("can0".to_string()),
                Just("TX".to_string()), Just("B".to_string()), Just("-".to_string()),
                Just("123".to_string()), Just("20000004".to_string()), Just("[8]".to_string()),
                Just("[64]".to_string()), Just("{9}".to_string()), Just("11".to_string()),
                Just("`".to_string()), Just("'".to_string()), Just("ERRORFRAME".to_string()),
                Just("remote request".to_string()), Just("\x1b[1m".to_string()),
                Just("\n".to_string()), Just("\t".to_string()), Just("00010001".to_string()),
            ],
            0..40,
        )
    ) {
        let text = parts.concat();
        let _ = read_with(&text, RelativeTime::Auto);
        let _ = sniff(text.as_bytes());
    }
}

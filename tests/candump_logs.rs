//! Integration tests of the candump log reader and writer over the fixture logs in
//! `tests/data/candump/`: every frame kind, CRLF, padded interfaces, DROPCOUNT and comment
//! lines, bad lines at known line numbers, gzip input detected by its magic bytes.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use canrelearn::frame::{Frame, Id};
use canrelearn::log::candump::{
    Direction, Item, OwnedRecord, ParseErrorKind, Policy, Precision, ReadError, Reader, Stats,
    WriteOptions, Writer,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/candump")
        .join(name)
}

/// A candump reader over a file, named by its path in errors.
fn open_file(path: impl AsRef<std::path::Path>) -> Reader<std::io::BufReader<std::fs::File>> {
    let path = path.as_ref();
    Reader::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("fixture opens"),
    ))
    .with_source_name(path.display().to_string())
}

fn read_all(name: &str) -> (Vec<OwnedRecord>, Stats) {
    let mut r = open_file(fixture(name));
    let mut out = Vec::new();
    while let Some(rec) = r.next_record() {
        out.push(rec.expect("no I/O error").to_owned_record());
    }
    (out, r.stats())
}

#[test]
fn test_canonical_log_reads_and_writes_back_byte_for_byte() {
    let original = std::fs::read(fixture("canonical.log")).unwrap();
    let (records, stats) = read_all("canonical.log");
    assert_eq!(
        stats,
        Stats {
            lines: 18,
            records: 18,
            other_lines: 0,
            bad_lines: 0
        }
    );
    let mut w = Writer::new(Vec::new());
    for r in &records {
        w.write_record(&r.as_record()).unwrap();
    }
    assert_eq!(
        String::from_utf8(w.into_inner()).unwrap(),
        String::from_utf8(original).unwrap()
    );

    let kinds: Vec<&str> = records
        .iter()
        .map(|r| match r.frame {
            Frame::Classic(c) if c.raw_dlc().is_some() => "raw-dlc",
            Frame::Classic(_) => "classic",
            Frame::Fd(_) => "fd",
            Frame::Remote(_) => "remote",
            Frame::Error(_) => "error",
        })
        .collect();
    for kind in ["raw-dlc", "classic", "fd", "remote", "error"] {
        assert!(kinds.contains(&kind), "fixture covers {kind}");
    }
    assert_eq!(records[15].direction, Some(Direction::Rx));
    assert_eq!(records[16].direction, Some(Direction::Tx));
    assert_eq!(records[17].precision, Precision::Nanos);
    assert_eq!(records[17].timestamp.subsec_nanos(), 17_018_123);
    match records[13].frame {
        Frame::Error(e) => assert_eq!((e.class(), e.data()[1]), (0x04, 0x04)),
        f => panic!("{f:?}"),
    }
}

#[test]
fn test_crlf_log() {
    let (records, stats) = read_all("crlf.log");
    assert_eq!(
        stats,
        Stats {
            lines: 5,
            records: 3,
            other_lines: 2,
            bad_lines: 0
        }
    );
    let frames: Vec<String> = records.iter().map(|r| r.frame.to_string()).collect();
    assert_eq!(frames, ["100#01", "101#0203", "102#R"]);
    assert!(records.iter().all(|r| r.interface == "can0"));
}

#[test]
fn test_mixed_log_with_padding_comments_and_dropcount() {
    let mut r = open_file(fixture("mixed.log"));
    let mut others = Vec::new();
    let mut records = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Record(rec) => records.push(rec.to_owned_record()),
            Item::Other(text) => others.push(text.to_owned()),
            Item::Bad(e) => panic!("unexpected bad line: {e}"),
        }
    }
    assert_eq!(
        others,
        [
            "# a hand-written capture: two interfaces, right-aligned names as candump pads them",
            "",
            "DROPCOUNT: dropped 1 CAN frame on 'vcan1' socket (total drops 1)"
        ]
    );
    let ifaces: Vec<&str> = records.iter().map(|r| r.interface.as_str()).collect();
    assert_eq!(
        ifaces,
        ["can0", "vcan1", "can0", "vcan1", "can0", "can0", "can0"]
    );
    assert_eq!(
        records[2].frame.id(),
        Some(Id::extended(0x18DA_F110).unwrap())
    );
    assert_eq!(records[2].direction, Some(Direction::Tx));
    assert_eq!(records[4].frame.data().len(), 12);
    assert_eq!(records[4].timestamp.as_nanos(), 250_000_000);
    assert_eq!(records[5].timestamp.as_nanos(), 500_000_000);
    assert_eq!(records[6].frame.to_string(), "6FF#R3");
    assert_eq!(records[6].timestamp.as_nanos(), 12_500_000_123);
    assert_eq!(r.stats().lines, 10);

    // Written back right-aligned to the longest name, as candump does.
    let mut w = Writer::with_options(
        Vec::new(),
        WriteOptions {
            interface_width: 5,
            ..Default::default()
        },
    );
    w.write_record(&records[0].as_record()).unwrap();
    w.write_record(&records[1].as_record()).unwrap();
    assert_eq!(
        String::from_utf8(w.into_inner()).unwrap(),
        "(0000000000.000000)  can0 7DF#0201000000000000\n\
         (0000000000.010250) vcan1 7E8#064100BE3FA81300\n"
    );
}

#[test]
fn test_bad_lines_report_exact_positions() {
    let path = fixture("bad.log");
    let mut r = open_file(&path);
    let mut bad = Vec::new();
    let mut good_lines = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Bad(e) => bad.push((e.line, e.column, e.kind)),
            Item::Record(rec) => good_lines.push(rec.timestamp.subsec_micros()),
            Item::Other(_) => {}
        }
    }
    assert_eq!(
        bad,
        [
            (2, 30, ParseErrorKind::OddHexDigits),
            (4, 13, ParseErrorKind::FractionDigits(5)),
            (6, 26, ParseErrorKind::IdLength(4)),
            (7, 19, ParseErrorKind::ExpectedCloseParen),
            (8, 32, ParseErrorKind::FdLength(9)),
            (9, 31, ParseErrorKind::RemoteLength(9)),
            (11, 33, ParseErrorKind::TrailingText),
        ]
    );
    assert_eq!(good_lines, [1, 3, 9, 11]);
    assert_eq!(
        r.stats(),
        Stats {
            lines: 12,
            records: 4,
            other_lines: 1,
            bad_lines: 7
        }
    );

    // Strict: the first bad line stops the caller, named by path, line and column.
    let mut r = open_file(&path).with_policy(Policy::Strict);
    assert!(r.next_record().unwrap().is_ok());
    match r.next_record() {
        Some(Err(ReadError::Parse(e))) => assert_eq!(
            e.to_string(),
            format!("{}:2:30: odd number of hex digits", path.display())
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn test_gzip_detected_by_magic_not_extension() {
    let plain = std::fs::read(fixture("canonical.log")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // No .gz extension on purpose.
    let path = dir.path().join("capture.log");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&plain).unwrap();
    enc.finish().unwrap();

    let o = canrelearn::open::open(&path, None, &|| false).unwrap();
    assert!(o.gzip);
    assert_eq!(&*o.name, path.display().to_string());
    let mut r = Reader::new(o.stream).with_source_name(o.name);
    let mut w = Writer::new(Vec::new());
    while let Some(rec) = r.next_record() {
        w.write_record(&rec.unwrap()).unwrap();
    }
    assert_eq!(w.into_inner(), plain);
    assert_eq!(r.stats().records, 18);
    assert_eq!(r.source_name(), Some(path.display().to_string().as_str()));
}

#[test]
fn test_corrupt_gzip_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.log.gz");
    std::fs::write(&path, [0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad]).unwrap();
    // Nothing decompresses: opening reports the damage, as input damage.
    match canrelearn::open::open(&path, None, &|| false) {
        Err(e @ canrelearn::open::OpenError::Read { .. }) => {
            assert!(e.is_input_error(), "{e}");
            assert!(e.to_string().contains("damaged"), "{e}");
        }
        Err(other) => panic!("expected a read error, got {other}"),
        Ok(_) => panic!("opened a corrupt gzip"),
    }
}

#[test]
fn test_open_missing_file_names_the_path() {
    let err =
        match canrelearn::open::open(Path::new("/nonexistent/dir/capture.log"), None, &|| false) {
            Err(e) => e,
            Ok(_) => panic!("opened a missing file"),
        };
    assert!(matches!(err, canrelearn::open::OpenError::NotFound(_)));
    assert_eq!(
        err.to_string(),
        "/nonexistent/dir/capture.log: no such file"
    );
}

#[test]
fn test_gzip_or_plain_through_the_edge() {
    let plain = std::fs::read(fixture("crlf.log")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&plain).unwrap();
    let gz = enc.finish().unwrap();
    for input in [gz, plain.clone()] {
        let path = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(path.path(), &input).unwrap();
        let o = canrelearn::open::open(path.path(), None, &|| false).unwrap();
        let mut r = Reader::new(o.stream);
        while r.read_item().unwrap().is_some() {}
        assert_eq!(r.stats().records, 3);
    }
}

#[test]
fn test_reader_over_plain_bufread_without_open() {
    let text = b"(1.000000) can0 123#11\n(2.000000) can0 456#22\n";
    let mut r = Reader::new(&text[..]);
    let mut n = 0;
    while let Some(rec) = r.next_record() {
        rec.unwrap();
        n += 1;
    }
    assert_eq!(n, 2);
}

/// `canrelearn::open` of `-` reads stdin (gunzipping it too): this test re-runs itself as a child process
/// with a gzip-compressed log piped into its standard input.
#[test]
fn test_open_dash_reads_stdin() {
    if std::env::var_os("CANDUMP_STDIN_CHILD").is_some() {
        let mut r = canrelearn::open::open_reader(Path::new("-"), None, &|| false).unwrap();
        let mut n = 0;
        while let Some(item) = r.read_item().unwrap() {
            if let canrelearn::log::Item::Record(rec) = item {
                n += 1;
                assert!(!rec.interface.is_empty());
            }
        }
        assert_eq!(n, 18);
        assert_eq!(r.stats().records, 18);
        return;
    }
    let plain = std::fs::read(fixture("canonical.log")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&plain).unwrap();
    let gz = enc.finish().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "test_open_dash_reads_stdin", "--test-threads=1"])
        .env("CANDUMP_STDIN_CHILD", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&gz).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}
